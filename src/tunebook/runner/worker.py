"""What a slot does around a trial: name itself, prepare the job, record the outcome.

The loop that calls these is :mod:`tunebook.runner.slots`.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import threading
from pathlib import Path

from tunebook.context import TrialInfo
from tunebook.errors import StaleClaim
from tunebook.records import TrialRecord
from tunebook.runner import outcome
from tunebook.runner.devices import ENV
from tunebook.runner.job import TrialJob
from tunebook.runner.plan import StudyPlan
from tunebook.store import Store

HOST = socket.gethostname()
LOG_TAIL_BYTES = 4000


def worker_name(slot: int) -> str:
    """``host:pid:slot``: enough to tell later whether this worker is still alive."""
    return f"{HOST}:{os.getpid()}:{slot}"


def worker_is_ours(worker: str) -> bool:
    """True when ``worker`` is a slot of this very process (``host:pid:slot``)."""
    return worker.startswith(f"{HOST}:{os.getpid()}:")


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


def record_outcome(store: Store, plan: StudyPlan, trial: TrialRecord, job: TrialJob,
                   exitcode: int | None) -> outcome.Outcome | None:
    """Turn a finished trial process into its recorded outcome (None: the claim was lost)."""
    result = _read_json(Path(job.info.result_path))
    tail = _log_tail(Path(job.log_path))
    if result is None:
        out = outcome.died(exitcode, tail)
    else:
        out = outcome.decide(result, plan.objective,
                             store.metric_history(trial.id, plan.objective.metric),
                             store.final_metrics(trial.id), tail)
    try:
        store.finish(trial.id, trial.attempts, out.status, value=out.value,
                     reason=out.reason, metrics=out.metrics,
                     code=str(result["code"]) if result and result.get("code") else None,
                     devices=job.env.get(ENV) or None)
    except StaleClaim:
        return None
    return out


#: A folder name longer than this (in bytes) is shortened: file systems refuse past 255,
#: and a per-value study's name carries its values.
FOLDER_BYTES = 150


def study_folder(runs_dir: Path, name: str) -> Path:
    """Where a study's trial folders go: its name, or for a long one its start and a hash
    of the whole (so two long names never share a folder)."""
    if len(name.encode()) <= FOLDER_BYTES:
        return runs_dir / name
    digest = hashlib.sha1(name.encode()).hexdigest()[:12]
    start = name.encode()[:FOLDER_BYTES - 20].decode(errors="ignore")
    return runs_dir / f"{start}-{digest}"


def make_job(store: Store, plan: StudyPlan, trial: TrialRecord, runs_dir: Path, worker: str,
             env: dict[str, str]) -> TrialJob:
    """The trial's folder (log, result file, checkpoints) and everything its process needs."""
    run_dir = study_folder(runs_dir, plan.study.name) / f"trial-{trial.index}"
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


