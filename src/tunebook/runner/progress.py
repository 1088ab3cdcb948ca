"""What a run reports while it goes: done/total, running, failures, best (plain data).

The runner calls a callback with a :class:`Progress`; whoever started the run draws it
(the CLI's rich bar in :mod:`tunebook.report.console`, a dashboard, a notebook).
"""

from __future__ import annotations

from collections.abc import Callable

from tunebook.records import Objective, StudyTree, Tally
from tunebook.store import Store, tally

#: A study's state during a run (see :class:`~tunebook.records.Tally`).
Progress = Tally

ProgressCallback = Callable[[Progress], None]


def progress_of(store: Store, tree: StudyTree, objective: Objective) -> Progress:
    """Counts and best value of a study's trials; the total is its budget (or more)."""
    return tally(store, tree, objective.goal)
