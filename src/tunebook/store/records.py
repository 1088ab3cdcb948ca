"""Plain records that cross the store boundary (data apart from behaviour)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from tunebook.space import Params


class TrialStatus(str, Enum):
    """A trial's lifecycle: ``queued → running → completed | infeasible | failed | pruned``.

    Persisted by value; add-only.
    """

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    INFEASIBLE = "infeasible"
    FAILED = "failed"
    PRUNED = "pruned"

    @property
    def finished(self) -> bool:
        return self not in (TrialStatus.QUEUED, TrialStatus.RUNNING)


@dataclass(frozen=True)
class StudyRecord:
    """A study as stored: a frozen spec snapshot, a name, a round and a parent."""

    id: int
    name: str
    spec: dict[str, Any]
    identity: str
    round: int = 1
    parent_id: int | None = None
    combo: Params | None = None
    created_at: float = 0.0

    @property
    def objective(self) -> dict[str, Any]:
        return dict(self.spec.get("objective", {}))


@dataclass(frozen=True)
class TrialRecord:
    """One trial: its params are durable before any training starts."""

    id: int
    study_id: int
    index: int
    params: Params
    seed: int
    status: TrialStatus
    reason: str | None = None
    worker: str | None = None
    attempts: int = 0
    heartbeat_at: float | None = None
    created_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    value: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class MetricPoint:
    """One reported value of one metric at one step."""

    step: int
    name: str
    value: float
    time: float


@dataclass(frozen=True)
class CheckpointRecord:
    """A checkpoint file a trial wrote, and whether it is still kept."""

    id: int
    trial_id: int
    step: int
    path: str
    value: float | None
    kept: bool
