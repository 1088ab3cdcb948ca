"""What a recorded autopilot decision needs to be acted on, typed, apart from the evidence
a person reads.

A decision's ``stats`` hold its *evidence* (numbers and words the timeline shows) at the
top level and its *machinery* under one key, ``machinery``: the spec snapshot to run,
the trials to enqueue, the value to launch, the settings. :func:`payload_of` reads the
machinery back as one of the typed payloads below, so acting on a decision reads fields,
never keys spelled in two places. Decisions stored before the split kept both at the top
level; they are read the same way (:attr:`~tunebook.records.DecisionRecord.evidence`
leaves the machinery out of either).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from tunebook.records import MACHINERY, Action, DecisionRecord, Phase
from tunebook.space import Params


@dataclass(frozen=True)
class Settings:
    """The autopilot's settings: recorded at the start, and again when a resume changes
    them. ``spec`` is the study file as it began (only in the start decision)."""

    budget: float | None
    seconds: float | None
    workers: int
    round2: float | None
    approve: bool
    baseline: str
    spec: dict[str, Any] | None = None


@dataclass(frozen=True)
class RunStudy:
    """Run (or resume, or extend) the study this snapshot describes."""

    spec: dict[str, Any]


@dataclass(frozen=True)
class SeedRuns:
    """Make (or extend) the child of ``parent`` holding exactly ``trials`` (index,
    configuration, seed), and run it."""

    parent: str
    trials: list[tuple[int, Params, int]]
    seeds: int
    description: str


@dataclass(frozen=True)
class LongerRun:
    """Round 2: the leaders of ``parent`` trained ``factor``× longer."""

    parent: str
    factor: float


@dataclass(frozen=True)
class Adopt:
    """Launch ``value`` into the baseline, or (no scientific question) ``config``."""

    value: str | None = None
    config: Params | None = None


Payload = Settings | RunStudy | SeedRuns | LongerRun | Adopt


def as_stats(evidence: Mapping[str, Any], payload: Payload | None) -> dict[str, Any]:
    """A decision's ``stats`` as stored: the evidence, and the payload under its key."""
    out = dict(evidence)
    if payload is not None:
        out[MACHINERY] = asdict(payload)
    return out


def payload_of(record: DecisionRecord) -> Payload | None:
    """The typed machinery of a stored decision (None for one that acts on nothing)."""
    m = record.stats.get(MACHINERY, record.stats)
    action = Action(record.action)
    if action.settings:
        return Settings(m.get("budget"), m.get("seconds"), int(m.get("workers") or 1),
                        m.get("round2"), bool(m.get("approve")),
                        str(m.get("baseline") or "main"), m.get("spec"))
    if action is Action.RUN:
        return RunStudy(dict(m["spec"]))
    if action is Action.CHILD and Phase(record.phase) is Phase.ROUND2:
        return LongerRun(str(m["parent"]), float(m["factor"]))
    if action is Action.CHILD:
        return SeedRuns(str(m["parent"]), [(int(i), dict(p), int(s)) for i, p, s in m["trials"]],
                        int(m.get("seeds") or 0), str(m.get("description") or ""))
    if action is Action.LAUNCH:
        return Adopt(m.get("value"), m.get("config"))
    return None
