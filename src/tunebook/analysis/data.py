"""Everything the analysis needs about a study, loaded once with a few aggregate queries."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from tunebook.records import Objective, StudyRecord, StudyTree, TrialRecord, TrialStatus
from tunebook.space import Params
from tunebook.spec import StudySpec, study_spec
from tunebook.store import Store

Series = list[tuple[int, float]]


@dataclass(frozen=True)
class StudyData:
    """A study, its spec, every trial (sub-studies included) and their study names."""

    study: StudyRecord
    spec: StudySpec
    trials: list[TrialRecord]
    names: dict[int, str] = field(default_factory=dict)

    @property
    def objective(self) -> Objective:
        return self.spec.objective

    @property
    def metric(self) -> str:
        return self.objective.metric

    @property
    def minimize(self) -> bool:
        return self.objective.minimize

    def completed(self, trials: Sequence[TrialRecord] | None = None) -> list[TrialRecord]:
        """Completed trials with a finite objective, best first."""
        pool = self.trials if trials is None else trials
        done = [t for t in pool if t.status is TrialStatus.COMPLETED and t.value is not None
                and math.isfinite(t.value)]
        sign = self.objective.sign()
        return sorted(done, key=lambda t: sign * float(t.value or 0.0))

    def combos(self) -> list[Params]:
        return self.spec.space.combos() or [{}]

    def of_combo(self, combo: Params) -> list[TrialRecord]:
        return [t for t in self.trials if all(t.params.get(k) == v for k, v in combo.items())]

    def label(self, trial: TrialRecord) -> str:
        return f"{self.names.get(trial.study_id, self.study.name)}/{trial.index}"


def load_study(store: Store, study: str | StudyTree) -> StudyData:
    """A study (by name or tree) and all its trials: one query for the tree, one for trials."""
    tree = store.tree(study) if isinstance(study, str) else study
    return StudyData(tree.root, study_spec(tree.root), store.trials(tree.ids), tree.names)


def downsample(series: Series, max_points: int) -> Series:
    """At most ``max_points`` points, keeping each bucket's extremes, the first and the last.

    Plain striding would hide exactly what matters in a training curve: spikes.
    """
    if len(series) <= max_points or max_points < 4:
        return list(series)
    buckets = max_points // 2 - 1
    size = len(series) / buckets
    keep = {0, len(series) - 1}
    for b in range(buckets):
        chunk = range(int(b * size), max(int((b + 1) * size), int(b * size) + 1))
        finite = [i for i in chunk if math.isfinite(series[i][1])]
        if len(finite) < len(chunk):  # a NaN/Inf is itself an extreme worth seeing
            keep.update(i for i in chunk if not math.isfinite(series[i][1]))
        if finite:
            keep.add(min(finite, key=lambda i: series[i][1]))
            keep.add(max(finite, key=lambda i: series[i][1]))
    return [series[i] for i in sorted(keep)]


def load_series(store: Store, trial_ids: Sequence[int], names: Sequence[str] | None = None,
                max_points: int = 400) -> dict[tuple[int, str], Series]:
    """Metric series of a few trials, by (trial id, metric), downsampled."""
    raw = store.metric_points(trial_ids, names)
    return {key: downsample(series, max_points) for key, series in raw.items()}
