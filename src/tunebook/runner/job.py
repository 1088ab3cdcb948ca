"""What a worker hands to a trial process: small, plain and picklable."""

from __future__ import annotations

from dataclasses import dataclass, field

from tunebook.context import TrialInfo


@dataclass(frozen=True)
class TrialJob:
    """Everything a trial process needs; it never reads the study file itself.

    Attributes:
        info: the trial's identity, as training code will see it.
        train: ``module:function`` for a Python trainer, else ``None``.
        command: the argv of a command trainer (values quoted), else ``None``.
        source_dir: the study file's folder (import path, and a command's cwd).
        log_path: where the trial's stdout and stderr go.
        worker_pid: the worker process; the trial exits when it disappears.
        env: the worker's environment when the trial was started (the zygote may be older
            than a change to it, e.g. a second study run from the same Python process).
    """

    info: TrialInfo
    train: str | None
    command: list[str] | None
    source_dir: str
    log_path: str
    worker_pid: int
    env: dict[str, str] = field(default_factory=dict)
