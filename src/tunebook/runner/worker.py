"""A worker slot: claim a trial, run it in its own process, heartbeat, record the outcome.

One slot runs one trial at a time; ``tunebook run --workers N`` runs N slots as threads
of one process. Threads only wait and talk to the store: training happens in the trial
processes, forked by a zygote that has tunebook and the trainer's module preloaded.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tunebook.context import TrialInfo
from tunebook.errors import StaleClaim
from tunebook.runner import outcome
from tunebook.runner.job import TrialJob
from tunebook.runner.plan import PlanSource, StudyPlan
from tunebook.runner.zygote import TrialProcess, Zygote
from tunebook.store import Store, TrialRecord, TrialStatus

HOST = socket.gethostname()
TERMINATE_GRACE_S = 5.0
STOP_POLL_S = 0.1
IDLE_POLL_S = 2.0
LOG_TAIL_BYTES = 4000


def worker_name(slot: int) -> str:
    """``host:pid:slot``: enough to tell later whether this worker is still alive."""
    return f"{HOST}:{os.getpid()}:{slot}"


def worker_is_dead(worker: str) -> bool:
    """True when ``worker`` ran on this host in a process that no longer exists."""
    host, _, rest = worker.partition(":")
    pid_text = rest.partition(":")[0]
    if host != HOST or not pid_text.isdigit() or int(pid_text) == os.getpid():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@dataclass(frozen=True)
class WorkerConfig:
    """Settings shared by the slots of one worker process."""

    runs_dir: Path
    launcher: Zygote
    heartbeat_s: float = 2.0


FinishCallback = Callable[[TrialRecord, outcome.Outcome], None]


class TrialBudget:
    """A thread-safe count of trials a worker may still start (``--max-trials``)."""

    def __init__(self, total: int):
        self._left = total
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            if self._left <= 0:
                return False
            self._left -= 1
            return True

    def give_back(self) -> None:
        with self._lock:
            self._left += 1


class Slot(threading.Thread):
    """Runs queued trials one at a time until the queue is empty (or stopped).

    Args:
        study_ids: only claim trials of these studies (``None``: any study).
        plans: how to run a study's trials, by study id.
        env: extra environment for this slot's trials (e.g. ``CUDA_VISIBLE_DEVICES``).
        budget: a shared counter of trials this worker may still start (``None``: no cap).
        wait: poll for new trials instead of returning when the queue is empty.
    """

    def __init__(self, store: Store, study_ids: list[int] | None, plans: PlanSource,
                 config: WorkerConfig, slot: int, stop: threading.Event, *,
                 on_finish: FinishCallback | None = None, env: dict[str, str] | None = None,
                 budget: TrialBudget | None = None, wait: bool = False):
        super().__init__(name=f"tunebook-slot-{slot}", daemon=True)
        self.store, self.study_ids, self.plans, self.config = store, study_ids, plans, config
        self.worker = worker_name(slot)
        self.stop_event = stop
        self.on_finish = on_finish
        self.env = env or {}
        self.budget = budget
        self.wait = wait
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stop_event.is_set():
                if self.budget is not None and not self.budget.take():
                    return
                trial = self.store.claim(self.worker, self.study_ids)
                if trial is None:
                    if self.budget is not None:
                        self.budget.give_back()
                    if not self.wait:
                        return
                    self.stop_event.wait(IDLE_POLL_S)
                    continue
                self.run_trial(trial)
        except BaseException as exc:
            self.error = exc  # reported by whoever started the slot
            self.stop_event.set()

    def run_trial(self, trial: TrialRecord) -> None:
        plan = self.plans(trial.study_id)
        job = self._job(plan, trial)
        process = self.config.launcher.spawn(job)
        if not self._supervise(process, trial):
            return
        out = record_outcome(self.store, plan, trial, job, process.exitcode)
        if out is not None and self.on_finish is not None:
            self.on_finish(trial, out)

    def _supervise(self, process: TrialProcess, trial: TrialRecord) -> bool:
        """Wait for the trial process, heartbeating; False if it was stopped or lost."""
        last_beat = time.monotonic()
        while True:
            if process.wait(STOP_POLL_S) is not None:
                return True
            if self.stop_event.is_set():
                _terminate(process)
                self.store.release(trial.id, trial.attempts, "interrupted (Ctrl-C); re-queued")
                return False
            if time.monotonic() - last_beat < self.config.heartbeat_s:
                continue
            last_beat = time.monotonic()
            try:
                self.store.heartbeat(trial.id, trial.attempts)
            except StaleClaim:
                _terminate(process)
                return False

    def _job(self, plan: StudyPlan, trial: TrialRecord) -> TrialJob:
        return make_job(self.store, plan, trial, self.config.runs_dir, self.worker,
                        {**os.environ, **self.env})


def record_outcome(store: Store, plan: StudyPlan, trial: TrialRecord, job: TrialJob,
                   exitcode: int | None) -> outcome.Outcome | None:
    """Turn a finished trial process into its recorded outcome (None: the claim was lost)."""
    result = _read_json(Path(job.info.result_path))
    tail = _log_tail(Path(job.log_path))
    if result is None:
        out = outcome.died(exitcode, tail)
    else:
        out = outcome.decide(result, plan.objective,
                             store.metric_history(trial.id, plan.objective["metric"]),
                             store.final_metrics(trial.id), tail)
    try:
        store.finish(trial.id, trial.attempts, out.status, value=out.value,
                     reason=out.reason, metrics=out.metrics)
    except StaleClaim:
        return None
    return out


def make_job(store: Store, plan: StudyPlan, trial: TrialRecord, runs_dir: Path, worker: str,
             env: dict[str, str]) -> TrialJob:
    """The trial's folder (log, result file, checkpoints) and everything its process needs."""
    run_dir = runs_dir / plan.study.name / f"trial-{trial.index}"
    run_dir.mkdir(parents=True, exist_ok=True)
    result_path = run_dir / f"result-{trial.attempts}.json"
    result_path.unlink(missing_ok=True)
    log_path = run_dir / "output.log"
    with log_path.open("a") as log:
        log.write(f"=== {plan.study.name} trial {trial.index} attempt {trial.attempts} "
                  f"on {worker} ===\n")
    checkpoint_dir = run_dir / "checkpoints"
    info = TrialInfo(db_url=store.url, trial_id=trial.id, attempt=trial.attempts,
                     study=plan.study.name, index=trial.index, seed=trial.seed,
                     params=plan.plain_params(trial), checkpoint_dir=str(checkpoint_dir),
                     result_path=str(result_path), max_steps=plan.spec.model.max_steps,
                     eval_every=plan.spec.model.eval_every)
    return TrialJob(info=info, train=plan.spec.model.trainer.train,
                    command=plan.command_for(trial, checkpoint_dir),
                    source_dir=plan.source_dir, log_path=str(log_path),
                    worker_pid=os.getpid(), env=env)


def _terminate(process: TrialProcess) -> None:
    process.signal(signal.SIGTERM)
    if process.wait(TERMINATE_GRACE_S) is None:
        process.signal(signal.SIGKILL)
        process.wait()


def _read_json(path: Path) -> dict[str, object] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _log_tail(path: Path) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(max(path.stat().st_size - LOG_TAIL_BYTES, 0))
            return handle.read().decode(errors="replace")
    except OSError:
        return ""


__all__ = ["Slot", "TrialBudget", "TrialStatus", "WorkerConfig", "worker_is_dead",
           "worker_name"]
