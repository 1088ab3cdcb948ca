"""The Ray executor on a local Ray instance on 127.0.0.1, with a Ray worker killed mid-trial."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import write_study
from tunebook import TrialStatus, open_store

pytest.importorskip("ray")

TRAINER = """
    import os, time
    from pathlib import Path

    def main(t):
        marks = Path(os.environ["MARKS"])
        (marks / f"ray-worker-{t.index}-{os.getppid()}").touch()
        for step in range(1, 6):
            time.sleep(0.4)
            t.report(step, loss=t.params["lr"] * step)
        (marks / f"done-{t.index}-{os.getpid()}").touch()
"""


def test_ray_executor_survives_a_killed_ray_worker(tmp_path: Path, db_path: str) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    path = write_study(tmp_path, TRAINER, budget=4, resources={"cpus": 1})
    env = {**os.environ, "MARKS": str(marks), "RAY_USAGE_STATS_ENABLED": "0"}
    run = subprocess.Popen([sys.executable, "-m", "tunebook.cli", "run", str(path), "--db",
                            db_path, "--executor", "ray", "--address", "local", "-w", "2",
                            "--no-progress"], env=env, cwd=tmp_path, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 180
    while not list(marks.glob("ray-worker-0-*")):
        assert time.time() < deadline and run.poll() is None, "the Ray run ended early"
        time.sleep(0.1)
    victim = int(next(marks.glob("ray-worker-0-*")).name.rsplit("-", 1)[1])
    time.sleep(0.5)
    os.kill(victim, signal.SIGKILL)  # the Ray worker running trial 0
    _, err = run.communicate(timeout=300)
    assert run.returncode == 0, err
    store = open_store(db_path)
    trials = {t.index: t for t in store.trials([store.get_study("toy").id])}
    assert all(t.status is TrialStatus.COMPLETED for t in trials.values()), [
        t.reason for t in trials.values()]
    assert trials[0].attempts == 2 and "Ray worker died" in trials[0].warnings[0]
    done = sorted(int(p.name.split("-")[1]) for p in marks.glob("done-*"))
    assert done == [0, 1, 2, 3]  # each trial finished exactly once
    assert [p.step for p in store.metric_history(trials[0].id)] == [1, 2, 3, 4, 5]
