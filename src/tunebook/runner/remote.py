"""``tunebook worker``: pull queued trials from a shared database, on any machine.

Start as many workers as you like, on as many machines as share the database (PostgreSQL
for more than one machine). Claims are atomic, so no trial runs twice; each worker re-queues
trials whose worker went silent, and gives up on a trial after ``max_attempts``.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tunebook.errors import TunebookError
from tunebook.runner.plan import PlanSource
from tunebook.runner.worker import Slot, TrialBudget, WorkerConfig, worker_is_dead
from tunebook.runner.zygote import zygote_for
from tunebook.store import Store, TrialStatus

MAX_ATTEMPTS = 3
#: A running trial whose heartbeat is older than this is considered lost.
HEARTBEAT_TIMEOUT_S = 60.0
SWEEP_S = 10.0


@dataclass(frozen=True)
class WorkerOptions:
    """How a worker process runs (the CLI flags of ``tunebook worker``)."""

    runs_dir: Path
    workers: int = 1
    devices: tuple[str, ...] = ()
    max_trials: int | None = None
    wait: bool = False
    heartbeat_timeout_s: float = HEARTBEAT_TIMEOUT_S
    max_attempts: int = MAX_ATTEMPTS


def _study_ids(store: Store, names: Sequence[str]) -> list[int] | None:
    if not names:
        return None
    ids = []
    for name in names:
        study = store.get_study(name)
        ids += [c.id for c in store.children(study.id)] or [study.id]
    return ids


def _preload(store: Store, ids: list[int] | None) -> tuple[list[str], list[str]]:
    """Trainer modules and their folders of the studies with queued trials."""
    studies = [s for s in store.list_studies() if ids is None or s.id in ids]
    modules, folders = [], []
    for study in studies:
        train = (study.spec.get("trainer") or {}).get("train")
        if train and store.counts([study.id])[TrialStatus.QUEUED]:
            modules.append(str(train).partition(":")[0])
            folders.append(str(study.spec.get("source_dir", ".")))
    return sorted(set(modules)), sorted(set(folders))


def run_worker(store: Store, studies: Sequence[str], options: WorkerOptions) -> int:
    """Run slots until the queue is empty (or forever with ``wait``); trials finished."""
    slots_n = len(options.devices) or options.workers
    if slots_n < 1:
        raise TunebookError(f"--workers must be at least 1, got {options.workers}")
    ids = _study_ids(store, studies)
    modules, folders = _preload(store, ids)
    sys.path[:0] = [f for f in folders if f not in sys.path]  # the zygote inherits it
    launcher = zygote_for(modules)
    config = WorkerConfig(options.runs_dir, launcher)
    stop = threading.Event()
    budget = TrialBudget(options.max_trials) if options.max_trials is not None else None
    done = [0]
    lock = threading.Lock()

    def finished(*_: object) -> None:
        with lock:
            done[0] += 1

    slots = [Slot(store, ids, PlanSource(store), config, i, stop, on_finish=finished,
                  env={"CUDA_VISIBLE_DEVICES": options.devices[i]} if options.devices else None,
                  budget=budget, wait=options.wait) for i in range(slots_n)]
    sweep(store, ids, options)
    for slot in slots:
        slot.start()
    every = min(SWEEP_S, options.heartbeat_timeout_s / 2)
    try:
        last = time.monotonic()
        while any(slot.is_alive() for slot in slots):
            time.sleep(0.25)
            if time.monotonic() - last > every:
                sweep(store, ids, options)
                last = time.monotonic()
    except KeyboardInterrupt:
        stop.set()
        for slot in slots:
            slot.join()
    errors = [slot.error for slot in slots if slot.error is not None]
    if errors:
        raise errors[0]
    return done[0]


def sweep(store: Store, ids: list[int] | None, options: WorkerOptions) -> list[int]:
    """Re-queue (or give up on) trials whose worker is dead or silent."""
    return store.requeue_stale(ids, timeout_s=options.heartbeat_timeout_s,
                               is_dead=worker_is_dead, max_attempts=options.max_attempts)
