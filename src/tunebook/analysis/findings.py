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

from dataclasses import dataclass, field
from enum import Enum


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


@dataclass(frozen=True)
class Finding:
    """One checklist answer.

    Attributes:
        question: the playbook's question.
        verdict: see the module docstring.
        summary: what the evidence shows, with its numbers.
        next_step: the concrete action, or "" when none is needed.
        evidence: the report section that shows the evidence (an anchor name).
        details: one line per part of the finding.
        numbers: the statistics behind the verdict, by name, so a user can disagree.
    """

    question: str
    verdict: Verdict
    summary: str
    next_step: str = ""
    evidence: str = ""
    details: tuple[str, ...] = field(default_factory=tuple)
    numbers: dict[str, float] = field(default_factory=dict)


def sentence(text: str) -> str:
    """Capitalise the first letter only (names such as Adam keep their case) and end it."""
    return f"{text[:1].upper()}{text[1:]}." if text else ""
