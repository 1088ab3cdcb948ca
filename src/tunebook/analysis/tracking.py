"""The playbook's tracking sheet (§4.4): one row per study, from the store."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass

from tunebook.analysis.overview import overview
from tunebook.records import TrialStatus
from tunebook.spec import StudySpec, study_spec
from tunebook.store import Store


@dataclass(frozen=True)
class TrackingRow:
    """Experiment, name, config, description, number of trials, best value, command to
    reproduce."""

    experiment: str | None
    name: str
    description: str
    trials: int
    completed: int
    metric: str
    goal: str
    best: float | None
    command: str
    config: str


def reproduce_command(spec: StudySpec) -> str:
    source = spec.path or spec.source_dir / "study.yaml"
    return f"tunebook run {shlex.quote(str(source))}"


def tracking_rows(store: Store, names: list[str] | None = None,
                  experiment: str | None = None) -> list[TrackingRow]:
    """Rows for the given studies, or every top-level study in the store (only those of
    ``experiment`` when given), grouped by experiment, oldest first within each."""
    trees = [store.tree(n) for n in names] if names else store.trees()
    rows = []
    for tree in trees:
        seen = overview(store, tree)
        spec = study_spec(tree.root)
        if experiment is not None and spec.model.experiment != experiment:
            continue
        rows.append(TrackingRow(
            experiment=spec.model.experiment, name=tree.root.name,
            description=spec.model.description,
            trials=sum(seen.counts.values()), completed=seen.counts[TrialStatus.COMPLETED],
            metric=seen.objective.metric, goal=seen.objective.goal, best=seen.best,
            command=reproduce_command(spec), config=json.dumps(spec.config(), sort_keys=True)))
    order = {name: i for i, name in enumerate(dict.fromkeys(r.experiment for r in rows))}
    return sorted(rows, key=lambda r: (r.experiment is None, order[r.experiment]))
