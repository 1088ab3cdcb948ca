"""A long-lived process runs the trainer code on disk now, never the code it first
imported, and records which code each trial ran; idle trial launchers are not kept."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import tunebook_cli, write_study
from tunebook import TrialStatus, load_spec, open_store, run_study
from tunebook.runner import zygote

TRAINER = """
    import helper

    def main(t):
        t.report(1, loss=helper.VALUE)
"""


def _edit(path: Path, text: str) -> None:
    """Rewrite ``path``, its mtime moved on even on a coarse-clock file system."""
    before = path.stat().st_mtime_ns
    path.write_text(text)
    os.utime(path, ns=(before + 2_000_000_000, before + 2_000_000_000))


def _values(store: object, name: str) -> tuple[set[float], set[str | None]]:
    trials = store.trials([store.get_study(name).id])  # type: ignore[attr-defined]
    assert trials and all(t.status is TrialStatus.COMPLETED for t in trials), trials
    return {t.value for t in trials}, {t.code for t in trials}


def test_a_notebook_running_studies_again_runs_the_edited_helper(tmp_path: Path,
                                                                 db_path: str) -> None:
    folder = tmp_path / "s"
    study = write_study(folder, TRAINER, name="a", budget=2)
    (folder / "helper.py").write_text("VALUE = 1.0\n")
    store = open_store(db_path)
    run_study(load_spec(study), store, workers=2)
    _edit(folder / "helper.py", "VALUE = 2.0  # tuned\n")
    run_study(load_spec(write_study(folder, TRAINER, name="b", budget=2)), store, workers=2)
    (a, code_a), (b, code_b) = _values(store, "a"), _values(store, "b")
    assert a == {1.0} and b == {2.0}  # not the helper the first run imported
    assert len(code_a) == len(code_b) == 1 and code_a != code_b and None not in code_a
    out = tunebook_cli("show", "b/0", "--db", db_path, cwd=tmp_path)
    assert out.returncode == 0 and f"code {next(iter(code_b))}" in out.stdout


def test_a_waiting_worker_runs_the_code_pulled_after_it_started(tmp_path: Path,
                                                                db_path: str) -> None:
    folder = tmp_path / "s"
    (folder).mkdir()
    (folder / "helper.py").write_text("VALUE = 1.0\n")
    cli = [sys.executable, "-m", "tunebook.cli"]

    def queue(name: str) -> None:
        path = write_study(folder, TRAINER, name=name, budget=2)
        out = subprocess.run([*cli, "run", str(path), "--db", db_path, "--no-local-workers"],
                             cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr

    def finished(name: str) -> None:
        deadline = time.time() + 120
        store = open_store(db_path, read_only=True)
        while store.counts([store.get_study(name).id]).get(TrialStatus.COMPLETED, 0) < 2:
            assert time.time() < deadline and worker.poll() is None, worker.stderr
            time.sleep(0.1)

    # started before the database or any study exists
    worker = subprocess.Popen([*cli, "worker", "--db", db_path, "--wait", "-w", "1",
                               "--runs-dir", str(tmp_path / "runs")], cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.0)
        assert worker.poll() is None, worker.communicate()  # it waits, it does not exit
        queue("a")
        finished("a")
        _edit(folder / "helper.py", "VALUE = 3.0  # after git pull\n")
        queue("b")
        finished("b")
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.communicate(timeout=60)
    store = open_store(db_path)
    assert _values(store, "a")[0] == {1.0} and _values(store, "b")[0] == {3.0}


def test_idle_trial_launchers_are_closed_not_kept_for_the_life_of_the_process(
        tmp_path: Path, db_path: str) -> None:
    zygote.close_zygotes()
    store = open_store(db_path)
    started = []
    for i in range(5):  # five studies in five folders, as a test suite or notebook runs
        folder = tmp_path / f"s{i}"
        (folder / "helper.py").parent.mkdir(parents=True)
        (folder / "helper.py").write_text(f"VALUE = {i}.0\n")
        run_study(load_spec(write_study(folder, TRAINER, name=f"s{i}", budget=1)), store)
        started += [z for z in zygote._ZYGOTES.values() if z not in started]
    alive = [z for z in started if z.proc.poll() is None]
    assert len(started) == 5 and len(alive) <= zygote.KEEP_IDLE + 1
    zygote.close_zygotes()
    assert all(z.proc.poll() is not None for z in started)
