"""The command line, end to end, as a user runs it (real subprocesses, real training)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

from tests.conftest import REPO, tunebook_cli, write_study


def test_import_is_light_and_fast() -> None:
    code = ("import sys, time; t = time.perf_counter(); import tunebook; "
            "print(time.perf_counter() - t); "
            "print(any(m in sys.modules for m in ('torch', 'sqlalchemy', 'pydantic')))")
    best = min(float(subprocess.run([sys.executable, "-c", code], capture_output=True,
                                    text=True, check=True).stdout.split()[0]) for _ in range(3))
    heavy = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True).stdout.split()[1]
    assert heavy == "False"
    assert best < 0.3


def test_digits_study_end_to_end(tmp_path: Path) -> None:
    """The real digits example through `tunebook run`, then every read command."""
    example = tmp_path / "digits"
    shutil.copytree(REPO / "examples" / "digits", example)
    spec = yaml.safe_load((example / "study.yaml").read_text())
    spec.update(budget=6, max_steps=60, eval_every=20)
    (example / "study.yaml").write_text(yaml.safe_dump(spec))
    db = str(tmp_path / "e2e.db")
    started = time.time()
    run = tunebook_cli("run", str(example / "study.yaml"), "--workers", "2", "--db", db,
                       cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "Best val_error per scientific value" in run.stdout
    for activation in ("relu", "tanh", "gelu"):
        assert activation in run.stdout
    assert time.time() - started < 300

    status = tunebook_cli("status", "--db", db, cwd=tmp_path)
    assert status.returncode == 0 and "digits-activation" in status.stdout
    assert " 6 " in status.stdout  # six completed

    rows = json.loads(tunebook_cli("trials", "digits-activation", "--format", "json",
                                   "--db", db, cwd=tmp_path).stdout)
    assert [r["index"] for r in rows] == list(range(6))
    assert all(r["status"] == "completed" and 0.0 <= r["value"] <= 1.0 for r in rows)
    assert sorted(r["activation"] for r in rows) == ["gelu", "gelu", "relu", "relu", "tanh",
                                                     "tanh"]
    csv_text = tunebook_cli("trials", "digits-activation", "--format", "csv", "--db", db,
                            cwd=tmp_path).stdout
    assert csv_text.splitlines()[0].startswith("study,index,status,value,seed")
    assert len(csv_text.splitlines()) == 7

    show = tunebook_cli("show", "digits-activation/4", "--db", db, cwd=tmp_path)
    assert show.returncode == 0
    for word in ("completed", "learning_rate", "seed", "val_error", "train_loss"):
        assert word in show.stdout
    assert (tmp_path / "e2e-runs" / "digits-activation" / "trial-4" / "output.log").exists()

    report = tunebook_cli("report", "digits-activation", "-o", "r.html", "--png", "png",
                          "--db", db, cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    html = (tmp_path / "r.html").read_text()
    for section in ("Summary", "Checklist", "Isolation plot", "Axis plots", "Training curves",
                    "Gradient norm", "Tracking table"):
        assert f"<h2>{section}</h2>" in html
    assert "Clip the gradient norm at ~" in html  # the toolkit logged grad norms
    assert (tmp_path / "png" / "digits-activation" / "isolation.png").stat().st_size > 1000
    table = tunebook_cli("table", "--format", "md", "--db", db, cwd=tmp_path).stdout
    assert "| digits-activation |" in table and "tunebook run " in table


def test_errors_are_one_line_without_traceback(tmp_path: Path) -> None:
    db = str(tmp_path / "x.db")
    absent = tunebook_cli("status", "--db", db, cwd=tmp_path)
    assert absent.returncode == 1 and "no tunebook database at" in absent.stderr
    assert not Path(db).exists()  # looking did not create one
    tunebook_cli("init", "s", cwd=tmp_path)
    assert tunebook_cli("run", "s/study.yaml", "--db", db, cwd=tmp_path).returncode == 0
    missing = tunebook_cli("show", "nope/1", "--db", db, cwd=tmp_path)
    assert missing.returncode == 1
    assert "no study named 'nope'" in missing.stderr and "my-study" in missing.stderr
    assert "Traceback" not in missing.stderr
    garbage = tmp_path / "garbage.db"
    garbage.write_text("not a database at all " * 100)
    bad = tunebook_cli("status", "--db", str(garbage), cwd=tmp_path)
    assert bad.returncode == 1 and "not a tunebook database" in bad.stderr
    debug = tunebook_cli("--debug", "status", "--db", str(garbage), cwd=tmp_path)
    assert "Traceback" in debug.stderr
    for url, says in ((str(tmp_path), "is a folder, not a database file"),
                      ("bogus://x", "is not a database tunebook can open"),
                      ("not a url://", "is not a database URL"),
                      ("postgresql+asyncpg://u@h/d", "needs a database driver")):
        wrong = tunebook_cli("status", "--db", url, cwd=tmp_path)
        assert wrong.returncode == 1 and says in wrong.stderr, wrong.stderr
        assert "Traceback" not in wrong.stderr


def test_init_writes_a_study_that_runs(tmp_path: Path) -> None:
    made = tunebook_cli("init", "starter", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    again = tunebook_cli("init", "starter", cwd=tmp_path)
    assert again.returncode == 1 and "--force" in again.stderr
    run = tunebook_cli("run", "starter/study.yaml", "-w", "2", cwd=tmp_path,
                       env={"TUNEBOOK_DB": str(tmp_path / "env.db")})
    assert run.returncode == 0, run.stderr
    rows = json.loads(tunebook_cli("trials", "my-study", "--format", "json", cwd=tmp_path,
                                   env={"TUNEBOOK_DB": str(tmp_path / "env.db")}).stdout)
    assert len(rows) == 20
    statuses = {r["status"] for r in rows}
    assert "completed" in statuses and "infeasible" in statuses  # lr > 0.05 diverges
    by_hand = subprocess.run([sys.executable, "train.py"], cwd=tmp_path / "starter",
                             capture_output=True, text=True)
    assert by_hand.returncode == 0 and "[tunebook local] step 50" in by_hand.stderr


def test_help_teaches() -> None:
    out = tunebook_cli("--help", cwd=REPO).stdout
    for command in ("demo", "run", "status", "trials", "show", "init"):
        assert command in out
    assert "quasi-random" in out
    assert "re-queued" in tunebook_cli("run", "--help", cwd=REPO).stdout


def test_charlm_example_trains_through_the_runner(tmp_path: Path) -> None:
    example = tmp_path / "charlm"
    shutil.copytree(REPO / "examples" / "charlm", example)
    spec = yaml.safe_load((example / "study.yaml").read_text())
    spec.update(budget=3, max_steps=20, eval_every=10)
    spec["nuisance"]["warmup_steps"]["high"] = 10  # warmup must fit in 20 steps
    (example / "study.yaml").write_text(yaml.safe_dump(spec))
    db = str(tmp_path / "lm.db")
    run = tunebook_cli("run", str(example / "study.yaml"), "-w", "2", "--db", db, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    rows = json.loads(tunebook_cli("trials", "charlm-schedule", "--format", "json", "--db", db,
                                   cwd=tmp_path).stdout)
    assert sorted(r["schedule"] for r in rows) == ["constant", "cosine", "linear"]
    assert all(r["status"] == "completed" and 0 < r["value"] < 6.0 for r in rows)  # < ln 256
    show = tunebook_cli("show", "charlm-schedule/0", "--db", db, cwd=tmp_path).stdout
    for metric in ("grad_norm", "clipped", "train_loss", "lr", "val_bits_per_byte"):
        assert metric in show


ALWAYS_FAILS = """
def main(t):
    raise RuntimeError("the data folder is missing")
"""


def test_a_run_whose_every_trial_fails_exits_1_with_the_reasons(tmp_path: Path,
                                                               db_path: str) -> None:
    study = write_study(tmp_path, ALWAYS_FAILS, budget=3)
    out = tunebook_cli("run", str(study), "--db", db_path, "--no-progress", cwd=tmp_path)
    assert out.returncode == 1, out.stdout
    assert "none of the 3 finished trials of toy completed" in out.stderr
    assert "the data folder is missing" in out.stderr
    assert "tunebook trials toy --status failed" in out.stderr
    assert "Traceback" not in out.stderr


def test_a_binary_study_file_and_an_empty_dashboard_token_are_refused_plainly(
        tmp_path: Path, db_path: str) -> None:
    binary = tmp_path / "study.yaml"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe")
    out = tunebook_cli("run", str(binary), "--db", db_path, cwd=tmp_path)
    assert out.returncode == 1 and "not a text file" in out.stderr
    assert "Traceback" not in out.stderr
    out = tunebook_cli("dashboard", "--host", "0.0.0.0", "--token", "", "--db", db_path,
                       cwd=tmp_path, timeout=60)
    assert out.returncode != 0 and "--token (or TUNEBOOK_DASHBOARD_TOKEN) is empty" in out.stderr
