"""``tunebook run --executor ray``: every trial a Ray task on a Ray cluster.

The driver (``tunebook run``) claims trials from the shared store, submits one Ray task
per trial with the study's ``resources`` (``num_cpus``/``num_gpus``), heartbeats the trials
in flight, and records each outcome exactly as local workers do. The task runs the trial
in a child process (:mod:`tunebook.runner._raychild`). A Ray worker that dies mid-trial
(killed, node lost) re-queues its trial; after ``max_attempts`` the trial is failed.
Trial folders (logs, results, checkpoints) must be on storage every node sees.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tunebook.errors import StaleClaim, TunebookError
from tunebook.runner.job import TrialJob
from tunebook.runner.plan import PlanSource, StudyPlan
from tunebook.runner.worker import make_job, record_outcome, worker_name
from tunebook.store import Store, TrialRecord, TrialStatus

HEARTBEAT_S = 2.0


def _ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise TunebookError("the Ray executor needs Ray: pip install 'tunebook[ray]'") from exc
    return ray


def _run_trial(job: TrialJob) -> int:
    """Body of the Ray task: run the trial in a child process; its exit code."""
    import pickle
    import subprocess
    import sys

    job = dataclasses.replace(job, worker_pid=os.getpid())
    done = subprocess.run([sys.executable, "-m", "tunebook.runner._raychild"],
                          input=pickle.dumps(job), cwd=job.source_dir, check=False)
    return done.returncode


def connect(address: str | None) -> None:
    """Join a Ray cluster (``auto``, ``ray://host:port``) or start a local one (``local``)."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # nothing leaves the machine
    ray = _ray()
    if ray.is_initialized():
        return
    if address in (None, "local"):
        ray.init(include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
    else:
        ray.init(address=address, log_to_driver=False)


class RayExecutor:
    """Keeps up to ``slots`` trials in flight on the cluster until the queue is empty."""

    def __init__(self, store: Store, study_ids: list[int], plans: PlanSource, runs_dir: Path,
                 slots: int, max_attempts: int):
        self.store, self.study_ids, self.plans = store, study_ids, plans
        self.runs_dir, self.slots, self.max_attempts = runs_dir, slots, max_attempts
        self.worker = worker_name(0).rsplit(":", 1)[0] + ":ray"
        self.in_flight: dict[Any, tuple[TrialRecord, TrialJob, StudyPlan]] = {}

    def _submit(self) -> bool:
        trial = self.store.claim(self.worker, self.study_ids)
        if trial is None:
            return False
        plan = self.plans(trial.study_id)
        job = make_job(self.store, plan, trial, self.runs_dir, self.worker, {})
        resources = plan.spec.model.resources
        task = _ray().remote(num_cpus=resources.cpus, num_gpus=resources.gpus,
                             max_retries=0)(_run_trial)
        self.in_flight[task.remote(job)] = (trial, job, plan)
        return True

    def _collect(self, ref: Any) -> None:
        ray = _ray()
        trial, job, plan = self.in_flight.pop(ref)
        try:
            code = ray.get(ref)
        except ray.exceptions.RayError as exc:
            self._lost(trial, f"Ray worker died during attempt {trial.attempts}: "
                              f"{type(exc).__name__}")
            return
        record_outcome(self.store, plan, trial, job, code)

    def _lost(self, trial: TrialRecord, why: str) -> None:
        if trial.attempts >= self.max_attempts:
            with contextlib.suppress(StaleClaim):
                self.store.finish(trial.id, trial.attempts, TrialStatus.FAILED,
                                  reason=f"gave up after {trial.attempts} attempts: {why}")
            return
        self.store.add_warning(trial.id, why)
        self.store.release(trial.id, trial.attempts, f"re-queued: {why}")

    def run(self, tick: Callable[[], None] = lambda: None) -> None:
        ray = _ray()
        last_beat = time.monotonic()
        while True:
            while len(self.in_flight) < self.slots and self._submit():
                pass
            if not self.in_flight:
                return
            ready, _ = ray.wait(list(self.in_flight), num_returns=1, timeout=0.5)
            for ref in ready:
                self._collect(ref)
            if time.monotonic() - last_beat > HEARTBEAT_S:
                for trial, _, _ in self.in_flight.values():
                    with contextlib.suppress(StaleClaim):
                        self.store.heartbeat(trial.id, trial.attempts)
                last_beat = time.monotonic()
            tick()

    def cancel(self) -> None:
        """Ctrl-C: cancel the tasks in flight and put their trials back in the queue."""
        ray = _ray()
        for ref, (trial, _, _) in list(self.in_flight.items()):
            ray.cancel(ref, force=True)
            self.store.release(trial.id, trial.attempts, "interrupted (Ctrl-C); re-queued")
        self.in_flight.clear()


def cluster_slots(cpus_per_trial: float, gpus_per_trial: float) -> int:
    """How many trials the cluster fits at once, by its CPUs (and GPUs when asked for)."""
    resources = _ray().cluster_resources()
    fits = [resources.get("CPU", 1.0) / cpus_per_trial] if cpus_per_trial else []
    if gpus_per_trial:
        fits.append(resources.get("GPU", 0.0) / gpus_per_trial)
    return max(1, int(min(fits))) if fits else 1
