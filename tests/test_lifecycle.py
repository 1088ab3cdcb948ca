"""A study's life after its first run: retry after a fix, a lowered budget, delete."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import tunebook_cli, write_study
from tunebook import TrialStatus, open_store

BUGGY = """
    import os

    def main(t):
        if t.index % 2 and not os.path.exists("fixed"):
            raise RuntimeError("bug in the trainer")
        t.report(1, loss=t.params["lr"])
"""


def test_retry_after_a_fix_then_delete(tmp_path: Path, db_path: str) -> None:
    path = write_study(tmp_path, BUGGY, budget=4)
    first = tunebook_cli("run", str(path), "--db", db_path, "--no-progress", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    store = open_store(db_path)
    study = store.get_study("toy")
    assert store.counts([study.id])[TrialStatus.FAILED] == 2

    (tmp_path / "fixed").touch()
    nothing = tunebook_cli("run", str(path), "--db", db_path, "--no-progress", cwd=tmp_path)
    assert store.counts([study.id])[TrialStatus.FAILED] == 2, nothing.stderr  # as before
    retried = tunebook_cli("retry", "toy", "--db", db_path, cwd=tmp_path)
    assert retried.returncode == 0 and "re-queued 2 trials" in retried.stdout, retried.stderr
    again = tunebook_cli("run", str(path), "--db", db_path, "--no-progress", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    trials = {t.index: t for t in store.trials([study.id])}
    assert all(t.status is TrialStatus.COMPLETED for t in trials.values())
    assert trials[1].attempts == 2 and "RuntimeError" in trials[1].warnings[0]
    shown = tunebook_cli("show", "toy/1", "--db", db_path, cwd=tmp_path).stdout
    assert "attempt 1: failed (RuntimeError: bug in the trainer)" in shown

    lowered = write_study(tmp_path, BUGGY, budget=2)
    note = tunebook_cli("run", str(lowered), "--db", db_path, "--no-progress", cwd=tmp_path)
    assert "already has 4 trials, more than its budget of 2; nothing was removed" in \
        note.stdout.replace("\n", " ")

    refused = tunebook_cli("delete", "toy", "--db", db_path, cwd=tmp_path, input="n\n")
    assert refused.returncode == 1 and store.find_study("toy") is not None
    runs = tmp_path / "tunebook-runs" / "toy"
    assert runs.is_dir()
    gone = tunebook_cli("delete", "toy", "--yes", "--files", "--db", db_path, cwd=tmp_path)
    assert gone.returncode == 0 and "4 trials, 1 run folders" in gone.stdout, gone.stderr
    assert store.find_study("toy") is None and not runs.exists()
    assert store.trials([study.id]) == []


UNSTABLE = """
    import tunebook

    def main(t):
        if t.params["lr"] > 0.01:
            raise tunebook.Infeasible("the loss diverged")
        t.report(1, loss=t.params["lr"])
"""


def test_retry_of_a_study_with_only_infeasible_trials_says_how(tmp_path: Path,
                                                               db_path: str) -> None:
    path = write_study(tmp_path, UNSTABLE, budget=6)
    tunebook_cli("run", str(path), "--db", db_path, "--no-progress", cwd=tmp_path)
    infeasible = open_store(db_path).counts([open_store(db_path).get_study("toy").id])[
        TrialStatus.INFEASIBLE]
    assert infeasible > 0
    retried = tunebook_cli("retry", "toy", "--db", db_path, cwd=tmp_path)
    said = " ".join(retried.stdout.split())
    assert retried.returncode == 0 and "no failed trials to re-queue in toy" in said
    assert (f"It has {infeasible} infeasible: re-queue them with `tunebook retry toy "
            "--status failed,infeasible`") in said, said


SLOW = """
    import time

    def main(t):
        for step in range(1, 40):
            time.sleep(0.1)
            t.report(step, loss=t.params["lr"])
"""


def test_delete_refuses_a_study_being_run_and_the_run_says_it_vanished(
        tmp_path: Path, db_path: str) -> None:
    import subprocess
    import sys
    import time

    path = write_study(tmp_path, SLOW, budget=6)
    run = subprocess.Popen([sys.executable, "-m", "tunebook.cli", "run", str(path), "--db",
                            db_path, "--no-progress"], cwd=tmp_path, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    store = open_store(db_path)
    deadline = time.time() + 60
    while time.time() < deadline:
        study = store.find_study("toy")
        if study and store.counts([study.id]).get(TrialStatus.RUNNING):
            break
        time.sleep(0.1)
    refused = tunebook_cli("delete", "toy", "--yes", "--db", db_path, cwd=tmp_path)
    assert refused.returncode == 1 and "1 running trial(s): a run is working" in refused.stderr
    assert store.find_study("toy") is not None
    forced = tunebook_cli("delete", "toy", "--yes", "--force", "--db", db_path, cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    out, err = run.communicate(timeout=60)
    assert run.returncode == 1 and "was deleted while this run worked on it" in err, (out, err)
    assert "Traceback" not in err
