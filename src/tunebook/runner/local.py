"""``tunebook run``: prepare a study and run its trials here (or on a Ray cluster)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tunebook.errors import TunebookError
from tunebook.records import TrialStatus
from tunebook.runner.devices import device_env
from tunebook.runner.plan import PlanSource
from tunebook.runner.progress import ProgressCallback, progress_of
from tunebook.runner.slots import (
    HEARTBEAT_TIMEOUT_S,
    MAX_ATTEMPTS,
    Executor,
    SlotOptions,
    run_slots,
)
from tunebook.runner.study import PreparedStudy, prepare_study
from tunebook.spec import StudySpec
from tunebook.store import Store
from tunebook.store.engine import sqlite_path

EXECUTORS = ("local", "ray")


@dataclass(frozen=True)
class RunResult:
    """What a run did: the study, trial counts by status, the best value, interruption."""

    prepared: PreparedStudy
    counts: dict[TrialStatus, int]
    best: float | None
    stopped_by: str | None
    requeued: int

    @property
    def interrupted(self) -> bool:
        """Stopped by Ctrl-C or SIGTERM (its trials in flight were re-queued)."""
        return self.stopped_by is not None


def default_runs_dir(store: Store) -> Path:
    """Trial folders (logs, checkpoints) live next to a SQLite file, else in ./tunebook-runs."""
    path = sqlite_path(store.url)
    if path is None:
        return Path("tunebook-runs").resolve()
    return path.parent / f"{path.stem}-runs"


def run_study(spec: StudySpec, store: Store, *, workers: int | None = 1,
              runs_dir: Path | None = None, on_progress: ProgressCallback | None = None,
              heartbeat_timeout_s: float = HEARTBEAT_TIMEOUT_S,
              local_workers: bool = True, max_attempts: int = MAX_ATTEMPTS,
              executor: str = "local", ray_address: str | None = None,
              trial_timeout_s: float | None = None,
              devices: Sequence[str] | None = None) -> RunResult:
    """Create or resume ``spec``'s study, set its budget and run it to the end.

    Trials interrupted earlier (a killed worker on this host, or a heartbeat older than
    ``heartbeat_timeout_s``) are re-queued first, or failed after ``max_attempts``.
    Ctrl-C stops the trials in flight and puts them back in the queue, so the next run
    picks them up; SIGTERM does the same. A trial running longer than ``trial_timeout_s``
    (else the study file's ``timeout``) is killed and failed. ``local_workers=False`` only
    prepares the study, for ``tunebook worker`` processes elsewhere. ``executor="ray"``
    runs each trial as a task on a Ray cluster (``ray_address``: ``auto``,
    ``ray://host:port``, or ``local`` to start one).
    ``on_progress`` is called a few times a second with the study's :class:`Progress`.
    With the local executor, a study asking for ``resources.gpus`` (or ``devices``, a list
    of GPU ids) runs each trial on cards of its own (:mod:`tunebook.runner.devices`);
    ``workers=None`` then runs as many trials at once as the devices allow.
    """
    if executor not in EXECUTORS:
        raise TunebookError(f"unknown executor {executor!r}; use one of {', '.join(EXECUTORS)}")
    env = (device_env(spec.model.resources.gpus, devices, workers)
           if executor == "local" and local_workers else None)
    options = SlotOptions(runs_dir or default_runs_dir(store),
                          slots=len(env) if env else workers or 1, env=env or (),
                          heartbeat_timeout_s=heartbeat_timeout_s, max_attempts=max_attempts,
                          trial_timeout_s=trial_timeout_s)
    options.check(runs_here=local_workers)
    prepared = prepare_study(store, spec)
    tree = prepared.tree
    stopped_by, requeued = None, 0
    if local_workers:
        plans = PlanSource(store, {leaf.id: leaf for leaf in tree.leaves})
        chosen, options = _executor(executor, spec, options, ray_address)
        report = (lambda: on_progress(progress_of(store, tree, spec.objective))
                  ) if on_progress else (lambda: None)
        loop = run_slots(store, tree.ids, plans, chosen, options, report)
        stopped_by, requeued = loop.stopped_by, loop.requeued
        found = store.find_study(tree.root.name)
        if found is None or found.id != tree.root.id:
            raise TunebookError(f"study {tree.root.name!r} was deleted while this run worked "
                                "on it (`tunebook delete --force`); its results are gone. "
                                "Run the study file again to start it afresh")
    best = store.best_value(tree.ids, spec.objective.goal)
    return RunResult(prepared, store.counts(tree.ids), best, stopped_by, requeued)


def _executor(name: str, spec: StudySpec, options: SlotOptions, address: str | None,
              ) -> tuple[Executor, SlotOptions]:
    """The executor, and the slot count it can use (a Ray cluster may fit more)."""
    if name == "ray":
        import dataclasses

        from tunebook.runner.raycluster import RayExecutor, cluster_slots, connect

        connect(address)
        resources = spec.model.resources
        slots = max(options.slots, cluster_slots(resources.cpus, resources.gpus))
        return RayExecutor(), dataclasses.replace(options, slots=slots)
    from tunebook.runner.zygote import LocalExecutor

    ref = spec.model.trainer.ref
    return LocalExecutor([ref.module] if ref else [], [str(spec.source_dir)]), options
