"""An in-memory store: the same contract as the SQL store, for one process.

It makes analysis tests fast and file-free, lets notebooks build a study by hand, and is
run through the same conformance suite as SQLite and PostgreSQL so that it cannot drift.
One lock guards everything, so its operations are atomic across threads.
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from tunebook.errors import StaleClaim, StudyExists, StudyNotFound
from tunebook.records import (
    Action,
    BaselineRecord,
    CheckpointRecord,
    DecisionRecord,
    DecisionState,
    MetricPoint,
    Phase,
    StudyRecord,
    TrialRecord,
    TrialStatus,
)
from tunebook.space import Params
from tunebook.store.base import (
    Point,
    Store,
    lost_because,
    lost_trial_update,
    pick_reservation,
    retry_update,
)


class MemoryStore(Store):
    """Studies, trials, metric points and checkpoints in dictionaries of this process."""

    def __init__(self) -> None:
        self.url = f"memory://{id(self):x}"
        self._lock = threading.RLock()
        self._studies: dict[int, StudyRecord] = {}
        self._trials: dict[int, TrialRecord] = {}
        self._points: dict[int, dict[tuple[str, int], tuple[float, float]]] = {}
        self._checkpoints: dict[int, CheckpointRecord] = {}
        self._baselines: list[BaselineRecord] = []
        self._decisions: list[DecisionRecord] = []
        self._ids = itertools.count(1)

    def close(self) -> None:
        """Nothing to release: the data lives as long as the object."""

    # -- studies -------------------------------------------------------------------------

    def create_study(self, name: str, spec: dict[str, Any], identity: str, *,
                     round: int = 1, parent_id: int | None = None,
                     combo: Params | None = None, budget: int | None = None,
                     leaves: Sequence[tuple[str, Params]] = ()) -> StudyRecord:
        with self._lock:
            names = [name, *(leaf for leaf, _ in leaves)]
            if any(self.find_study(n) is not None for n in names):
                raise StudyExists(f"a study named {name!r} already exists in {self.url}")
            study = StudyRecord(next(self._ids), name, spec, identity, round, parent_id, combo,
                                time.time(), budget)
            self._studies[study.id] = study
            for leaf_name, leaf_combo in leaves:
                leaf = StudyRecord(next(self._ids), leaf_name, spec, identity, round, study.id,
                                   leaf_combo, study.created_at)
                self._studies[leaf.id] = leaf
            return study

    def find_study(self, name: str) -> StudyRecord | None:
        with self._lock:
            return next((s for s in self._studies.values() if s.name == name), None)

    def study_by_id(self, study_id: int) -> StudyRecord:
        with self._lock:
            if study_id not in self._studies:
                raise StudyNotFound(f"no study with id {study_id} in {self.url}")
            return self._studies[study_id]

    def list_studies(self) -> list[StudyRecord]:
        with self._lock:
            return sorted(self._studies.values(), key=lambda s: s.id)

    def children(self, study_id: int) -> list[StudyRecord]:
        return [s for s in self.list_studies() if s.parent_id == study_id]

    def update_study(self, study_id: int, *, spec: dict[str, Any] | None = None,
                     budget: int | None = None) -> None:
        with self._lock:
            study = self.study_by_id(study_id)
            self._studies[study_id] = dataclasses.replace(
                study, spec=study.spec if spec is None else spec,
                budget=study.budget if budget is None else budget)

    # -- trials --------------------------------------------------------------------------

    def _of(self, study_ids: Sequence[int] | None) -> list[TrialRecord]:
        pool = self._trials.values()
        chosen = pool if study_ids is None else [t for t in pool if t.study_id in study_ids]
        return sorted(chosen, key=lambda t: (t.study_id, t.index))

    def _new_trial(self, study_id: int, index: int, params: Params | None, seed: int,
                   **fields: Any) -> TrialRecord:
        trial = TrialRecord(id=next(self._ids), study_id=study_id, index=index,
                            params=dict(params or {}), seed=seed, created_at=time.time(),
                            suggested=params is not None, **fields)
        self._trials[trial.id] = trial
        self._points[trial.id] = {}
        return trial

    def enqueue(self, study_id: int, new: Iterable[tuple[int, Params, int]]) -> int:
        with self._lock:
            have = {t.index for t in self._of([study_id])}
            added = 0
            for index, params, seed in new:
                if index not in have:
                    self._new_trial(study_id, index, params, seed, status=TrialStatus.QUEUED)
                    have.add(index)
                    added += 1
            return added

    def claim(self, worker: str, study_ids: Sequence[int] | None = None) -> TrialRecord | None:
        with self._lock:
            queued = [t for t in self._of(study_ids) if t.status is TrialStatus.QUEUED]
            if not queued:
                return None
            first = min(queued, key=lambda t: (t.index, t.id))
            now = time.time()
            return self._put(first, status=TrialStatus.RUNNING, worker=worker, heartbeat_at=now,
                             started_at=now, attempts=first.attempts + 1, reason=None)

    def reserve(self, worker: str, study_ids: Sequence[int] | None = None,
                ) -> TrialRecord | None:
        with self._lock:
            rows = []
            for study in self.list_studies():
                if study.budget is not None and (study_ids is None or study.id in study_ids):
                    rows.append((study.id, len(self._of([study.id])), study.budget))
            for study_id in pick_reservation(rows):
                indices = [t.index for t in self._of([study_id])]
                now = time.time()
                return self._new_trial(study_id, max(indices, default=-1) + 1, None, 0,
                                       status=TrialStatus.RUNNING, worker=worker, attempts=1,
                                       heartbeat_at=now, started_at=now)
            return None

    def _put(self, trial: TrialRecord, **changes: Any) -> TrialRecord:
        self._trials[trial.id] = updated = dataclasses.replace(trial, **changes)
        return updated

    def _owned(self, trial_id: int, attempt: int) -> TrialRecord | None:
        trial = self._trials.get(trial_id)
        if trial is None or trial.attempts != attempt or trial.status is not TrialStatus.RUNNING:
            return None
        return trial

    def _mine(self, trial_id: int, attempt: int) -> TrialRecord:
        trial = self._owned(trial_id, attempt)
        if trial is None:
            raise StaleClaim(f"trial {trial_id} attempt {attempt} is no longer running here")
        return trial

    def set_params(self, trial_id: int, attempt: int, params: Params, seed: int) -> TrialRecord:
        with self._lock:
            return self._put(self._mine(trial_id, attempt), params=dict(params), seed=seed,
                             suggested=True)

    def heartbeat(self, trial_id: int, attempt: int) -> None:
        with self._lock:
            self._put(self._mine(trial_id, attempt), heartbeat_at=time.time())

    def finish(self, trial_id: int, attempt: int, status: TrialStatus, *,
               value: float | None = None, reason: str | None = None,
               metrics: dict[str, float] | None = None, code: str | None = None,
               devices: str | None = None) -> None:
        if not status.finished:
            raise ValueError(f"finish() needs a final status, got {status.value}")
        with self._lock:
            trial = self._owned(trial_id, attempt)
            if trial is not None:
                self._put(trial, status=status, value=value, reason=reason,
                          metrics=dict(metrics or {}), code=code, devices=devices,
                          finished_at=time.time())
                return
            now = self._trials.get(trial_id)
            if now is not None and now.status is status and now.attempts == attempt:
                return  # the same finish, retried
        raise StaleClaim(f"trial {trial_id} attempt {attempt} was re-queued or re-claimed; "
                         "its result is not recorded")

    def add_warning(self, trial_id: int, text: str) -> None:
        with self._lock:
            trial = self._trials[trial_id]
            if text not in trial.warnings:
                self._put(trial, warnings=[*trial.warnings, text])

    def release(self, trial_id: int, attempt: int, reason: str) -> bool:
        with self._lock:
            trial = self._owned(trial_id, attempt)
            if trial is None:
                return False
            self._put(trial, status=TrialStatus.QUEUED, worker=None, reason=reason)
            return True

    def _lose(self, trial: TrialRecord, why: str, max_attempts: int | None) -> None:
        values = lost_trial_update(trial.attempts, trial.warnings, why, max_attempts,
                                   time.time())
        values["status"] = TrialStatus(values["status"])
        self._put(trial, **values)

    def requeue_stale(self, study_ids: Sequence[int] | None, *, timeout_s: float,
                      is_dead: Callable[[str], bool] = lambda worker: False,
                      is_ours: Callable[[str], bool] = lambda worker: False,
                      max_attempts: int | None = None) -> list[int]:
        cutoff = time.time() - timeout_s
        with self._lock:
            lost = []
            for trial in self._of(study_ids):
                if trial.status is not TrialStatus.RUNNING:
                    continue
                why = lost_because(trial.attempts, trial.worker, trial.heartbeat_at, cutoff,
                                   is_dead, is_ours)
                if why is not None:
                    self._lose(trial, why, max_attempts)
                    lost.append(trial.id)
            return lost

    def lose(self, trial_id: int, attempt: int, why: str, *,
             max_attempts: int | None = None) -> bool:
        with self._lock:
            trial = self._owned(trial_id, attempt)
            if trial is None:
                return False
            self._lose(trial, why, max_attempts)
            return True

    def retry_trials(self, study_ids: Sequence[int], statuses: Sequence[TrialStatus],
                     indices: Sequence[int] | None = None) -> list[int]:
        with self._lock:
            chosen = [t for t in self._of(study_ids) if t.status in statuses
                      and (indices is None or t.index in indices)]
            for trial in chosen:
                values = retry_update(trial.attempts, trial.status, trial.reason, trial.warnings)
                values["status"] = TrialStatus(values["status"])
                self._put(trial, **values)
            return [t.id for t in chosen]

    def delete_study(self, study_id: int) -> int:
        with self._lock:
            ids, frontier = {study_id}, [study_id]
            while frontier:  # sub-studies and later rounds, to any depth
                found = [s.id for sid in frontier for s in self.children(sid)]
                frontier = [i for i in found if i not in ids]
                ids.update(frontier)
            doomed = [t.id for t in self._trials.values() if t.study_id in ids]
            for trial_id in doomed:
                del self._trials[trial_id]
                self._points.pop(trial_id, None)
            for key in [k for k, c in self._checkpoints.items() if c.trial_id in doomed]:
                del self._checkpoints[key]
            for sid in ids:
                self._studies.pop(sid, None)
            return len(doomed)

    def trials(self, study_ids: Sequence[int], status: TrialStatus | None = None,
               ) -> list[TrialRecord]:
        with self._lock:
            return [t for t in self._of(study_ids) if status is None or t.status is status]

    def get_trial(self, study_id: int, index: int) -> TrialRecord | None:
        return next((t for t in self.trials([study_id]) if t.index == index), None)

    def trial_by_id(self, trial_id: int) -> TrialRecord:
        with self._lock:
            return self._trials[trial_id]

    def counts(self, study_ids: Sequence[int]) -> dict[TrialStatus, int]:
        found = self.trials(study_ids)
        return {s: sum(t.status is s for t in found) for s in TrialStatus}

    def last_update(self, study_ids: Sequence[int]) -> float | None:
        times = [t for trial in self.trials(study_ids) for t in (
            trial.created_at, trial.started_at, trial.heartbeat_at, trial.finished_at)
                 if t is not None]
        return max(times) if times else None

    def best_value(self, study_ids: Sequence[int], goal: str) -> float | None:
        values = [t.value for t in self.trials(study_ids, TrialStatus.COMPLETED)
                  if t.value is not None]
        if not values:
            return None
        return min(values) if goal == "minimize" else max(values)

    # -- metrics and checkpoints ---------------------------------------------------------

    def report_metrics(self, trial_id: int, points: Sequence[Point]) -> None:
        with self._lock:
            series = self._points[trial_id]
            for step, name, value, t in points:
                series[(name, step)] = (float(value), t)

    def metric_history(self, trial_id: int, name: str | None = None) -> list[MetricPoint]:
        with self._lock:
            items = sorted(self._points.get(trial_id, {}).items())
        return [MetricPoint(step, n, value, t)
                for (n, step), (value, t) in items if name is None or n == name]

    def metric_points(self, trial_ids: Sequence[int], names: Sequence[str] | None = None,
                      ) -> dict[tuple[int, str], list[tuple[int, float]]]:
        out: dict[tuple[int, str], list[tuple[int, float]]] = {}
        for trial_id in sorted(trial_ids):
            for p in self.metric_history(trial_id):
                if names is None or p.name in names:
                    out.setdefault((trial_id, p.name), []).append((p.step, p.value))
        return out

    def final_metrics(self, trial_id: int) -> dict[str, float]:
        return {p.name: p.value for p in self.metric_history(trial_id)}  # ordered by step

    def add_checkpoint(self, trial_id: int, step: int, path: str,
                       value: float | None = None) -> int:
        with self._lock:
            record = CheckpointRecord(next(self._ids), trial_id, step, path, value, True)
            self._checkpoints[record.id] = record
            return record.id

    def drop_checkpoint(self, checkpoint_id: int) -> None:
        with self._lock:
            record = self._checkpoints[checkpoint_id]
            self._checkpoints[checkpoint_id] = dataclasses.replace(record, kept=False)

    def checkpoints(self, trial_id: int) -> list[CheckpointRecord]:
        with self._lock:
            return sorted((c for c in self._checkpoints.values() if c.trial_id == trial_id),
                          key=lambda c: c.step)

    # -- baselines -----------------------------------------------------------------------

    def add_baseline(self, name: str, config: dict[str, Any], *, author: str, why: str = "",
                     source: str = "", study: str | None = None,
                     evidence: dict[str, Any] | None = None,
                     forced: bool = False) -> BaselineRecord:
        with self._lock:
            version = 1 + max((b.version for b in self._baselines if b.name == name),
                              default=0)
            record = BaselineRecord(next(self._ids), name, version, dict(config), time.time(),
                                    author, why, source, study, evidence, forced)
            self._baselines.append(record)
            return record

    def baselines(self, name: str | None = None) -> list[BaselineRecord]:
        with self._lock:
            return [b for b in self._baselines if name is None or b.name == name]

    # -- autopilot decisions -------------------------------------------------------------

    def add_decision(self, pilot: str, seq: int, *, phase: str, action: str, summary: str,
                     why: str, stats: dict[str, Any], study: str | None, spent: float,
                     budget: float, state: DecisionState) -> DecisionRecord:
        with self._lock:
            if any(d.pilot == pilot and d.seq == seq for d in self._decisions):
                raise StaleClaim(f"decision {seq} of autopilot {pilot!r} was written by "
                                 "another autopilot")
            record = DecisionRecord(next(self._ids), pilot, seq, Phase(phase), Action(action),
                                    summary, why,
                                    dict(stats), study, spent, budget, state, "",
                                    time.time())
            self._decisions.append(record)
            return record

    def decisions(self, pilot: str | None = None) -> list[DecisionRecord]:
        with self._lock:
            return sorted((d for d in self._decisions if pilot is None or d.pilot == pilot),
                          key=lambda d: d.id if pilot is None else d.seq)

    def resolve_decision(self, decision_id: int, state: DecisionState, note: str = "",
                         ) -> bool:
        with self._lock:
            for i, d in enumerate(self._decisions):
                if d.id == decision_id and d.state is DecisionState.PROPOSED:
                    self._decisions[i] = dataclasses.replace(d, state=state, note=note)
                    return True
            return False
