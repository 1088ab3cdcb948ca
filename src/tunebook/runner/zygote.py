"""The worker's side of the zygote (see :mod:`tunebook.runner._zygote`), and the local
executor that starts every trial as a process forked from it."""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Sequence

from tunebook.errors import TunebookError
from tunebook.runner import _zygote as protocol
from tunebook.runner import code
from tunebook.runner.job import TrialJob

TERMINATE_GRACE_S = 5.0


class TrialProcess:
    """A running trial process, as the worker sees it (pid, wait, terminate)."""

    def __init__(self, zygote: Zygote, pid: int):
        self.zygote, self.pid = zygote, pid

    @property
    def exitcode(self) -> int | None:
        return self.zygote.exitcode(self.pid)

    def wait(self, timeout: float | None = None) -> int | None:
        return self.zygote.wait(self.pid, timeout)

    def signal(self, signum: int) -> None:
        """Signal the trial; SIGKILL goes to its whole process group (what a function
        trainer started, e.g. its own subprocess, dies with it)."""
        if signum == signal.SIGKILL:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signum)
        elif self.exitcode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)

    def stop(self) -> None:
        """SIGTERM (the trial may flush and checkpoint), SIGKILL after a grace period."""
        self.signal(signal.SIGTERM)
        if self.wait(TERMINATE_GRACE_S) is None:
            self.signal(signal.SIGKILL)
            self.wait()
        self.signal(signal.SIGKILL)  # what is left of its group: a subprocess it started


class Zygote:
    """Starts trial processes by asking a preloaded zygote process to fork."""

    def __init__(self, preload: Sequence[str], sys_path: Sequence[str],
                 study_dirs: Sequence[str] = ()):
        env = {**os.environ, "TUNEBOOK_SYS_PATH": os.pathsep.join(sys_path),
               "TUNEBOOK_STUDY_DIRS": os.pathsep.join(study_dirs)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tunebook.runner._zygote", *preload],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        self._lock = threading.Lock()
        self._changed = threading.Condition()
        self._ready = False
        self._started: dict[int, int] = {}
        self._exits: dict[int, int] = {}
        self._requests = itertools.count()
        self._alive = True
        self._running: set[int] = set()
        self.code: tuple[code.CodeFile, ...] = ()
        self.used_at = time.monotonic()
        threading.Thread(target=self._read, name="tunebook-zygote", daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while (message := protocol.read_frame(fd)) is not None:
            with self._changed:
                if message[0] == "ready":
                    self._ready = True
                    self.code = tuple(message[1]) if len(message) > 1 else ()
                elif message[0] == "started":
                    self._started[message[1]] = message[2]
                    self._running.add(message[2])
                    self._exits.pop(message[2], None)  # a reused pid starts afresh
                else:
                    self._exits[message[1]] = message[2]
                    self._running.discard(message[1])
                self._changed.notify_all()
        with self._changed:
            self._alive = False
            self._changed.notify_all()

    def wait_ready(self) -> None:
        """Block until the zygote imported its preloads (torch can take seconds), so that
        a trial's recorded start is its real start."""
        with self._changed:
            self._changed.wait_for(lambda: self._ready or not self._alive)
            if not self._ready:
                raise TunebookError("the trial launcher (zygote) died while importing "
                                    "the trainer's modules; see the output above")

    @property
    def alive(self) -> bool:
        return self._alive and self.proc.poll() is None

    @property
    def busy(self) -> bool:
        """A trial it forked is still running."""
        with self._changed:
            return bool(self._running)

    def stale(self) -> list[str]:
        """The study folders' files it imported that changed on disk since."""
        return code.changed(self.code)

    def spawn(self, job: TrialJob) -> TrialProcess:
        """Fork a trial process for ``job``; returns once its pid is known."""
        request = next(self._requests)
        self.used_at = time.monotonic()
        with self._lock:
            assert self.proc.stdin is not None
            protocol.write_frame(self.proc.stdin, ("run", request, job))  # type: ignore[arg-type]
        with self._changed:
            self._changed.wait_for(lambda: request in self._started or not self._alive)
            if request not in self._started:
                raise TunebookError("the trial launcher (zygote) died; see the output above")
            return TrialProcess(self, self._started.pop(request))

    def exitcode(self, pid: int) -> int | None:
        with self._changed:
            return self._exits.get(pid)

    def wait(self, pid: int, timeout: float | None) -> int | None:
        with self._changed:
            self._changed.wait_for(lambda: pid in self._exits or not self._alive, timeout)
            return self._exits.get(pid, None if self._alive else -signal.SIGKILL)

    def close(self) -> None:
        if self.proc.stdin is not None and self.proc.poll() is None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        self.proc.wait()


_ZYGOTES: dict[tuple[str, ...], Zygote] = {}
_RETIRED: list[Zygote] = []
_ZYGOTES_LOCK = threading.Lock()
#: Idle zygotes kept beside the one asked for (each holds the trainer's imports, torch
#: included: ~40 MB or more); older idle ones are closed.
KEEP_IDLE = 2
#: The executors alive now: a zygote one of them holds is never closed as idle.
_HOLDERS: weakref.WeakSet[LocalExecutor] = weakref.WeakSet()


def zygote_for(preload: Sequence[str], folders: Sequence[str] = ()) -> Zygote:
    """The zygote of this process preloading ``preload`` (started, or restarted, on demand).

    ``folders`` (the studies' folders, where their trainer modules live) go first on the
    zygote's ``sys.path``; this process's own ``sys.path`` is left as it is. A zygote whose
    trainer files changed on disk since it imported them is retired (closed once its
    running trials end) and a fresh one started: a long-lived worker runs the code the
    user has now, not the code it first saw.
    """
    modules = ("tunebook.runner._child", "tunebook.store.sql", "sqlalchemy.dialects.sqlite",
               *preload)
    key = (*modules, *folders)
    with _ZYGOTES_LOCK:
        zygote = _ZYGOTES.get(key)
        if zygote is not None and zygote.alive and zygote.stale():
            _RETIRED.append(_ZYGOTES.pop(key))
            zygote = None
        if zygote is None or not zygote.alive:
            zygote = _ZYGOTES[key] = Zygote(modules, [*folders, *sys.path], folders)
        zygote.used_at = time.monotonic()
        _sweep(zygote)
        return zygote


def _sweep(keep: Zygote) -> None:
    """Close retired zygotes whose trials ended, and idle ones beyond :data:`KEEP_IDLE`
    (least recently used first). Called with the lock held."""
    held = {id(e.zygote) for e in list(_HOLDERS)} | {id(keep)}
    for zygote in [z for z in _RETIRED if not z.busy]:
        _RETIRED.remove(zygote)
        zygote.close()
    idle = sorted(((k, z) for k, z in _ZYGOTES.items()
                   if id(z) not in held and not z.busy), key=lambda kz: kz[1].used_at)
    for key, zygote in idle[:max(len(idle) - KEEP_IDLE, 0)]:
        del _ZYGOTES[key]
        zygote.close()


class LocalExecutor:
    """Trials as local processes forked from a zygote that preloaded their trainers."""

    inherits_env = True

    def __init__(self, preload: Sequence[str], folders: Sequence[str] = ()):
        self.preload, self.folders = list(preload), list(folders)
        self.zygote = zygote_for(preload, folders)
        self.zygote.wait_ready()
        _HOLDERS.add(self)

    def start(self, job: TrialJob, plan: object) -> TrialProcess:
        """Fork the trial; from a fresh zygote when the trainer's files changed since the
        zygote imported them (the trial itself would re-import them anyway)."""
        if not self.zygote.alive or self.zygote.stale():
            self.zygote = zygote_for(self.preload, self.folders)
            self.zygote.wait_ready()
        return self.zygote.spawn(job)


def close_zygotes() -> None:
    """Stop every zygote this process started (each exits once its pipe closes). A
    zygote is kept for the next run of the same trainer; a long-lived caller that runs
    many trainers from many folders (a benchmark) closes them between runs."""
    with _ZYGOTES_LOCK:
        zygotes = [*_ZYGOTES.values(), *_RETIRED]
        _ZYGOTES.clear()
        _RETIRED.clear()
    for zygote in zygotes:
        zygote.close()
