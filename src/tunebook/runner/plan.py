"""A study as a worker needs it: rebuilt from the frozen spec stored with the study.

Workers never read the study file: they rebuild the spec from the snapshot in the store
(:func:`tunebook.spec.study_spec`), so a worker on another machine (or after the file was
edited) runs exactly the study that was created.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tunebook import trainer
from tunebook.records import Objective, StudyRecord, TrialRecord
from tunebook.samplers import Sampler, make_sampler
from tunebook.space import Params, ParamValue
from tunebook.spec import StudySpec, study_spec
from tunebook.store import Store


@dataclass(frozen=True)
class StudyPlan:
    """One runnable (leaf) study: its record, its spec, its sampler."""

    study: StudyRecord
    spec: StudySpec
    sampler: Sampler = field(compare=False)

    @classmethod
    def from_record(cls, study: StudyRecord) -> StudyPlan:
        spec = study_spec(study)
        return cls(study, spec, make_sampler(spec.model.sampler, spec.source_dir))

    @property
    def source_dir(self) -> str:
        return str(self.spec.source_dir)

    @property
    def objective(self) -> Objective:
        return self.spec.objective

    @property
    def combos(self) -> list[Params]:
        """The scientific combinations this leaf serves (one for a per-value sub-study)."""
        return [self.study.combo] if self.study.combo is not None else self.spec.space.combos()

    def plain_params(self, trial: TrialRecord) -> dict[str, ParamValue]:
        return self.spec.space.plain(trial.params)

    def command_for(self, trial: TrialRecord, checkpoint_dir: Path) -> list[str] | None:
        template = self.spec.model.trainer.command
        if template is None:
            return None
        return trainer.render_command(template, {
            **self.plain_params(trial), "trial_index": trial.index, "seed": trial.seed,
            "checkpoint_dir": str(checkpoint_dir)})


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
