"""How a workflow runs the studies it derives: the same ``run_study`` as ``tunebook run``,
with the caller's worker count, trial folder and progress callback."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tunebook.runner.local import RunResult, run_study
from tunebook.runner.progress import ProgressCallback
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
    """

    workers: int | None = 1
    runs_dir: Path | None = None
    on_progress: ProgressCallback | None = None
    executor: str = "local"
    ray_address: str | None = None
    devices: tuple[str, ...] = ()


def run(spec: StudySpec, store: Store, options: RunOptions, *,
        workers: int | None = None) -> RunResult:
    """Create or resume ``spec``'s study and run it to the end (see ``run_study``)."""
    return run_study(spec, store, workers=options.workers if workers is None else workers,
                     runs_dir=options.runs_dir, on_progress=options.on_progress,
                     executor=options.executor, ray_address=options.ray_address,
                     devices=options.devices or None)
