"""Persistent state: studies, trials, metric points, checkpoints (see :class:`Store`).

The records live in :mod:`tunebook.records`; this package holds the storage contract
(:mod:`tunebook.store.base`) and its backends. The SQL backend (and with it SQLAlchemy)
is imported on first use, so analysis code that only needs the protocol and the records
loads no database library.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from tunebook.records import StudyTree, Tally
from tunebook.store.base import Store
from tunebook.store.memory import MemoryStore

if TYPE_CHECKING:
    from tunebook.store.sql import SQLStore, open_store


def __getattr__(name: str) -> Any:
    if name in ("SQLStore", "open_store"):
        return getattr(importlib.import_module("tunebook.store.sql"), name)
    raise AttributeError(f"module 'tunebook.store' has no attribute {name!r}")


__all__ = ["MemoryStore", "SQLStore", "Store", "open_store", "tally"]


def tally(store: Store, tree: StudyTree, goal: str) -> Tally:
    """A study's :class:`~tunebook.records.Tally` from two aggregate queries."""
    counts = store.counts(tree.ids)
    return Tally(tree.root.name, max(tree.budget, sum(counts.values())), counts,
                 store.best_value(tree.ids, goal))
