"""What the dashboard has computed, kept until the study changes.

A study's version is two aggregate queries (counts by status, latest trial event), so a
page that polls costs milliseconds; the report and the trial list are recomputed only
when the version moved. One lock per study: two browsers asking at once compute once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tunebook.analysis.importance import Importances, importances
from tunebook.analysis.report import StudyReport, study_report
from tunebook.records import StudyTree, TrialRecord, TrialStatus
from tunebook.store import Store

T = TypeVar("T")
Version = tuple[Any, ...]


def version_of(counts: Mapping[TrialStatus, int], last_update: float | None) -> Version:
    """A study's version from its counts by status and its latest trial event."""
    return (*(counts[s] for s in TrialStatus), last_update)


@dataclass
class _Entry:
    lock: threading.RLock = field(default_factory=threading.RLock)
    values: dict[str, tuple[Version, Any]] = field(default_factory=dict)
    computing: Version | None = None  # the version whose importance a thread computes


class StudyCache:
    """Per-study results keyed by the study's version (thread-safe)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._entries: dict[str, _Entry] = {}
        self._guard = threading.Lock()

    def version(self, tree: StudyTree) -> Version:
        return version_of(self.store.counts(tree.ids), self.store.last_update(tree.ids))

    def _entry(self, name: str) -> _Entry:
        with self._guard:
            return self._entries.setdefault(name, _Entry())

    def get(self, name: str, kind: str, build: Callable[[StudyTree], T]) -> tuple[Version, T]:
        """``build(tree)`` for the study's current version, computed at most once.

        While another request rebuilds it, an older result is returned at once rather
        than waited for (a 100,000-trial study takes seconds to analyse); with no older
        result, the request waits for the new one.
        """
        tree = self.store.tree(name)
        version = self.version(tree)
        entry = self._entry(tree.root.name)
        stale = entry.values.get(kind)
        if stale is not None and not entry.lock.acquire(blocking=False):
            return stale
        if stale is not None:
            entry.lock.release()
        with entry.lock:
            cached = entry.values.get(kind)
            if cached is None or cached[0] != version:
                cached = (version, build(tree))
                entry.values[kind] = cached
        return cached

    def report(self, name: str) -> StudyReport:
        """The study's report without its parameter importance (see :meth:`importance`)."""
        return self.get(name, "report", lambda tree: study_report(
            self.store, tree.root.name, importance=False))[1]

    def importance(self, name: str, *, start: bool = True) -> Importances | None:
        """The study's parameter importance for its current version, or None while it is
        computed in a background thread (started here once per version, unless ``start``
        is False: the live poll only asks whether it is ready): the forest's refits take
        seconds on a big study, and no page waits for them. The thread reads the cached
        report, so it starts its work once the page's own request has built it."""
        tree = self.store.tree(name)
        version = self.version(tree)
        entry = self._entry(tree.root.name)
        with self._guard:
            done = entry.values.get("importance")
            if done is not None and done[0] == version:
                return done[1]  # type: ignore[no-any-return]
            if entry.computing == version or not start:
                return None
            entry.computing = version

        def compute() -> None:
            result = importances(self.report(name).data)
            with self._guard:
                entry.values["importance"] = (version, result)
                if entry.computing == version:
                    entry.computing = None

        threading.Thread(target=compute, name=f"importance-{name}", daemon=True).start()
        return None

    def trials(self, name: str) -> list[TrialRecord]:
        """Every trial of the study: the report's own (read once for both, at 100,000
        trials a load is seconds)."""
        return self.report(name).data.trials
