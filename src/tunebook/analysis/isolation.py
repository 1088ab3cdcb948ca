"""The isolation view: the best trial per scientific value, nuisance optimised away.

The playbook (§2.4) compares scientific values by their best trials after tuning the
nuisance parameters for each value separately; comparing single runs at one shared
nuisance setting would confound the scientific effect with the tuning. The spread of the
top-k trials shows how sharp that best is.
"""

from __future__ import annotations

from dataclasses import dataclass

from tunebook.analysis.data import StudyData, load_study
from tunebook.records import StudyTree, TrialRecord, TrialStatus
from tunebook.space import Params, combo_label
from tunebook.store import Store

TOP_K = 3


@dataclass(frozen=True)
class ValueBest:
    """One scientific combination: its trials, its best trial, and its top-k values."""

    combo: Params
    trials: int
    completed: int
    infeasible: int
    failed: int
    best: TrialRecord | None
    top_values: tuple[float, ...] = ()

    @property
    def label(self) -> str:
        return combo_label(self.combo)

    @property
    def spread(self) -> float | None:
        """Range of the top-k objective values (None with fewer than two)."""
        if len(self.top_values) < 2:
            return None
        return max(self.top_values) - min(self.top_values)


def isolation(data: StudyData, k: int = TOP_K) -> list[ValueBest]:
    """One row per scientific combination, in declaration order."""
    rows = []
    for combo in data.combos():
        mine = data.of_combo(combo)
        ranked = data.completed(mine)
        rows.append(ValueBest(
            combo=combo, trials=len(mine), completed=len(ranked),
            infeasible=sum(t.status is TrialStatus.INFEASIBLE for t in mine),
            failed=sum(t.status is TrialStatus.FAILED for t in mine),
            best=ranked[0] if ranked else None,
            top_values=tuple(float(t.value or 0.0) for t in ranked[:k])))
    return rows


def best_per_value(store: Store, tree: StudyTree) -> list[ValueBest]:
    """:func:`isolation` of a stored study."""
    return isolation(load_study(store, tree))
