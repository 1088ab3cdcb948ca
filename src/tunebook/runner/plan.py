"""A study as a worker needs it: rebuilt from the frozen spec stored with the study.

Workers never read the study file: they rebuild the spec from the snapshot in the store,
so a worker on another machine (or after the file was edited) runs exactly the study
that was created.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunebook.space import ParamValue
from tunebook.spec import LOCATION_FIELDS, StudySpec, spec_from_dict
from tunebook.store import Store
from tunebook.store.records import StudyRecord, TrialRecord


@dataclass(frozen=True)
class StudyPlan:
    """One runnable (leaf) study: its record, its spec, and where its code lives."""

    study: StudyRecord
    spec: StudySpec
    source_dir: str

    @classmethod
    def from_record(cls, study: StudyRecord) -> StudyPlan:
        snapshot = {k: v for k, v in study.spec.items() if k not in LOCATION_FIELDS}
        return cls(study, spec_from_dict(snapshot), str(study.spec.get("source_dir", ".")))

    @property
    def objective(self) -> dict[str, Any]:
        return self.spec.model.objective.model_dump()

    def plain_params(self, trial: TrialRecord) -> dict[str, ParamValue]:
        return self.spec.space.plain(trial.params)

    def command_for(self, trial: TrialRecord, checkpoint_dir: Path) -> str | None:
        template = self.spec.model.trainer.command
        if template is None:
            return None
        values = {**self.plain_params(trial), "trial_index": trial.index, "seed": trial.seed,
                  "checkpoint_dir": str(checkpoint_dir)}
        return string.Formatter().vformat(template, (), _Blank(values))


class _Blank(dict[str, Any]):
    """Placeholders of conditional parameters inactive for this trial format as ''."""

    def __missing__(self, key: str) -> str:
        return ""


class PlanSource:
    """Plans by study id, rebuilt from the store on first use and then cached.

    A worker serving every study meets studies created after it started; it looks each one
    up the first time it claims one of its trials.
    """

    def __init__(self, store: Store, known: Mapping[int, StudyRecord] | None = None):
        self.store = store
        self._plans = {sid: StudyPlan.from_record(s) for sid, s in (known or {}).items()}

    def __call__(self, study_id: int) -> StudyPlan:
        if study_id not in self._plans:
            self._plans[study_id] = StudyPlan.from_record(self.store.study_by_id(study_id))
        return self._plans[study_id]
