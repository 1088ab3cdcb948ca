"""What the CLI prints and exports: user strings verbatim, full-width tables, every field."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from tests.conftest import tunebook_cli, write_study
from tunebook import load, open_store

TRAINER = """
    def main(t):
        for step in (1, 2, 3):
            t.report(step, loss=t.params["lr"] / step, acc=0.5 + step / 10)
"""
LONG = "a_nuisance_parameter_with_a_name_long_enough_to_be_clipped_in_a_pipe"
HOSTILE = ["[/bold]", "[red]x", "[resnet]"]


@pytest.fixture
def ran(tmp_path: Path, db_path: str) -> tuple[Path, str]:
    path = write_study(tmp_path, TRAINER, budget=3, scientific={"arch": HOSTILE},
                       nuisance={"lr": {"low": 1e-3, "high": 1.0, "scale": "log"},
                                 LONG: {"low": 0.0, "high": 1.0}})
    run = tunebook_cli("run", str(path), "--db", db_path, "--no-progress", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    for value in HOSTILE:  # markup in values is printed as written, not interpreted
        assert value in run.stdout
    return tmp_path, db_path


def test_markup_in_values_is_printed_verbatim(ran: tuple[Path, str]) -> None:
    folder, db = ran
    table = tunebook_cli("trials", "toy", "--db", db, cwd=folder)
    assert table.returncode == 0, table.stderr
    assert all(value in table.stdout for value in HOSTILE)
    for index in range(3):
        shown = tunebook_cli("show", f"toy/{index}", "--db", db, cwd=folder)
        assert shown.returncode == 0, shown.stderr
        assert f"arch = {HOSTILE[index]}" in shown.stdout


def test_tables_in_pipes_are_full_width(ran: tuple[Path, str]) -> None:
    folder, db = ran
    piped = tunebook_cli("trials", "toy", "--db", db, cwd=folder, columns=None)
    assert piped.returncode == 0, piped.stderr
    assert LONG in piped.stdout  # not clipped at 80 columns
    assert max(len(line) for line in piped.stdout.splitlines()) > 120


def test_trial_exports_lose_no_field(ran: tuple[Path, str]) -> None:
    folder, db = ran
    rows = json.loads(tunebook_cli("trials", "toy", "--format", "json", "--db", db,
                                   cwd=folder).stdout)
    store = open_store(db)
    stored = {t.index: t for t in store.trials([store.get_study("toy").id])}
    for row in rows:
        trial = stored[row["index"]]
        assert row["arch"] == trial.params["arch"] and row[LONG] == trial.params[LONG]
        assert row["seed"] == trial.seed and row["value"] == trial.value
        assert row["worker"] == trial.worker and row["attempts"] == 1
        assert row["started"] and row["finished"] and row["duration_s"] >= 0
        assert row["metric.loss"] == trial.metrics["loss"]
        assert row["metric.acc"] == pytest.approx(0.8)
    text = tunebook_cli("trials", "toy", "--format", "csv", "--db", db, cwd=folder).stdout
    header = next(csv.reader(io.StringIO(text)))
    assert len(header) == len(set(header)) == len(rows[0])


def test_show_and_status_export_and_load_gives_dataframes(ran: tuple[Path, str]) -> None:
    folder, db = ran
    store = open_store(db)
    trial = store.get_trial(store.get_study("toy").id, 1)
    points = json.loads(tunebook_cli("show", "toy/1", "--format", "json", "--db", db,
                                     cwd=folder).stdout)
    assert [(p["metric"], p["step"], p["value"]) for p in points] == [
        (p.name, p.step, p.value) for p in store.metric_history(trial.id)]
    text = tunebook_cli("show", "toy/1", "--format", "csv", "--db", db, cwd=folder).stdout
    assert text.splitlines()[0] == "metric,step,value,time" and len(text.splitlines()) == 7
    studies = json.loads(tunebook_cli("status", "--format", "json", "--db", db,
                                      cwd=folder).stdout)
    assert studies[0]["study"] == "toy" and studies[0]["completed"] == 3
    frames = load("toy", db=db)
    assert len(frames.trials) == 3 and set(frames.trials["arch"]) == set(HOSTILE)
    assert len(frames.curves) == 18 and set(frames.curves["metric"]) == {"loss", "acc"}


def test_export_to_a_wrong_target_is_one_line_with_the_fix(ran: tuple[Path, str]) -> None:
    pytest.importorskip("mlflow")
    folder, db = ran
    cases = [("tensorboard", str(folder / "study.yaml"), "is a file: a TensorBoard export"),
             ("mlflow", (folder / "mlruns").as_uri(), "export to a database instead, e.g. "
                                                      "sqlite:///mlflow.db"),
             ("mlflow", "bogus://x", "MLflow cannot use the tracking URI 'bogus://x'")]
    for tool, target, says in cases:
        out = tunebook_cli("export", "toy", "--to", tool, target, "--db", db, cwd=folder)
        assert out.returncode == 1 and says in out.stderr, out.stderr
        assert "Traceback" not in out.stderr


def test_status_at_80_columns_tells_an_autopilots_studies_apart(tmp_path: Path,
                                                                 db_path: str) -> None:
    from tests.synthetic import Fake, make_study

    store = open_store(db_path)
    names = ["digits-mlp-example", "digits-mlp-example-r2", "digits-mlp-example-bayes",
             "digits-mlp-example-seeds"]
    for name in names:
        make_study(store, name, [Fake({"learning_rate": 0.01}, 0.5)])
    out = tunebook_cli("status", "--db", db_path, cwd=tmp_path, columns="80")
    assert out.returncode == 0, out.stderr
    assert max(len(line) for line in out.stdout.splitlines()) <= 80
    shown = [line.split("│")[1].strip() for line in out.stdout.splitlines()
             if line.count("│") > 2 and "digits" in line]
    assert shown == names, out.stdout  # each whole, on one line


def test_the_tracking_sheet_says_how_each_study_was_made(tmp_path: Path, db_path: str) -> None:
    from tests.conftest import QUADRATIC
    from tunebook import load_spec, run_study
    from tunebook.analysis.tracking import tracking_rows
    from tunebook.workflows import rerun, round2

    path = write_study(tmp_path / "s", QUADRATIC, name="base", budget=4, max_steps=3)
    store = open_store(db_path)
    run_study(load_spec(path), store, workers=2)
    rerun(store, "base", seeds=2)
    made = round2(store, "base", steps_factor=2.0, top=1).made.study.name
    commands = {r.name: r.command for r in tracking_rows(store)}
    assert commands["base"] == f"tunebook run {path}"
    assert commands["base-seeds"] == "tunebook rerun base --name base-seeds"  # not base
    assert commands[made] == f"tunebook round2 base --steps-factor 2 --name {made}"
