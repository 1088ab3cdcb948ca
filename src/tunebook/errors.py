"""Errors tunebook raises, each with a message that says what, where, and the fix.

One base class, :class:`TunebookError`, so a caller (and the CLI) can catch everything
tunebook means to tell a user about. Specific classes also subclass the builtin a caller
would expect (a bad spec is a ``ValueError``), so generic code keeps working.
"""

from __future__ import annotations


class TunebookError(Exception):
    """Base class of every error tunebook raises on purpose."""


class SpecError(TunebookError, ValueError):
    """A study file is wrong: the message names the file, the field and the fix."""

    def __init__(self, message: str, *, path: str | None = None, field: str | None = None):
        self.path = path
        self.field = field
        where = ": ".join(part for part in (path, field) if part)
        super().__init__(f"{where}: {message}" if where else message)


class StoreError(TunebookError):
    """The store cannot be opened or used (not a tunebook database, newer schema, ...)."""


class StudyNotFound(StoreError, KeyError):
    """A study or trial name that the store does not hold."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class StaleClaim(StoreError):
    """A worker tried to update a trial that it no longer owns (re-queued or re-claimed)."""


class Infeasible(TunebookError):
    """Raise inside training code to mark a trial infeasible, with a reason.

    The playbook treats diverged or impossible configurations as data about the search
    space, not as crashes: an infeasible trial is recorded with its reason and the study
    goes on.
    """


class TrialFailed(TunebookError):
    """A trial ended in failure; carries the reason recorded in the store."""


class WorkerLost(TunebookError):
    """The worker running a trial died (a Ray worker killed, a node lost), not the trial.

    Executors raise it; the store's lost-trial policy decides what happens to the trial.
    """


class TrialStopped(BaseException):
    """Raised inside training code when tunebook stops the trial (SIGTERM, Ctrl-C of the
    run, the study's timeout).

    A ``BaseException``, so ``except Exception`` in training code does not swallow it. To save
    a checkpoint first, catch it, save, and re-raise; the process is killed
    ``STOP_GRACE_S`` seconds after the request whatever happens.
    """


class StudyExists(StoreError):
    """A study of that name already exists (another run may have just created it)."""


class LaunchRefused(TunebookError):
    """A launch without the evidence for it; ``blockers`` says what is missing."""

    def __init__(self, message: str, blockers: list[str]) -> None:
        super().__init__(message)
        self.blockers = blockers
