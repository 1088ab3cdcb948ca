"""What runs inside a trial: ``t = tunebook.trial()``.

Training code asks for its trial's params and seed, reports metrics, and finds its
checkpoint folder through one object, whether tunebook called a Python function in a
worker process or ran a shell command (which learns its identity from ``TUNEBOOK_*``
environment variables). Metrics are buffered and written in batches, so ``report()`` is
never a database round trip per call.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from tunebook.errors import Infeasible, TrialStopped, TunebookError
from tunebook.space import ParamValue

if TYPE_CHECKING:
    from tunebook.store import Store


#: Seconds a trial process has, after tunebook asks it to stop, before it is killed.
STOP_GRACE_S = 3.0
_STOP = threading.Event()


def request_stop() -> None:
    """Ask the trial running in this process to stop (see ``TrialContext.should_stop``)."""
    _STOP.set()


ENV_INFO = "TUNEBOOK_TRIAL"
FLUSH_POINTS = 1000
FLUSH_SECONDS = 2.0


@dataclass(frozen=True)
class TrialInfo:
    """A trial's identity, as handed from the worker to the trial process."""

    db_url: str
    trial_id: int
    attempt: int
    study: str
    index: int
    seed: int
    params: dict[str, ParamValue]
    checkpoint_dir: str
    result_path: str
    max_steps: int | None = None
    eval_every: int | None = None

    def to_env(self) -> str:
        return json.dumps(self.__dict__)

    @classmethod
    def from_env(cls, text: str) -> TrialInfo:
        return cls(**json.loads(text))


@dataclass
class _Buffer:
    points: list[tuple[int, str, float, float]] = field(default_factory=list)
    last_flush: float = field(default_factory=time.monotonic)


class TrialContext:
    """The running trial, as training code sees it.

    Attributes:
        params: every hyperparameter by plain name (fixed, scientific and nuisance).
        seed: the trial's seed, derived from the study seed and the trial index.
        index: the trial's index in its study.
        study: the study's name.
        max_steps: the study's ``max_steps`` (``None`` when the study file leaves it out).
        eval_every: the study's ``eval_every``: evaluate every this many steps.
        checkpoint_dir: a folder of this trial's own, created on first use.
    """

    def __init__(self, info: TrialInfo, store: Store | None = None):
        self.info = info
        self.params: dict[str, ParamValue] = dict(info.params)
        self.seed = info.seed
        self.index = info.index
        self.study = info.study
        self.max_steps = info.max_steps
        self.eval_every = info.eval_every
        self._store = store
        self._buffer = _Buffer()
        self._closed = False

    @property
    def checkpoint_dir(self) -> Path:
        path = Path(self.info.checkpoint_dir)
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def should_stop(self) -> bool:
        """True once tunebook asked this trial to stop (its run got SIGTERM or Ctrl-C, or it
        reached the study's ``timeout``).

        The request also raises :class:`~tunebook.errors.TrialStopped` in the training code;
        the process is killed :data:`STOP_GRACE_S` seconds later. Code that saves a
        checkpoint in an ``except TrialStopped`` (or ``finally``) block reads this to know
        why it is unwinding.
        """
        return _STOP.is_set()

    def report(self, step: int, **metrics: float) -> None:
        """Record metric values at a training step (buffered; written in batches).

        The playbook evaluates at fixed step intervals, so every point is keyed by step,
        not by time; reporting the same (step, name) twice keeps the newest value.
        """
        now = time.time()
        self._buffer.points.extend((int(step), name, float(value), now)
                                   for name, value in metrics.items())
        if (len(self._buffer.points) >= FLUSH_POINTS
                or time.monotonic() - self._buffer.last_flush >= FLUSH_SECONDS):
            self.flush()

    def flush(self) -> None:
        """Write buffered metric points now."""
        points, self._buffer.points = self._buffer.points, []
        self._buffer.last_flush = time.monotonic()
        if points and self._store is not None:
            self._store.report_metrics(self.info.trial_id, points)

    def warn(self, message: str) -> None:
        """Record advice with this trial (shown by ``tunebook show`` and in reports)."""
        if self._store is not None:
            self._store.add_warning(self.info.trial_id, message)
        else:
            print(f"[tunebook] warning: {message}", file=sys.stderr)

    def record_checkpoint(self, step: int, path: str, value: float | None) -> int | None:
        """Record a checkpoint file in the store; returns its id (None outside a run)."""
        if self._store is None:
            return None
        return self._store.add_checkpoint(self.info.trial_id, step, path, value)

    def drop_checkpoint(self, checkpoint_id: int | None) -> None:
        """Mark a recorded checkpoint as deleted (the N-best policy removed its file)."""
        if self._store is not None and checkpoint_id is not None:
            self._store.drop_checkpoint(checkpoint_id)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.flush()
            if self._store is not None:
                self._store.close()

    def __enter__(self) -> TrialContext:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class LocalTrial(TrialContext):
    """A trial outside tunebook (``python train.py`` by hand): prints what it reports.

    Checkpoints go to a fresh temporary folder: a run by hand never resumes another.
    Per-step diagnostics (``grad_norm``, ``clipped``) are not printed: one line per step
    would drown the evaluations.
    """

    QUIET = frozenset({"grad_norm", "clipped"})

    def __init__(self, params: Mapping[str, ParamValue], seed: int = 0,
                 max_steps: int | None = None, eval_every: int | None = None):
        info = TrialInfo(db_url="", trial_id=0, attempt=0, study="(local)", index=0,
                         seed=seed, params=dict(params),
                         checkpoint_dir=tempfile.mkdtemp(prefix="tunebook-local-"),
                         result_path="", max_steps=max_steps, eval_every=eval_every)
        super().__init__(info, store=None)

    def report(self, step: int, **metrics: float) -> None:
        super().report(step, **metrics)
        self.flush()

    def flush(self) -> None:
        points, self._buffer.points = self._buffer.points, []
        by_step: dict[int, list[str]] = {}
        for step, name, value, _ in points:
            if name not in self.QUIET:
                by_step.setdefault(step, []).append(f"{name}={value:.6g}")
        for step, items in by_step.items():
            print(f"[tunebook local] step {step}: {' '.join(items)}", file=sys.stderr)


_current: TrialContext | None = None


def set_current(ctx: TrialContext | None) -> None:
    """Install the trial of this process (done by the worker before calling user code)."""
    global _current
    _current = ctx


def trial(defaults: Mapping[str, ParamValue] | None = None) -> TrialContext:
    """The trial this process is running.

    Args:
        defaults: params to use when the code runs outside tunebook (e.g. ``python train.py``
            while developing); metrics are then printed instead of stored.

    Raises:
        TunebookError: outside a tunebook trial and without ``defaults``.
    """
    global _current
    if _current is not None:
        return _current
    text = os.environ.get(ENV_INFO)
    if text:
        _current = _from_environment(TrialInfo.from_env(text))
        return _current
    if defaults is not None:
        _current = LocalTrial(defaults)
        return _current
    raise TunebookError("tunebook.trial() is only available inside a trial started by "
                        "`tunebook run`; to run this code by hand, pass defaults, e.g. "
                        "tunebook.trial(defaults={'learning_rate': 1e-3})")


def current() -> TrialContext | None:
    """The trial this process is running, or None outside one (never raises).

    For library code (framework callbacks) that should do nothing, not fail, when the
    training runs by hand.
    """
    if _current is not None or os.environ.get(ENV_INFO):
        return trial()
    return None


def _stop_command(signum: int, _frame: object) -> None:
    """SIGTERM in a command trainer: raise :class:`TrialStopped` in its training code."""
    request_stop()
    raise TrialStopped(f"stopped by tunebook (signal {signal.Signals(signum).name})")


def _from_environment(info: TrialInfo) -> TrialContext:
    """A command trainer's trial: store connection, flush at exit, Infeasible recorded."""
    from tunebook.store import SQLStore

    ctx = TrialContext(info, SQLStore(info.db_url, prepare=False))
    atexit.register(ctx.close)
    previous_hook = sys.excepthook

    def hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if isinstance(exc, Infeasible):
            write_result(info.result_path, {"status": "infeasible", "reason": str(exc)})
        previous_hook(kind, exc, tb)

    sys.excepthook = hook
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stop_command)
    return ctx


def write_result(path: str, result: Mapping[str, Any]) -> None:
    """Write a trial's result file atomically (temp file + rename).

    No fsync: the file only carries the result to the worker that is waiting for it; if
    the machine dies first, the trial is re-queued by its stale heartbeat anyway.
    """
    tmp = f"{path}.tmp"
    with open(tmp, "w") as handle:
        json.dump(dict(result), handle, allow_nan=True)
    os.replace(tmp, path)
