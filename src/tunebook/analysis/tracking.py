"""The playbook's tracking sheet (§4.4): one row per study, from the store."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass

from tunebook.analysis.overview import leaf_ids
from tunebook.store import Store, StudyRecord, TrialStatus


@dataclass(frozen=True)
class TrackingRow:
    """Name, config, description, number of trials, best value, command to reproduce."""

    name: str
    description: str
    trials: int
    completed: int
    metric: str
    goal: str
    best: float | None
    command: str
    config: str


def reproduce_command(study: StudyRecord) -> str:
    source = study.spec.get("source_file") or f"{study.spec.get('source_dir', '.')}/study.yaml"
    return f"tunebook run {shlex.quote(str(source))}"


def tracking_rows(store: Store, names: list[str] | None = None) -> list[TrackingRow]:
    """Rows for the given studies, or every top-level study in the store."""
    studies = ([store.get_study(n) for n in names] if names else
               [s for s in store.list_studies() if s.parent_id is None])
    rows = []
    for study in studies:
        ids = leaf_ids(store, study)
        counts = store.counts(ids)
        objective = study.objective
        config = {k: v for k, v in study.spec.items() if k not in ("source_dir", "source_file")}
        rows.append(TrackingRow(
            name=study.name, description=str(study.spec.get("description", "")),
            trials=sum(counts.values()), completed=counts[TrialStatus.COMPLETED],
            metric=str(objective.get("metric", "")), goal=str(objective.get("goal", "")),
            best=store.best_value(ids, str(objective.get("goal", "minimize"))),
            command=reproduce_command(study), config=json.dumps(config, sort_keys=True)))
    return rows
