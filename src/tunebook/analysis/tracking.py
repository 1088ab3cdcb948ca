"""The playbook's tracking sheet (§4.4): one row per study, from the store."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass

from tunebook.analysis.overview import overview
from tunebook.records import StudyRecord, TrialStatus
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


def reproduce_command(spec: StudySpec, store: Store | None = None,
                      study: StudyRecord | None = None) -> str:
    """The command that makes (or finishes) this study: ``tunebook run FILE`` for a study
    of its own file; for a study an autopilot ran, that autopilot; for a re-run or round-2
    child, the command that made it from its parent (``tunebook run`` of the file would
    make the parent, not the child)."""
    source = shlex.quote(str(spec.path or spec.source_dir / "study.yaml"))
    if store is None or study is None:
        return f"tunebook run {source}"
    pilot = next((d for d in reversed(store.decisions()) if d.study == study.name), None)
    if pilot is not None:
        return f"tunebook autopilot {source} --budget {pilot.budget:g}"
    if not study.derived or study.parent_id is None:
        return f"tunebook run {source}"
    parent = store.study_by_id(study.parent_id)
    before, after = study_spec(parent).model.max_steps, spec.model.max_steps
    name = shlex.quote(study.name)
    if before and after and after != before:
        return (f"tunebook round2 {shlex.quote(parent.name)} --steps-factor "
                f"{after / before:g} --name {name}")
    return f"tunebook rerun {shlex.quote(parent.name)} --name {name}"


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
            command=reproduce_command(spec, store, tree.root),
            config=json.dumps(spec.config(), sort_keys=True)))
    order = {name: i for i, name in enumerate(dict.fromkeys(r.experiment for r in rows))}
    return sorted(rows, key=lambda r: (r.experiment is None, order[r.experiment]))
