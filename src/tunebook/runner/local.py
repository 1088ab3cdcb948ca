"""``tunebook run``: prepare a study and run its trials with N local worker slots."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from tunebook.errors import TunebookError
from tunebook.runner.plan import PlanSource
from tunebook.runner.progress import RunProgress
from tunebook.runner.remote import HEARTBEAT_TIMEOUT_S, MAX_ATTEMPTS
from tunebook.runner.study import PreparedStudy, prepare_study
from tunebook.runner.worker import Slot, WorkerConfig, worker_is_dead
from tunebook.runner.zygote import zygote_for
from tunebook.spec import StudySpec, on_sys_path
from tunebook.store import Store, TrialStatus
from tunebook.store.engine import sqlite_path

POLL_S = 0.5


@dataclass(frozen=True)
class RunResult:
    """What a run did: the study, trial counts by status, the best value, interruption."""

    prepared: PreparedStudy
    counts: dict[TrialStatus, int]
    best: float | None
    interrupted: bool
    requeued: int


def default_runs_dir(store: Store) -> Path:
    """Trial folders (logs, checkpoints) live next to a SQLite file, else in ./tunebook-runs."""
    path = sqlite_path(store.url)
    if path is None:
        return Path("tunebook-runs").resolve()
    return path.parent / f"{path.stem}-runs"


def run_study(spec: StudySpec, store: Store, *, workers: int = 1,
              runs_dir: Path | None = None, progress: bool = True,
              console: Console | None = None,
              heartbeat_timeout_s: float = HEARTBEAT_TIMEOUT_S,
              local_workers: bool = True, max_attempts: int = MAX_ATTEMPTS,
              executor: str = "local", ray_address: str | None = None) -> RunResult:
    """Create or resume ``spec``'s study, queue its budget and run it to the end.

    Trials interrupted earlier (a killed worker on this host, or a heartbeat older than
    ``heartbeat_timeout_s``) are re-queued first, or failed after ``max_attempts``.
    Ctrl-C stops the trials in flight and puts them back in the queue, so the next run
    picks them up. ``local_workers=False`` only queues the trials, for ``tunebook worker``
    processes elsewhere. ``executor="ray"`` runs each trial as a task on a Ray cluster
    (``ray_address``: ``auto``, ``ray://host:port``, or ``local`` to start one).
    """
    if workers < 1:
        raise TunebookError(f"--workers must be at least 1, got {workers}")
    prepared = prepare_study(store, spec)
    leaf_ids = [leaf.id for leaf in prepared.leaves]
    requeued = store.requeue_stale(leaf_ids, timeout_s=heartbeat_timeout_s,
                                   is_dead=worker_is_dead, max_attempts=max_attempts)
    if executor not in ("local", "ray"):
        raise TunebookError(f"unknown executor {executor!r}; use local or ray")
    plans = PlanSource(store, {leaf.id: leaf for leaf in prepared.leaves})
    folder = runs_dir or default_runs_dir(store)
    interrupted = False
    if local_workers and executor == "ray":
        interrupted = _run_ray(store, leaf_ids, plans, folder, workers, max_attempts, spec,
                               ray_address, progress, console)
    elif local_workers:
        preload = []
        if spec.model.trainer.train:
            preload.append(spec.model.trainer.train.partition(":")[0])
        with on_sys_path(spec.source_dir):
            launcher = zygote_for(preload)
        interrupted = _run_slots(store, leaf_ids, plans, WorkerConfig(folder, launcher),
                                 workers, spec, progress, console)
    best = store.best_value(leaf_ids, spec.model.objective.goal)
    return RunResult(prepared, store.counts(leaf_ids), best, interrupted, len(requeued))


def _run_ray(store: Store, ids: list[int], plans: PlanSource, runs_dir: Path, workers: int,
             max_attempts: int, spec: StudySpec, address: str | None, progress: bool,
             console: Console | None) -> bool:
    from tunebook.runner.raycluster import RayExecutor, cluster_slots, connect

    connect(address)
    resources = spec.model.resources
    slots = max(workers, cluster_slots(resources.cpus, resources.gpus))
    executor = RayExecutor(store, ids, plans, runs_dir, slots, max_attempts)
    goal = spec.model.objective.goal
    with RunProgress(f"{spec.name} (ray)", console=console, enabled=progress) as bar:
        try:
            executor.run(lambda: bar.show(store, ids, goal))
        except KeyboardInterrupt:
            executor.cancel()
            return True
        bar.show(store, ids, goal)
    return False


def _run_slots(store: Store, ids: list[int], plans: PlanSource, config: WorkerConfig,
               workers: int, spec: StudySpec, progress: bool, console: Console | None) -> bool:
    stop = threading.Event()
    slots = [Slot(store, ids, plans, config, slot, stop) for slot in range(workers)]
    goal = spec.model.objective.goal
    with RunProgress(spec.name, console=console, enabled=progress) as bar:
        for slot in slots:
            slot.start()
        try:
            while any(slot.is_alive() for slot in slots):
                bar.show(store, ids, goal)
                time.sleep(POLL_S)
        except KeyboardInterrupt:
            stop.set()
            for slot in slots:
                slot.join()
            bar.show(store, ids, goal)
            return True
        bar.show(store, ids, goal)
    errors = [slot.error for slot in slots if slot.error is not None]
    if errors:
        raise errors[0]
    return False
