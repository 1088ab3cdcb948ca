"""The one slot loop behind ``tunebook run``, ``tunebook worker`` and the Ray executor.

A slot asks the store for work: a queued trial (re-queued after a crash, or added
explicitly) or, while the budget is not reached, a new trial whose params the sampler
chooses now, from the history. It starts the trial through an :class:`Executor` (a local
crash-isolated process, or a Ray task), heartbeats while it runs and records the outcome.
N slots run as threads of one process: threads only wait and talk to the store; training
happens in the trial processes. Lost trials (stale heartbeat, dead worker, too many
attempts) are decided by the store alone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from tunebook.errors import StaleClaim, TunebookError, WorkerLost
from tunebook.records import TrialRecord, TrialStatus
from tunebook.runner import pruning
from tunebook.runner.job import TrialJob
from tunebook.runner.plan import PlanSource, StudyPlan
from tunebook.runner.pruning import Pruned
from tunebook.runner.suggest import choose_params
from tunebook.runner.worker import (
    TrialBudget,
    make_job,
    record_outcome,
    worker_is_dead,
    worker_is_ours,
    worker_name,
)
from tunebook.store import Store

STOP_POLL_S = 0.1
#: What ``_supervise`` returns for a trial it stopped at its timeout.
TIMED_OUT = -(1 << 20)
IDLE_POLL_S = 2.0
TICK_S = 0.25
MAX_ATTEMPTS = 3
#: A running trial whose heartbeat is older than this is considered lost.
HEARTBEAT_TIMEOUT_S = 60.0
SWEEP_S = 10.0


class TrialHandle(Protocol):
    """A trial started by an executor."""

    def wait(self, timeout: float) -> int | None:
        """The exit code once the trial process ended, else None after ``timeout`` s.

        Raises:
            WorkerLost: the worker running the trial died (a Ray worker killed, a node lost).
        """
        ...

    def stop(self) -> None:
        """Terminate the trial (SIGTERM, then SIGKILL after a grace period)."""
        ...


class Executor(Protocol):
    """Where trial processes run: local crash-isolated processes, or Ray tasks."""

    #: True when trials should see this worker's environment (local processes).
    inherits_env: bool

    def start(self, job: TrialJob, plan: StudyPlan) -> TrialHandle: ...


@dataclass(frozen=True)
class SlotOptions:
    """How the slots of one run or worker behave.

    Attributes:
        runs_dir: trial folders (logs, result files, checkpoints).
        slots: trials at a time.
        env: extra environment per slot (e.g. ``CUDA_VISIBLE_DEVICES``), by slot number.
        max_trials: stop after starting this many trials (``None``: no cap).
        wait: poll for new work instead of returning when there is none.
        heartbeat_s: how often a running trial's heartbeat is written.
        heartbeat_timeout_s: silence after which another worker re-queues a trial.
        max_attempts: lost attempts after which a trial is failed.
        trial_timeout_s: kill and fail a trial running longer than this; ``None``: the
            study file's ``timeout`` (if any) applies.
    """

    runs_dir: Path
    slots: int = 1
    env: Sequence[dict[str, str]] = field(default_factory=tuple)
    max_trials: int | None = None
    wait: bool = False
    heartbeat_s: float = 2.0
    heartbeat_timeout_s: float = HEARTBEAT_TIMEOUT_S
    max_attempts: int = MAX_ATTEMPTS
    trial_timeout_s: float | None = None

    def check(self, runs_here: bool = True) -> None:
        """Refuse bad settings before anything is written to the store.

        ``runs_here``: trials will run from this process, so its trial folder must be
        writable (a queue-only ``tunebook run`` needs none).
        """
        if self.slots < 1:
            raise TunebookError(f"--workers must be at least 1, got {self.slots}")
        if self.max_trials is not None and self.max_trials < 0:
            raise TunebookError(f"--max-trials must not be negative, got {self.max_trials}")
        if self.heartbeat_timeout_s <= self.heartbeat_s:
            raise TunebookError(f"--heartbeat-timeout must be above {self.heartbeat_s} s")
        if self.max_attempts < 1:
            raise TunebookError(f"--max-attempts must be at least 1, got {self.max_attempts}")
        if self.trial_timeout_s is not None and self.trial_timeout_s <= 0:
            raise TunebookError(f"--trial-timeout must be positive, got {self.trial_timeout_s}")
        if runs_here:
            check_writable_dir(self.runs_dir, "--runs-dir")


@dataclass(frozen=True)
class LoopResult:
    """How the loop ended: trials finished, trials its first sweep re-queued, and the signal
    that stopped it, if one did."""

    finished: int
    requeued: int = 0
    stopped_by: str | None = None

    @property
    def interrupted(self) -> bool:
        return self.stopped_by is not None


class Terminated(KeyboardInterrupt):
    """SIGTERM (Slurm, Kubernetes, ``timeout``): handled exactly like Ctrl-C."""


class Stop(threading.Event):
    """The slots' stop flag, and what set it (``Ctrl-C``, ``SIGTERM``; ``None`` for a slot's
    own error), so a released trial's reason names it."""

    reason: str | None = None

    def halt(self, reason: str | None) -> None:
        self.reason = reason
        self.set()


def next_trial(store: Store, worker: str, study_ids: Sequence[int] | None,
               plans: PlanSource) -> TrialRecord | None:
    """A queued trial, else a new one under budget; its params chosen if they are not yet.

    Returns None when there is no work. A trial re-queued while its sampler was thinking
    is skipped (someone else owns it now).
    """
    while True:
        trial = store.claim(worker, study_ids) or store.reserve(worker, study_ids)
        if trial is None or trial.suggested:
            return trial
        try:
            return choose_params(store, plans(trial.study_id), trial)
        except StaleClaim:
            continue
        except Exception as exc:
            store.release(trial.id, trial.attempts, f"sampler failed: {exc}")
            raise TunebookError(f"the sampler of study {plans(trial.study_id).study.name} "
                                f"failed on trial {trial.index}: {type(exc).__name__}: "
                                f"{exc}") from exc


class Slot(threading.Thread):
    """Runs trials one at a time until there is no work (or it is stopped)."""

    def __init__(self, store: Store, study_ids: Sequence[int] | None, plans: PlanSource,
                 executor: Executor, options: SlotOptions, number: int,
                 stop: Stop, budget: TrialBudget | None,
                 on_finish: Callable[[], None]):
        super().__init__(name=f"tunebook-slot-{number}", daemon=True)
        self.store, self.study_ids, self.plans = store, study_ids, plans
        self.executor, self.options = executor, options
        self.worker = worker_name(number)
        self.env = options.env[number] if number < len(options.env) else {}
        self.stop_event, self.budget, self.on_finish = stop, budget, on_finish
        self.error: BaseException | None = None
        #: The claim this slot holds, (trial id, attempt): the loop's main thread
        #: heartbeats it (:func:`keep_alive`) from the moment it is claimed, whatever the
        #: slot is doing (starting a process can take seconds on a loaded machine).
        self.claim: tuple[int, int] | None = None
        #: A claim the store said is no longer ours: the trial is stopped, not recorded.
        self.lost_claim: tuple[int, int] | None = None

    def run(self) -> None:
        try:
            while not self.stop_event.is_set():
                if self.budget is not None and not self.budget.take():
                    return
                trial = next_trial(self.store, self.worker, self.study_ids, self.plans)
                self.claim = (trial.id, trial.attempts) if trial is not None else None
                if trial is None:
                    if self.budget is not None:
                        self.budget.give_back()
                    if not self.options.wait:
                        return
                    self.stop_event.wait(IDLE_POLL_S)
                    continue
                try:
                    self.run_trial(trial)
                finally:
                    self.claim = None
        except BaseException as exc:
            self.error = exc  # reported by whoever started the slot
            self.stop_event.halt(None)

    def run_trial(self, trial: TrialRecord) -> None:
        plan = self.plans(trial.study_id)
        env = {**os.environ, **self.env} if self.executor.inherits_env else dict(self.env)
        try:
            job = make_job(self.store, plan, trial, self.options.runs_dir, self.worker, env)
        except OSError as exc:  # the trial goes back to the queue, not stuck running
            self.store.release(trial.id, trial.attempts, f"could not prepare its folder: {exc}")
            raise TunebookError(f"cannot write the trial folder under {self.options.runs_dir} "
                                f"({exc.strerror}); pass a writable --runs-dir") from None
        handle = self.executor.start(job, plan)
        timeout = self.options.trial_timeout_s or plan.spec.model.timeout
        code = self._supervise(handle, trial, timeout, plan)
        if code is None:
            return
        if isinstance(code, Pruned):
            self._pruned(plan, trial, code)
        elif code == TIMED_OUT:
            self._timed_out(trial, timeout)
        elif not record_outcome(self.store, plan, trial, job, code):
            return
        self.on_finish()

    def _timed_out(self, trial: TrialRecord, timeout: float | None) -> None:
        with contextlib.suppress(StaleClaim):
            self.store.finish(trial.id, trial.attempts, TrialStatus.FAILED,
                              reason=f"timed out after {describe_duration(timeout or 0)} "
                                     "(the study's timeout, or --trial-timeout); it was "
                                     "stopped and the study went on")

    def _pruned(self, plan: StudyPlan, trial: TrialRecord, why: Pruned) -> None:
        rule = plan.spec.model.pruning
        assert rule is not None  # only a study with a rule prunes
        with contextlib.suppress(StaleClaim):
            self.store.finish(trial.id, trial.attempts, TrialStatus.PRUNED,
                              value=why.threshold, reason=why.reason(rule, plan.objective.metric),
                              metrics=self.store.final_metrics(trial.id))

    def _supervise(self, handle: TrialHandle, trial: TrialRecord, timeout: float | None,
                   plan: StudyPlan) -> int | Pruned | None:
        """Wait for the trial, applying the pruning rule as it runs (the heartbeat is the
        loop's: :func:`keep_alive`); its exit code, :data:`TIMED_OUT`, a :class:`Pruned`,
        or None if stopped or lost."""
        last_beat = started = time.monotonic()
        while True:
            try:
                code = handle.wait(STOP_POLL_S)
            except WorkerLost as lost:
                self.store.lose(trial.id, trial.attempts, str(lost),
                                max_attempts=self.options.max_attempts)
                return None
            if code is not None:
                return code
            if self.stop_event.is_set():
                handle.stop()
                why = self.stop_event.reason or "another slot failed"
                self.store.release(trial.id, trial.attempts, f"interrupted ({why}); re-queued")
                return None
            if timeout is not None and time.monotonic() - started > timeout:
                handle.stop()
                return TIMED_OUT
            if self.lost_claim == (trial.id, trial.attempts):  # re-claimed by another worker
                handle.stop()
                return None
            if time.monotonic() - last_beat < self.options.heartbeat_s:
                continue
            last_beat = time.monotonic()
            if (pruned := pruning.check(self.store, plan, trial)) is not None:
                handle.stop()
                return pruned


def check_writable_dir(folder: Path, option: str) -> None:
    """Create ``folder`` if needed and check it can be written, before any work is done."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TunebookError(f"{option}: cannot create {folder} ({exc.strerror}); pass a "
                            "folder you can write to") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise TunebookError(f"{option}: {folder} is not writable; pass a folder you can "
                            "write to")


def sweep(store: Store, study_ids: Sequence[int] | None, options: SlotOptions) -> list[int]:
    """Re-queue (or give up on) trials whose worker is dead or silent."""
    return store.requeue_stale(study_ids, timeout_s=options.heartbeat_timeout_s,
                               is_dead=worker_is_dead, is_ours=worker_is_ours,
                               max_attempts=options.max_attempts)


def run_slots(store: Store, study_ids: Sequence[int] | None, plans: PlanSource,
              executor: Executor, options: SlotOptions,
              on_tick: Callable[[], None] = lambda: None) -> LoopResult:
    """Run ``options.slots`` slots until there is no work left (or Ctrl-C).

    Lost trials are swept at the start and every few seconds; ``on_tick`` is called a few
    times a second (progress). Ctrl-C stops the trials in flight and re-queues them.
    """
    stop = Stop()
    budget = TrialBudget(options.max_trials) if options.max_trials is not None else None
    finished = [0]
    lock = threading.Lock()

    def count() -> None:
        with lock:
            finished[0] += 1

    slots = [Slot(store, study_ids, plans, executor, options, n, stop, budget, count)
             for n in range(options.slots)]
    requeued = len(sweep(store, study_ids, options))
    with _sigterm_as_interrupt():
        for slot in slots:
            slot.start()
        try:
            _drive(store, study_ids, options, slots, on_tick)
        except KeyboardInterrupt as stopped:
            stop.halt("SIGTERM" if isinstance(stopped, Terminated) else "Ctrl-C")
            for slot in slots:
                slot.join()
    on_tick()
    errors = [slot.error for slot in slots if slot.error is not None]
    if errors:
        raise errors[0]
    return LoopResult(finished[0], requeued, stop.reason)


def _drive(store: Store, study_ids: Sequence[int] | None, options: SlotOptions,
           slots: Sequence[Slot], on_tick: Callable[[], None]) -> None:
    """Tick progress, heartbeat the slots' claims and sweep lost trials until every slot
    is done."""
    every = min(SWEEP_S, options.heartbeat_timeout_s / 2)
    last = beat = time.monotonic()
    while any(slot.is_alive() for slot in slots):
        time.sleep(TICK_S)
        on_tick()
        if time.monotonic() - beat >= min(options.heartbeat_s, options.heartbeat_timeout_s / 3):
            keep_alive(store, slots)
            beat = time.monotonic()
        if time.monotonic() - last > every:
            sweep(store, study_ids, options)
            last = time.monotonic()


def keep_alive(store: Store, slots: Sequence[Slot]) -> None:
    """Heartbeat every claim the slots hold, from the loop's own thread: a trial's
    heartbeat must not depend on how busy its slot (or the trial) is, or another worker
    would take a live trial for lost and run it twice. A claim the store no longer gives
    us is marked, and its slot stops that trial without recording it."""
    for slot in slots:
        claim = slot.claim
        if claim is None:
            continue
        try:
            store.heartbeat(*claim)
        except StaleClaim:
            slot.lost_claim = claim


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """While the loop runs, SIGTERM stops it the way Ctrl-C does (trials re-queued), and
    SIGINT does stop it: a shell starts a background job with SIGINT ignored (and Python
    then installs no handler), yet `kill -INT` or Ctrl-C after `fg` means stop."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def raise_terminated(*_: object) -> None:
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, raise_terminated)
    interrupt = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, interrupt)


def describe_duration(seconds: float) -> str:
    """``2h``, ``1h30m``, ``90s``: a duration as a study file would write it."""
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "") + \
        (f"{secs}s" if secs or not whole else "")
    return text if whole >= 1 else f"{seconds:.3g}s"
