"""Create or resume a study in the store and set its budget.

A study is identified by its name. Running a study file whose name exists resumes that
study, provided nothing but the mutable fields (``MUTABLE_FIELDS``) changed; a changed spec
is refused with the list of changed fields, because mixing trials of two different
search spaces in one study would make every later analysis wrong.

No trial is created here: a leaf study gets a budget, and worker slots create its
trials one at a time when they ask for work (:mod:`tunebook.runner.slots`), so that
the sampler can see the trials that finished before.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tunebook.errors import SpecError, StudyExists, TunebookError
from tunebook.records import StudyRecord, StudyTree, TrialRecord, TrialStatus
from tunebook.runner.suggest import warm_sources
from tunebook.runner.worker import study_folder
from tunebook.samplers import GridSampler, make_sampler
from tunebook.space import Params, combo_label
from tunebook.spec import MUTABLE_FIELDS, StudySpec, changed_fields
from tunebook.store import Store


@dataclass(frozen=True)
class PreparedStudy:
    """The study tree, how many trials this call added to its budget, and whether it
    resumed an existing study."""

    tree: StudyTree
    enqueued: int
    resumed: bool
    existing: int = 0
    finished: int = 0

    @property
    def to_run(self) -> int:
        """Trials still to run when the run began: the budget less those finished (a
        trial not yet created counts: trials are made when a worker claims them)."""
        return max(self.budget - self.finished, 0)

    @property
    def study(self) -> StudyRecord:
        return self.tree.root

    @property
    def leaves(self) -> tuple[StudyRecord, ...]:
        return self.tree.leaves

    @property
    def budget(self) -> int:
        return self.tree.budget

    @property
    def over_budget(self) -> bool:
        """The study already has more trials than its (lowered) budget; none was removed."""
        return self.existing > self.budget


def prepare_study(store: Store, spec: StudySpec) -> PreparedStudy:
    """Create the study (and per-value sub-studies) or resume it; set the leaf budgets."""
    snapshot = spec.snapshot()
    warm_sources(store, spec)  # a warm start that cannot work is refused before writing
    existing = store.find_study(spec.name)
    if existing is None:
        try:
            root = store.create_study(spec.name, snapshot, spec.identity_hash(),
                                      leaves=_leaves(spec))
        except StudyExists:  # another run created it a moment ago: resume that one
            existing = store.get_study(spec.name)
        else:
            tree, resumed = store.tree(root), False
    if existing is not None:
        _check_same(existing, spec)
        if existing.spec != snapshot:
            store.update_study(existing.id, spec=snapshot)
        tree, resumed = store.tree(existing), True
    before = tree.budget
    for leaf, budget in zip(tree.leaves, _budgets(spec, tree), strict=True):
        if leaf.budget != budget:
            store.update_study(leaf.id, budget=budget)
    tree = store.tree(store.study_by_id(tree.root.id))  # re-read: the budgets changed
    after = tree.budget
    counts = store.counts(tree.ids) if resumed else {}
    done = sum(n for status, n in counts.items() if status.finished)
    return PreparedStudy(tree, max(after - before, 0), resumed, sum(counts.values()), done)


def retry_study(store: Store, name: str, statuses: Sequence[TrialStatus],
                indices: Sequence[int] | None = None) -> list[TrialRecord]:
    """Re-queue a study's finished trials (e.g. after fixing the trainer's bug).

    The trials keep their params, seed and index, so the study stays the same design;
    each trial's earlier outcome is kept in its warnings. The next ``tunebook run`` (or any
    worker) runs them.
    """
    tree = store.tree(name)
    ids = set(store.retry_trials(tree.ids, statuses, indices))
    return [t for t in store.trials(tree.ids) if t.id in ids]


@dataclass(frozen=True)
class Deleted:
    """What ``delete_study`` removed."""

    study: str
    trials: int
    folders: list[Path]


def delete_study(store: Store, name: str, runs_dir: Path | None = None) -> Deleted:
    """Remove a study with its sub-studies, trials, metric points and checkpoint records;
    with ``runs_dir``, also its trial folders (logs, checkpoints) under it."""
    tree = store.tree(name)
    if tree.root.parent_id is not None and tree.root.combo is not None:
        raise TunebookError(f"{name!r} is a sub-study; delete its study "
                            f"({store.study_by_id(tree.root.parent_id).name}) instead")
    folders = []
    gone = store.delete_study(tree.root.id)
    if runs_dir is not None:
        for name in dict.fromkeys([tree.root.name, *(leaf.name for leaf in tree.leaves)]):
            folder = study_folder(runs_dir, name)
            if folder.is_dir():
                shutil.rmtree(folder)
                folders.append(folder)
    return Deleted(tree.root.name, gone, folders)


def _check_same(existing: StudyRecord, spec: StudySpec) -> None:
    if existing.identity == spec.identity_hash():
        return
    changed = changed_fields(existing.spec, spec.snapshot()) or ["(the spec)"]
    raise SpecError(
        f"study {spec.name!r} already exists with a different spec (changed: "
        f"{', '.join(changed[:8])}). To start a new study, give it a new name (e.g. "
        f"name: {spec.name}-v2); to resume the old one, restore those fields. Only "
        f"{', '.join(MUTABLE_FIELDS)} may change between runs",
        path=str(spec.path) if spec.path else None, field="name")


def _leaves(spec: StudySpec) -> list[tuple[str, Params]]:
    """The per-value sub-studies (name, scientific values); none in joint mode."""
    if not spec.per_value:
        return []
    return [(f"{spec.name}[{combo_label(combo).replace(', ', ',')}]", combo)
            for combo in spec.space.combos()]


def _budgets(spec: StudySpec, tree: StudyTree) -> list[int]:
    """Each leaf's share of the trial budget; a grid caps it at its number of cells."""
    sampler = make_sampler(spec.model.sampler, spec.source_dir)
    out = []
    for leaf, share in zip(tree.leaves, spec.shares(len(tree.leaves)), strict=True):
        if isinstance(sampler, GridSampler):
            combos = [leaf.combo] if leaf.combo is not None else spec.space.combos()
            share = min(share, sampler.size(spec.space, combos))
        out.append(share)
    return out
