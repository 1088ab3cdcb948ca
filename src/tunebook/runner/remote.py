"""``tunebook worker``: run trials of a shared database, on any machine.

Start as many workers as you like, on as many machines as share the database (PostgreSQL
for more than one machine). They run the same slot loop as ``tunebook run``: claims and
index reservations are atomic, so no trial runs twice; lost trials are re-queued by the
store's policy, and a trial is given up after ``max_attempts``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from tunebook.records import StudyRecord, TrialStatus
from tunebook.runner.plan import PlanSource
from tunebook.runner.slots import LoopResult, SlotOptions, run_slots
from tunebook.runner.zygote import LocalExecutor
from tunebook.spec import study_spec
from tunebook.store import Store


@dataclasses.dataclass(frozen=True)
class WorkerOptions:
    """How a worker process runs (the CLI flags of ``tunebook worker``)."""

    slots: SlotOptions
    devices: tuple[str, ...] = ()


def _scope(store: Store, names: Sequence[str]) -> list[StudyRecord]:
    """The leaf studies a worker serves: those of the named studies, or every leaf."""
    if names:
        return [leaf for name in names for leaf in store.tree(name).leaves]
    studies = store.list_studies()
    split = {s.parent_id for s in studies if s.combo is not None}  # roots of per-value trees
    return [s for s in studies if s.id not in split]


def _has_work(store: Store, leaf: StudyRecord) -> bool:
    counts = store.counts([leaf.id])
    return counts[TrialStatus.QUEUED] > 0 or (leaf.budget or 0) > sum(counts.values())


def _preload(store: Store, leaves: Sequence[StudyRecord]) -> tuple[list[str], list[str]]:
    """Trainer modules, and their folders, of the studies that have work left."""
    modules, folders = set(), set()
    for leaf in leaves:
        spec = study_spec(leaf)
        ref = spec.model.trainer.ref
        if ref is not None and _has_work(store, leaf):
            modules.add(ref.module)
            folders.add(str(spec.source_dir))
    return sorted(modules), sorted(folders)


def run_worker(store: Store, studies: Sequence[str], options: WorkerOptions) -> LoopResult:
    """Run slots until there is no work (or forever with ``wait``, or a signal)."""
    slots = options.slots
    if options.devices:
        slots = dataclasses.replace(slots, slots=len(options.devices), env=[
            {"CUDA_VISIBLE_DEVICES": device} for device in options.devices])
    slots.check()
    leaves = _scope(store, studies)
    ids = [leaf.id for leaf in leaves] if studies else None
    executor = LocalExecutor(*_preload(store, leaves))
    return run_slots(store, ids, PlanSource(store), executor, slots)
