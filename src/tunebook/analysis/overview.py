"""Study-level lookups shared by the CLI and (later) the dashboard."""

from __future__ import annotations

from dataclasses import dataclass

from tunebook.errors import StudyNotFound
from tunebook.records import (
    Objective,
    StudyRecord,
    StudyTree,
    Tally,
    TrialRecord,
    TrialStatus,
)
from tunebook.spec import study_spec
from tunebook.store import Store, tally


@dataclass(frozen=True)
class StudyOverview:
    """A top-level study with its trial counts (sub-studies summed) and best value."""

    tree: StudyTree
    objective: Objective
    mode: str
    tally: Tally

    @property
    def counts(self) -> dict[TrialStatus, int]:
        return self.tally.counts

    @property
    def best(self) -> float | None:
        return self.tally.best

    @property
    def study(self) -> StudyRecord:
        return self.tree.root

    @property
    def to_run(self) -> int:
        """Trials left to run: the queued ones and the budget not yet used (a trial is
        created when a worker claims it)."""
        return self.counts[TrialStatus.QUEUED] + self.tally.total - self.tally.trials


def overview(store: Store, tree: StudyTree) -> StudyOverview:
    """One study's counts and best value (two aggregate queries)."""
    spec = study_spec(tree.root)
    return StudyOverview(tree, spec.objective, spec.model.mode,
                         tally(store, tree, spec.objective.goal))


def study_overview(store: Store) -> list[StudyOverview]:
    """Every top-level study, oldest first, with aggregate counts."""
    return [overview(store, tree) for tree in store.trees()]


def find_trial(store: Store, address: str) -> tuple[StudyRecord, TrialRecord]:
    """Resolve ``STUDY/INDEX`` (a per-value sub-study name works as STUDY too)."""
    name, sep, index_text = address.rpartition("/")
    if not sep or not index_text.isdigit():
        raise StudyNotFound(f"{address!r} is not STUDY/INDEX; e.g. digits-activation/7")
    tree = store.tree(name)
    if tree.split:
        names = ", ".join(leaf.name for leaf in tree.leaves)
        raise StudyNotFound(f"{name!r} runs one sub-study per value; address a trial as "
                            f"SUBSTUDY/INDEX with one of: {names}")
    trial = store.get_trial(tree.root.id, int(index_text))
    if trial is None:
        raise StudyNotFound(f"study {name!r} has no trial {index_text}")
    return tree.root, trial
