"""The trial process: runs user code in isolation and writes a result file.

Started from a forkserver that has tunebook (and the trainer's module) already imported,
so a trial starts in milliseconds; a segfault or ``os.abort()`` here kills this trial
only. The process ignores Ctrl-C (the worker stops it with SIGTERM and re-queues the
trial) and exits by itself when its worker disappears, so a SIGKILLed worker leaves no
orphan training behind.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import signal
import struct
import subprocess
import sys
import threading
import time
import traceback
from typing import Any

from tunebook import trainer
from tunebook.context import (
    ENV_INFO,
    STOP_GRACE_S,
    TrialContext,
    request_stop,
    set_current,
    write_result,
)
from tunebook.errors import Infeasible, TrialStopped
from tunebook.runner import code
from tunebook.runner.job import TrialJob
from tunebook.runner.outcome import describe_exit

TRACEBACK_CHARS = 4000
_command: subprocess.Popen[bytes] | None = None
#: The digest of the trainer code this trial imported (see :mod:`tunebook.runner.code`).
_code: str | None = None


_STORES: dict[str, Any] = {}


def store_for(url: str) -> Any:
    """One store object per database for every trial forked from this process.

    The zygote calls it before it forks, so each trial inherits a ready engine instead of
    setting one up (about 6 ms a trial). The zygote itself never connects: a child starts
    with an empty connection pool, never a connection shared across ``fork``.
    """
    from tunebook.store import SQLStore

    if url not in _STORES:
        _STORES[url] = SQLStore(url, prepare=False)
    return _STORES[url]


def main(job: TrialJob, done_fd: int | None = None) -> None:
    """Entry point of a trial process.

    ``done_fd``: a pipe to the zygote; the trial writes its pid there once its result is
    written, so its worker moves on without waiting for the process teardown (a few ms
    for a process that has torch mapped).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_term)
    signal.signal(signal.SIGUSR1, _on_orphaned)
    if job.env:
        os.environ.clear()
        os.environ.update(job.env)
    _watch_worker(job.worker_pid)
    _redirect_output(job.log_path)
    result = run_command(job) if job.command is not None else run_function(job)
    if result is not None and _code is not None:
        result = {**result, "code": _code}
    if result is not None:
        write_result(job.info.result_path, result)
    sys.stdout.flush()
    sys.stderr.flush()
    if done_fd is not None:
        os.write(done_fd, struct.pack("=i", os.getpid()))
    os._exit(0)  # skip user atexit hooks and non-daemon threads: the result is written


def _on_term(signum: int, _frame: Any) -> None:
    """Stop the trial: raise :class:`TrialStopped` in the training code (a command trainer
    gets the signal instead), and exit after the grace period whatever it does."""
    request_stop()
    if _command is not None and _command.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(_command.pid, signal.SIGTERM)

    def deadline() -> None:
        time.sleep(STOP_GRACE_S)
        _kill_command()
        os._exit(128 + signum)

    threading.Thread(target=deadline, name="tunebook-stop", daemon=True).start()
    if _command is None:
        raise TrialStopped(f"stopped by tunebook (signal {signal.Signals(signum).name})")


def _on_orphaned(_signum: int, _frame: Any) -> None:
    """The zygote's word that the worker is gone (SIGUSR1): end the command trainer's
    whole process group at once, then this process; a trial never outlives its worker."""
    _kill_command()
    os._exit(137)


def _kill_command() -> None:
    """SIGKILL the command trainer's process group: its leader may be gone already (a
    shell killed by SIGTERM) while the pipeline it started lives on in the group."""
    if _command is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(_command.pid, signal.SIGKILL)


def _watch_worker(worker_pid: int) -> None:
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(0.25)
            try:
                os.kill(worker_pid, 0)
            except ProcessLookupError:
                break
            if os.getppid() != parent:
                break
        _kill_command()
        os._exit(137)

    threading.Thread(target=watch, name="tunebook-watchdog", daemon=True).start()


def _redirect_output(path: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def _accepts_argument(fn: Any) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
               for p in params)


def run_function(job: TrialJob) -> dict[str, Any]:
    """Call ``module:function`` with the trial context; never raises. Trainer code that
    changed on disk since this process (or its zygote) imported it is imported afresh."""
    global _code
    assert job.train is not None
    ctx = TrialContext(job.info, store_for(job.info.db_url))
    set_current(ctx)
    try:
        code.drop_stale(job.source_dir)
        fn = trainer.load(trainer.TrainerRef.parse(job.train), job.source_dir)
        _code = code.digest(job.source_dir)
        returned = fn(ctx) if _accepts_argument(fn) else fn()
        ctx.close()
        return {"status": "completed", **_returned(returned)}
    except Infeasible as exc:
        ctx.close()
        return {"status": "infeasible", "reason": str(exc) or "raised Infeasible"}
    except TrialStopped:
        _safe_close(ctx)  # what it reported so far is kept; its worker re-queued it
        os._exit(143)
    except BaseException as exc:
        _safe_close(ctx)
        if type(exc).__name__ in ("OutOfMemoryError", "MemoryError"):
            detail = str(exc).strip() or f"{type(exc).__name__} with no message"
            return {"status": "infeasible", "reason": f"out of memory: {detail}"[:500]}
        traceback.print_exc()
        tail = traceback.format_exc()[-TRACEBACK_CHARS:]
        return {"status": "failed", "reason": f"{type(exc).__name__}: {exc}\n{tail}"}


def _safe_close(ctx: TrialContext) -> None:
    try:
        ctx.close()
    except Exception:
        traceback.print_exc()


def _returned(value: Any) -> dict[str, Any]:
    """A train function may return nothing, the objective value, or a dict of metrics."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return {"metrics": {str(k): float(v) for k, v in value.items()}}
    return {"value": float(value)}


def run_command(job: TrialJob) -> dict[str, Any] | None:
    """Run a command trainer in its own session, passing the trial through the environment."""
    global _command
    assert job.command is not None
    env = {**os.environ, ENV_INFO: job.info.to_env()}
    with open(job.log_path, "ab") as log:
        try:
            _command = subprocess.Popen(job.command, cwd=job.source_dir, env=env,
                                        stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        except OSError as exc:
            return {"status": "failed", "reason": f"cannot run {job.command[0]!r}: "
                                                  f"{exc.strerror}; check trainer.command"}
    code = _command.wait()
    _kill_command()  # what the command left running in its group (a pipeline's other end)
    if os.path.exists(job.info.result_path):
        return None  # the command wrote its own result (it raised Infeasible); keep it
    if code == 0:
        return {"status": "completed"}
    return {"status": "failed", "reason": f"command {describe_exit(code)}"}
