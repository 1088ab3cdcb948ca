"""What a run reports while it goes: done/total, running, failures, best (plain data).

The runner calls a callback with a :class:`Progress`; whoever started the run draws it
(the CLI's rich bar in :mod:`tunebook.report.console`, a dashboard, a notebook).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tunebook.records import Objective, StudyTree, TrialStatus
from tunebook.store import Store


@dataclass(frozen=True)
class Progress:
    """A study's state during a run, from two aggregate queries."""

    name: str
    total: int
    counts: dict[TrialStatus, int]
    best: float | None

    @property
    def done(self) -> int:
        return sum(n for status, n in self.counts.items() if status.finished)


ProgressCallback = Callable[[Progress], None]


def progress_of(store: Store, tree: StudyTree, objective: Objective) -> Progress:
    """Counts and best value of a study's trials; the total is its budget (or more)."""
    counts = store.counts(tree.ids)
    return Progress(tree.root.name, max(tree.budget, sum(counts.values())), counts,
                    store.best_value(tree.ids, objective.goal))
