"""The isolation view: the best trial per scientific value, nuisance optimised away.

The playbook (§2.4) compares scientific values by their best trials after tuning the
nuisance parameters for each value separately; comparing single runs at one shared
nuisance setting would confound the scientific effect with the tuning. Whether a gap is
real is judged against the spread of the best configuration re-run with other seeds when
the study holds such re-runs (the playbook's yardstick), else against the spread of the
top-k trials (which mixes seed noise with the nuisance settings' effect).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from tunebook.analysis.data import StudyData, load_study
from tunebook.records import (
    StudyTree,
    TrialRecord,
    TrialStatus,
    config_key,
    distinct_configs,
)
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
    seed_values: tuple[float, ...] = ()

    @property
    def label(self) -> str:
        return combo_label(self.combo)

    @property
    def spread_source(self) -> str:
        """``seeds`` when the best configuration was re-run with other seeds, else ``top-k``."""
        return "seeds" if len(self.seed_values) >= 2 else "top-k"

    @property
    def center(self) -> float | None:
        """The value compared between scientific values: the mean over the seed re-runs of
        the best configuration when there are some (the best single trial is the luckiest
        of many draws), else the best trial's value."""
        if len(self.seed_values) >= 2:
            return sum(self.seed_values) / len(self.seed_values)
        return None if self.best is None else float(self.best.value or 0.0)

    @property
    def spread_values(self) -> tuple[float, ...]:
        """The values the spread is taken over (seed re-runs, else the top-k)."""
        return self.seed_values if self.spread_source == "seeds" else self.top_values

    @property
    def spread(self) -> float | None:
        """Range of the seed re-runs of the best configuration, else of the top-k values
        (None with fewer than two)."""
        return _range(self.spread_values)

    @property
    def top_spread(self) -> float | None:
        """Range of the top-k values: how sharply tuning resolved this value's best."""
        return _range(self.top_values)


def _range(values: tuple[float, ...]) -> float | None:
    return max(values) - min(values) if len(values) >= 2 else None


def isolation(data: StudyData, k: int = TOP_K) -> list[ValueBest]:
    """One row per scientific combination, in declaration order."""
    rows = []
    for combo in data.combos():
        mine = data.of_combo(combo)
        ranked = data.completed(mine)
        seeds = best_config(ranked, data.objective.sign())
        rows.append(ValueBest(
            combo=combo, trials=len(mine), completed=len(ranked),
            infeasible=sum(t.status is TrialStatus.INFEASIBLE for t in mine),
            failed=sum(t.status is TrialStatus.FAILED for t in mine),
            best=seeds[0] if seeds else None,
            top_values=tuple(float(t.value or 0.0) for t in distinct_configs(ranked)[:k]),
            seed_values=tuple(float(t.value or 0.0) for t in seeds)))
    return rows


def best_config(ranked: Sequence[TrialRecord], sign: float) -> list[TrialRecord]:
    """The trials (best first) of the configuration that stands for a scientific value.

    In a sampled study, the best trial's configuration. In a study of re-runs over seeds
    (at least half of its configurations trained twice or more, as ``tunebook rerun``
    makes them), the configuration with the best **mean** over its seeds: taking the one
    that holds the single best draw would bring back the luck the re-runs are there to
    remove (``rerun --top 3``: the luckiest of nine draws, not the best of three means).
    """
    if not ranked:
        return []
    groups: dict[str, list[TrialRecord]] = {}
    for t in ranked:
        groups.setdefault(config_key(t.params), []).append(t)
    repeated = [g for g in groups.values() if len(g) >= 2]
    if 2 * len(repeated) < len(groups):  # a sampled study
        return groups[config_key(ranked[0].params)]
    return min(repeated, key=lambda g: sign * statistics.fmean(float(t.value or 0.0)
                                                               for t in g))


def ranked(rows: Sequence[ValueBest], minimize: bool) -> list[ValueBest]:
    """The values with a result, best first by :attr:`ValueBest.center`: the one order in
    which the conclusion and a launch compare scientific values."""
    sign = 1.0 if minimize else -1.0
    return sorted((r for r in rows if r.best is not None and r.center is not None),
                  key=lambda r: sign * (r.center or 0.0))


def best_per_value(store: Store, tree: StudyTree) -> list[ValueBest]:
    """:func:`isolation` of a stored study."""
    return isolation(load_study(store, tree))

