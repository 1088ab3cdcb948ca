"""``tunebook run --executor ray``: every trial a Ray task on a Ray cluster.

The driver (``tunebook run``) runs the same slot loop as local workers
(:mod:`tunebook.runner.slots`): its slots claim trials, heartbeat them and record their
outcomes; only starting a trial differs: one Ray task per trial with the study's
``resources``. The task runs the trial in a child process
(:mod:`tunebook.runner._raychild`). A Ray worker that dies mid-trial (killed, node lost)
is reported to the store, whose lost-trial policy re-queues the trial or, after
``max_attempts``, fails it. Trial folders must be on storage every node sees.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from tunebook.errors import TunebookError, WorkerLost
from tunebook.runner.job import TrialJob
from tunebook.runner.plan import StudyPlan


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


class RayTrial:
    """A trial running as a Ray task (the handle the slot loop waits on)."""

    def __init__(self, ref: Any, attempt: int):
        self.ref, self.attempt = ref, attempt

    def wait(self, timeout: float) -> int | None:
        ray = _ray()
        ready, _ = ray.wait([self.ref], num_returns=1, timeout=timeout)
        if not ready:
            return None
        try:
            return int(ray.get(self.ref))
        except ray.exceptions.RayError as exc:
            raise WorkerLost(f"Ray worker died during attempt {self.attempt}: "
                             f"{type(exc).__name__}") from None

    def stop(self) -> None:
        _ray().cancel(self.ref, force=True)


class RayExecutor:
    """Each trial a Ray task with its study's resources (``num_cpus``, ``num_gpus``)."""

    inherits_env = False  # a Ray worker has its own environment

    def start(self, job: TrialJob, plan: StudyPlan) -> RayTrial:
        resources = plan.spec.model.resources
        task = _ray().remote(num_cpus=resources.cpus, num_gpus=resources.gpus,
                             max_retries=0)(_run_trial)
        return RayTrial(task.remote(job), job.info.attempt)


def cluster_slots(cpus_per_trial: float, gpus_per_trial: float) -> int:
    """How many trials the cluster fits at once, by its CPUs (and GPUs when asked for)."""
    resources = _ray().cluster_resources()
    fits = [resources.get("CPU", 1.0) / cpus_per_trial] if cpus_per_trial else []
    if gpus_per_trial:
        fits.append(resources.get("GPU", 0.0) / gpus_per_trial)
    return max(1, int(min(fits))) if fits else 1
