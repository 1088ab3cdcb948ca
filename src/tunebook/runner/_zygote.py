"""The zygote: a clean process with modules preloaded that forks one child per trial.

Why not ``multiprocessing``'s forkserver: it re-imports the caller's ``__main__`` in
every child (so a user script calling :func:`tunebook.run_study` without an
``if __name__ == "__main__"`` guard would run itself again), and its children can only
be waited on through private machinery. The zygote is ~100 lines with none of that:

* started with ``python -m tunebook.runner._zygote MODULE...``; it imports the modules
  (torch, the trainer) once, so a trial starts in milliseconds instead of seconds, and
  answers ``("ready", files)``: the study folders' source files as it imported them
  (:mod:`tunebook.runner.code`), so that its worker notices when they change;
* reads length-prefixed pickled jobs on stdin, forks, and the child runs
  :func:`tunebook.runner._child.main`; it answers ``("started", request, pid)``;
* reaps children and reports ``("exited", pid, returncode)`` (negative: a signal); a
  child that wrote its result says so on a pipe first and is reported ended (0) then;
* when its stdin closes (the worker exited or was SIGKILLed) it kills its children and
  exits, so no trial outlives its worker.

It is single-threaded on purpose: forking a process that has other threads is unsafe.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import signal
import struct
import sys
import time
from typing import Any, BinaryIO

HEADER = struct.Struct("!I")
#: Seconds the trials get to end their command trainers when the worker is gone.
ORPHAN_GRACE_S = 2.0


def write_frame(stream: BinaryIO, message: Any) -> None:
    data = pickle.dumps(message)
    stream.write(HEADER.pack(len(data)) + data)
    stream.flush()


def read_exact(fd: int, size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = os.read(fd, left)
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int) -> Any | None:
    header = read_exact(fd, HEADER.size)
    if header is None:
        return None
    body = read_exact(fd, HEADER.unpack(header)[0])
    return None if body is None else pickle.loads(body)


def _returncode(status: int) -> int:
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def _child(job: Any, fds: list[int], done_fd: int) -> None:
    os.setpgid(0, 0)  # the trial's own process group: what it starts dies with it
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    for fd in fds:
        os.close(fd)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.close(null)
    try:
        from tunebook.runner import _child as child

        child.main(job, done_fd)
    finally:
        os._exit(70)


def _report_done(done_r: int, out: BinaryIO, children: set[int], early: set[int]) -> None:
    """Children that wrote their result: report them ended (code 0) before they exit."""
    data = os.read(done_r, 4096)
    for (pid,) in struct.iter_unpack("=i", data[: len(data) // 4 * 4]):
        if pid in children:
            early.add(pid)
            write_frame(out, ("exited", pid, 0))


def _reap(out: BinaryIO, children: set[int], early: set[int] | None = None) -> None:
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        children.discard(pid)
        if early is not None and pid in early:
            early.discard(pid)  # already reported when it wrote its result
            continue
        write_frame(out, ("exited", pid, _returncode(status)))


def _warm(job: Any) -> None:
    """Set up what every trial of this database needs once, here, before forking."""
    if getattr(job, "train", None) is not None:
        from tunebook.runner import _child as child

        child.store_for(job.info.db_url)


def serve(preload: list[str], study_dirs: list[str]) -> None:
    for name in preload:
        with contextlib.suppress(Exception):
            __import__(name)
    from tunebook.runner import code

    files = code.remember(study_dirs)  # as imported: a trial forked later checks them
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the worker's business
    stdin, out = sys.stdin.buffer.fileno(), sys.stdout.buffer
    done_r, done_w = os.pipe()
    children: set[int] = set()
    early: set[int] = set()
    write_frame(out, ("ready", files))  # the preloads are imported: forks are cheap now
    while True:
        try:
            ready, _, _ = select.select([stdin, wake_r, done_r], [], [])
        except InterruptedError:
            continue
        if done_r in ready:
            _report_done(done_r, out, children, early)
        if wake_r in ready:
            os.read(wake_r, 4096)
            _reap(out, children, early)
        if stdin in ready:
            message = read_frame(stdin)
            if message is None or message[0] == "stop":
                break
            _, request, job = message
            _warm(job)
            pid = os.fork()
            if pid == 0:
                _child(job, [wake_r, wake_w, done_r], done_w)
            children.add(pid)
            write_frame(out, ("started", request, pid))
    _end(children)


def _end(children: set[int]) -> None:
    """The worker is gone: each trial kills its command trainer's group and exits
    (SIGUSR1); what is still there a moment later is killed with its whole group."""
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGUSR1)
    deadline = time.monotonic() + ORPHAN_GRACE_S
    alive = set(children)
    while alive and time.monotonic() < deadline:
        for pid in list(alive):
            with contextlib.suppress(ChildProcessError):
                if os.waitpid(pid, os.WNOHANG)[0] == 0:
                    continue
            alive.discard(pid)
        time.sleep(0.02)
    for pid in children:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)


if __name__ == "__main__":
    sys.path[:0] = [p for p in os.environ.get("TUNEBOOK_SYS_PATH", "").split(os.pathsep) if p]
    serve(sys.argv[1:], [p for p in os.environ.get("TUNEBOOK_STUDY_DIRS", "").split(os.pathsep)
                         if p])
