"""A checklist answer as plain data: the question, a verdict, the evidence, the next step.

Verdict levels follow the strength of the evidence (docs/checklist.md):

- ``ok``: the question was answerable and nothing beyond the noise was found;
- ``warn``: an effect larger than the study's own noise, seen in enough of the best trials
  to act on (a user may still disagree: the numbers are in :attr:`Finding.numbers`);
- ``fail``: evidence so strong that a conclusion drawn from this study would be wrong or
  unsupported (it blocks the report's conclusion);
- ``unknown``: the data needed to answer was not reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Literal, TypeAlias, TypeVar

from tunebook.space import ParamRef


class Verdict(str, Enum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    UNKNOWN = "unknown"

    @property
    def mark(self) -> str:
        return {"ok": "✓", "warn": "⚠", "fail": "✗", "unknown": "?"}[self.value]

    @property
    def rank(self) -> int:
        return {"unknown": 0, "ok": 0, "warn": 1, "fail": 2}[self.value]


def worst(verdicts: list[Verdict], default: Verdict = Verdict.OK) -> Verdict:
    """The strongest verdict of several parts of one check."""
    return max(verdicts, key=lambda v: v.rank, default=default)


class Check(str, Enum):
    """The checklist's items: a stable identifier each (persisted by value, add-only), so
    that ``next``, a launch and the autopilot find an answer by what it is, not by the
    words of its question."""

    SEARCH_SPACE = "search_space"
    SAMPLING = "sampling"
    INFEASIBLE = "infeasible"
    OPTIMISATION = "optimisation"
    CURVES = "curves"
    PRUNING = "pruning"

    @property
    def question(self) -> str:
        """The playbook's question, as the report asks it."""
        return _QUESTIONS[self]


_QUESTIONS = {
    Check.SEARCH_SPACE: "Is the search space big enough?",
    Check.SAMPLING: "Were enough points sampled?",
    Check.INFEASIBLE: "How many trials are infeasible, and where?",
    Check.OPTIMISATION: "Are there optimisation problems?",
    Check.CURVES: "What do the best trials' curves say?",
    Check.PRUNING: "Would stopping trials early (pruning) be safe here?",
}

Side: TypeAlias = Literal["lower", "upper"]


@dataclass(frozen=True)
class CrowdedEdge:
    """The best trials crowd one edge of a searched range (the search-space check).

    Attributes:
        param: the parameter, as the study file names it.
        edge: which end of its range.
        bound: the bound now; ``widen_to``: one step further out.
        hits: how many of the ``best`` trials sit in the edge band.
        p: the chance of that many or more if the parameter did not matter.
        trend_p: one-sided p of the objective improving toward the edge.
    """

    param: ParamRef
    edge: Side
    bound: float
    widen_to: float
    hits: int
    best: int
    p: float
    trend_p: float


@dataclass(frozen=True)
class InfeasibleEdge:
    """Infeasible trials sit beyond ``feasible_bound`` on one side of a range."""

    param: ParamRef
    edge: Side
    bound: float
    feasible_bound: float


@dataclass(frozen=True)
class MoreTrials:
    """The sampling check asks for ``budget`` trials in all: ``short`` when there are too
    few points per value to read the space at all, else because twice the trials would
    likely find a point better by more than the noise (a search still paying off)."""

    budget: int
    short: bool = True


@dataclass(frozen=True)
class StillImproving:
    """The best curves of ``value`` still improve at the end: ``gain`` with 2× steps."""

    value: str
    trials: int
    gain: float


S = TypeVar("S", CrowdedEdge, InfeasibleEdge, MoreTrials, StillImproving)

#: What a finding may be about, as data (the text is rendered from it).
Subject: TypeAlias = CrowdedEdge | InfeasibleEdge | MoreTrials | StillImproving


@dataclass(frozen=True)
class Finding:
    """One checklist answer.

    Attributes:
        check: which checklist item (its :attr:`question` is the playbook's question).
        verdict: see the module docstring.
        summary: what the evidence shows, with its numbers.
        next_step: the concrete action, or "" when none is needed.
        evidence: the report section that shows the evidence (an anchor name).
        details: one line per part of the finding.
        numbers: the statistics behind the verdict, by name, so a user can disagree.
        subjects: what it found, as typed data (a crowded bound, an infeasible edge, ...):
            what ``next`` and the autopilot act on.
    """

    check: Check
    verdict: Verdict
    summary: str
    next_step: str = ""
    evidence: str = ""
    details: tuple[str, ...] = field(default_factory=tuple)
    numbers: dict[str, float] = field(default_factory=dict)
    subjects: tuple[Subject, ...] = field(default_factory=tuple)

    @property
    def question(self) -> str:
        return self.check.question

    def about(self, kind: type[S]) -> list[S]:
        """The subjects of one kind (e.g. every :class:`CrowdedEdge`)."""
        return [s for s in self.subjects if isinstance(s, kind)]


def find(findings: Sequence[Finding], check: Check) -> Finding | None:
    """The answer to one checklist item, if it was asked."""
    return next((f for f in findings if f.check is check), None)


def sentence(text: str) -> str:
    """Capitalise the first letter only (names such as Adam keep their case) and end it."""
    return f"{text[:1].upper()}{text[1:]}." if text else ""
