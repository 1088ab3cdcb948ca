"""The isolation view: the best trial per scientific value, nuisance optimised away.

The playbook (§2.4) compares scientific values by their best trials after tuning the
nuisance parameters for each value separately; comparing single runs at one shared
nuisance setting would confound the scientific effect with the tuning.
"""

from __future__ import annotations

from dataclasses import dataclass

from tunebook.space import Params
from tunebook.spec import spec_from_dict
from tunebook.store import Store, StudyRecord, TrialRecord, TrialStatus


@dataclass(frozen=True)
class ValueBest:
    """One scientific combination: its trials and its best completed trial."""

    combo: Params
    trials: int
    completed: int
    infeasible: int
    failed: int
    best: TrialRecord | None

    @property
    def label(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.combo.items()) or "(all)"


def study_trials(store: Store, study: StudyRecord) -> list[TrialRecord]:
    """Every trial of a study, its per-value sub-studies included."""
    leaves = store.children(study.id) or [study]
    return store.trials([leaf.id for leaf in leaves])


def best_per_value(store: Store, study: StudyRecord) -> list[ValueBest]:
    """One row per scientific combination, in declaration order."""
    spec = spec_from_dict({k: v for k, v in study.spec.items() if k != "source_dir"})
    minimize = spec.model.objective.goal == "minimize"
    trials = study_trials(store, study)
    rows = []
    for combo in spec.space.combos() or [{}]:
        mine = [t for t in trials if all(t.params.get(k) == v for k, v in combo.items())]
        done = [t for t in mine if t.status is TrialStatus.COMPLETED and t.value is not None]
        best = (min if minimize else max)(done, key=lambda t: t.value or 0.0) if done else None
        rows.append(ValueBest(
            combo=combo, trials=len(mine), completed=len(done),
            infeasible=sum(t.status is TrialStatus.INFEASIBLE for t in mine),
            failed=sum(t.status is TrialStatus.FAILED for t in mine), best=best))
    return rows
