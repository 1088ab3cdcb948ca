"""How a workflow runs the studies it derives: the same ``run_study`` as ``tunebook run``,
with the caller's worker count, trial folder, GPUs and progress callback; or, on a fleet
(``local_workers=False``), queued for ``tunebook worker`` processes elsewhere and waited
for until they have run it."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

from tunebook.analysis import overview
from tunebook.records import TrialStatus
from tunebook.runner.local import RunResult, run_study
from tunebook.runner.progress import ProgressCallback, progress_of
from tunebook.spec import StudySpec
from tunebook.store import Store


@dataclass(frozen=True)
class RunOptions:
    """What a workflow's runs share with ``tunebook run``'s options.

    Attributes:
        workers: trials at a time (a throughput probe always runs one at a time); None:
            as many as the GPUs allow (one without GPUs).
        runs_dir: where trial logs and checkpoints go (default: beside the store).
        on_progress: called a few times a second with the running study's progress.
        executor: ``local`` or ``ray`` (see ``tunebook run --executor``).
        ray_address: the Ray cluster for ``executor="ray"``.
        devices: GPU ids for the trials (see :mod:`tunebook.runner.devices`); empty: the
            visible ones, used only when the study asks for ``resources.gpus``.
        local_workers: False: run nothing here; queue each study and wait while
            ``tunebook worker`` processes (other machines, one store) run it.
    """

    workers: int | None = 1
    runs_dir: Path | None = None
    on_progress: ProgressCallback | None = None
    executor: str = "local"
    ray_address: str | None = None
    devices: tuple[str, ...] = ()
    local_workers: bool = True

#: Seconds between two looks at a study the fleet is running.
POLL_S = 0.5


def run(spec: StudySpec, store: Store, options: RunOptions, *,
        workers: int | None = None) -> RunResult:
    """Create or resume ``spec``'s study and run it to the end (see ``run_study``)."""
    done = run_study(spec, store, workers=options.workers if workers is None else workers,
                     runs_dir=options.runs_dir, on_progress=options.on_progress,
                     executor=options.executor, ray_address=options.ray_address,
                     devices=options.devices or None, local_workers=options.local_workers)
    return done if options.local_workers else _await_fleet(store, spec, done, options)


def _await_fleet(store: Store, spec: StudySpec, queued: RunResult,
                 options: RunOptions) -> RunResult:
    """Wait until workers elsewhere have run every trial of the queued study: none left to
    create under its budget, none queued or running (a killed worker's trial is re-queued
    by the others, as always). Ctrl-C stops the wait, not the workers."""
    tree = queued.prepared.tree
    try:
        while (seen := overview(store, tree)).to_run or seen.counts[TrialStatus.RUNNING]:
            if options.on_progress is not None:
                options.on_progress(progress_of(store, tree, spec.objective))
            time.sleep(POLL_S)
    except KeyboardInterrupt:
        return replace(queued, counts=store.counts(tree.ids), stopped_by="SIGINT")
    return replace(queued, counts=store.counts(tree.ids),
                   best=store.best_value(tree.ids, spec.objective.goal))
