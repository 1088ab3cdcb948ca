"""Plain, frozen records that cross every boundary (data apart from behaviour).

No SQLAlchemy and no I/O here: analysis, samplers and renderers import these without
loading a database driver, and an in-memory store builds the same records as the SQL one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import Any, Literal

from tunebook.space import Params

Goal = Literal["minimize", "maximize"]
#: A metric's ``(step, value)`` points.
Curve = Sequence[tuple[int, float]]
Select = Literal["best", "last"]


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
class Objective:
    """What a study optimises: one metric, a direction, and which reported value counts.

    ``select="best"`` takes the best value a trial reported (the playbook picks the best
    checkpoint retrospectively, §4.3); ``"last"`` takes its final value.
    """

    metric: str
    goal: Goal = "minimize"
    select: Select = "best"

    @property
    def minimize(self) -> bool:
        return self.goal == "minimize"

    def sign(self) -> float:
        """+1 when smaller is better, -1 otherwise: ``sorted(key=sign * value)`` ranks."""
        return 1.0 if self.minimize else -1.0


@dataclass(frozen=True)
class StudyRecord:
    """A study as stored: a frozen spec snapshot, a name, a round, a parent and a budget.

    ``spec`` is the JSON snapshot of the study file; read it through
    :func:`tunebook.spec.study_spec`, never by key. ``budget`` is how many trials this
    (leaf) study may create; ``None`` for a parent whose trials live in sub-studies.
    """

    id: int
    name: str
    spec: dict[str, Any]
    identity: str
    round: int = 1
    parent_id: int | None = None
    combo: Params | None = None
    created_at: float = 0.0
    budget: int | None = None

    @property
    def derived(self) -> bool:
        """A later-round child (``tunebook rerun``, ``tunebook round2``): it re-trains
        configurations chosen from its parent, unlike a per-value leaf (which has a combo)."""
        return self.parent_id is not None and self.combo is None


@dataclass(frozen=True)
class TrialRecord:
    """One trial: its params are durable before any training starts.

    ``suggested`` is False for a trial whose index is reserved but whose params the
    sampler has not chosen yet (``params`` is then empty); whoever claims it suggests them.
    """

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
    suggested: bool = True
    code: str | None = None
    devices: str | None = None


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


@dataclass(frozen=True)
class BaselineRecord:
    """One version of a named baseline configuration; versions are never overwritten.

    A version comes from ``tunebook baseline set`` (``source`` names the file) or from a
    launch (``study`` names the study whose evidence adopted a scientific value;
    ``evidence`` holds that evidence as plain JSON, ``forced`` whether a blocker was
    overridden).
    """

    id: int
    name: str
    version: int
    config: dict[str, Any]
    created_at: float
    author: str
    why: str = ""
    source: str = ""
    study: str | None = None
    evidence: dict[str, Any] | None = None
    forced: bool = False

    @property
    def launch(self) -> bool:
        """True for a version adopted by ``tunebook launch``."""
        return self.study is not None


class DecisionState(str, Enum):
    """Where an autopilot decision stands: ``made`` (acted on), ``proposed`` (waiting for
    ``tunebook autopilot approve|reject``), then ``approved`` or ``rejected``.

    Persisted by value; add-only.
    """

    MADE = "made"
    PROPOSED = "proposed"
    APPROVED = "approved"
    REJECTED = "rejected"

    @property
    def acted(self) -> bool:
        """The autopilot acts (or acted) on it."""
        return self in (DecisionState.MADE, DecisionState.APPROVED)


#: The key of a decision's ``stats`` that holds what acting on it needs (a spec snapshot,
#: the trials to enqueue, the settings), apart from the evidence a person reads.
MACHINERY = "machinery"
#: The machinery's keys in decisions stored before it had a key of its own.
_LEGACY_MACHINERY = {"spec", "description", "parent", "approve", "baseline", "round2",
                     "budget", "seconds", "workers", "factor", "config", "reasons"}


class Phase(StrEnum):
    """Where an autopilot is in the playbook's loop (persisted by value; add-only).

    The transitions between phases are one table,
    :data:`tunebook.workflows._pilot_machine.TRANSITIONS`; a stop keeps the phase it
    stopped in.
    """

    START = "start"
    EXPLORE = "explore"
    FIX = "fix"
    EXPLOIT = "exploit"
    SETTLE = "settle"
    DECIDE = "decide"
    ROUND2 = "round2"
    DONE = "done"
    STOP = "stop"


class Action(StrEnum):
    """What an autopilot decision does (persisted by value; add-only).

    ``start`` and ``budget`` record the settings; ``run`` runs (or resumes, or extends) a
    study, ``child`` makes and runs a child study (seed re-runs, round 2), ``launch``
    changes the baseline; ``skip`` and ``not_yet`` do nothing but say why; ``stop`` halts
    the autopilot until its cause is fixed; ``done`` ends it.
    """

    START = "start"
    BUDGET = "budget"
    RUN = "run"
    CHILD = "child"
    SKIP = "skip"
    LAUNCH = "launch"
    NOT_YET = "not_yet"
    STOP = "stop"
    DONE = "done"

    @property
    def asks(self) -> bool:
        """It spends budget or changes the baseline: ``--approve`` asks first."""
        return self in (Action.RUN, Action.CHILD, Action.LAUNCH)

    @property
    def settings(self) -> bool:
        """It records the autopilot's settings, not a step of the loop."""
        return self in (Action.START, Action.BUDGET)


@dataclass(frozen=True)
class DecisionRecord:
    """One decision of an autopilot, as stored: the timeline ``autopilot status`` shows.

    Attributes:
        pilot: the autopilot's name (its study file's study name).
        seq: its place in the timeline, from 0; unique per pilot, so two autopilots
            driving one study cannot both write the next decision.
        phase: see :class:`Phase`.
        action: what it does, see :class:`Action`.
        summary: what, in a line; why: the reason, in words.
        stats: the statistic behind it (plain JSON numbers and words).
        study: the study it runs or reads, if any.
        spent, budget: trainings spent when it was made, and the total allowed.
        state: see :class:`DecisionState`; note: the reviewer's words on it.
    """

    id: int
    pilot: str
    seq: int
    phase: Phase
    action: Action
    summary: str
    why: str
    stats: dict[str, Any]
    study: str | None
    spent: float
    budget: float
    state: DecisionState
    note: str = ""
    created_at: float = 0.0

    @property
    def left(self) -> float:
        return self.budget - self.spent

    @property
    def evidence(self) -> dict[str, Any]:
        """The statistic a person reads: ``stats`` without the machinery acting on the
        decision needs (kept under :data:`MACHINERY`)."""
        drop = {MACHINERY} if MACHINERY in self.stats else _LEGACY_MACHINERY
        return {k: v for k, v in self.stats.items() if k not in drop}


@dataclass(frozen=True)
class Tally:
    """A study's trials counted by status, with its best value: the one summary the
    progress bar, ``tunebook status`` and the dashboard all show.

    Attributes:
        name: the study.
        total: its budget, or its number of trials when it has more.
        counts: trials by status (every status present).
        best: the best objective value of a completed trial.
    """

    name: str
    total: int
    counts: dict[TrialStatus, int]
    best: float | None

    @property
    def done(self) -> int:
        """Finished trials (completed, infeasible, failed or pruned)."""
        return sum(n for status, n in self.counts.items() if status.finished)

    @property
    def trials(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class StudyTree:
    """A study and the leaf studies that hold its trials.

    A ``per_value`` study keeps its trials in one sub-study per scientific value; any
    other study is its own single leaf. Everything that lists, counts or runs trials takes
    the leaves from here instead of re-deriving them.
    """

    root: StudyRecord
    leaves: tuple[StudyRecord, ...]

    @property
    def ids(self) -> list[int]:
        return [leaf.id for leaf in self.leaves]

    @property
    def names(self) -> dict[int, str]:
        """Leaf (and root) names by study id, for labelling trials."""
        return {self.root.id: self.root.name, **{leaf.id: leaf.name for leaf in self.leaves}}

    @property
    def budget(self) -> int:
        """Trials the leaves are set to hold in all (a leaf without a budget counts 0)."""
        return sum(leaf.budget or 0 for leaf in self.leaves)

    @property
    def split(self) -> bool:
        """True when the trials live in sub-studies (``per_value`` mode)."""
        return self.leaves != (self.root,)

    def leaf(self, study_id: int) -> StudyRecord:
        for leaf in self.leaves:
            if leaf.id == study_id:
                return leaf
        raise KeyError(study_id)


def config_key(params: Params) -> str:
    """One configuration's identity: equal params, whatever their order (seed re-runs of a
    configuration share it)."""
    return repr(sorted(params.items()))


def distinct_configs(ranked: Sequence[TrialRecord]) -> list[TrialRecord]:
    """The first trial of each distinct configuration, in ``ranked``'s order."""
    seen: set[str] = set()
    out = []
    for t in ranked:
        key = config_key(t.params)
        if key not in seen:
            seen.add(key)
            out.append(t)
    return out


def trial_seed(study_seed: int, index: int) -> int:
    """A trial's seed: a pure function of the study seed and the trial index."""
    import numpy as np  # lazily: records stay cheap to import

    return int(np.random.SeedSequence([study_seed, index]).generate_state(1)[0] & 0x7FFFFFFF)


def best_until(curve: Curve, step: float, objective: Objective) -> float | None:
    """The best finite value a curve reached by ``step`` (None before its first point):
    what pruning compares trials by, and what the pruning-safety check ranks them by."""
    seen = [v for s, v in curve if s <= step and math.isfinite(v)]
    if not seen:
        return None
    return min(seen) if objective.minimize else max(seen)
