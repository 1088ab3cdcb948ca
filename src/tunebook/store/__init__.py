"""Persistent state: studies, trials, metric points, checkpoints (see :class:`Store`).

The records themselves live in :mod:`tunebook.records` (no SQLAlchemy); this package holds
the storage contract (:mod:`tunebook.store.base`) and its backends.
"""

from tunebook.store.base import Store
from tunebook.store.memory import MemoryStore
from tunebook.store.sql import SQLStore, open_store

__all__ = ["MemoryStore", "SQLStore", "Store", "open_store"]
