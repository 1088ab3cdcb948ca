"""Experiments: a study file names the question a series of studies answers together."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from tests.conftest import QUADRATIC, tunebook_cli, write_study
from tunebook import load_spec, open_store, run_study
from tunebook.dashboard import create_app
from tunebook.report import write_report
from tunebook.workflows import rerun_study

SCIENTIFIC = {"act": ["relu", "gelu"]}


def test_studies_group_by_experiment_across_rounds(tmp_path: Path, db_path: str) -> None:
    store = open_store(db_path)
    first = write_study(tmp_path / "a", QUADRATIC, name="act-1", experiment="act", budget=4,
                        scientific=SCIENTIFIC)
    run_study(load_spec(first), store)
    run_study(load_spec(write_study(tmp_path / "b", QUADRATIC, name="other", budget=2)), store)
    run_study(load_spec(write_study(tmp_path / "c", QUADRATIC, name="act-2",
                                    experiment="act", budget=2)), store)
    child = rerun_study(store, "act-1", seeds=2)
    assert child.spec.model.experiment == "act"  # a later round stays in its experiment

    table = tunebook_cli("table", "--db", db_path, cwd=tmp_path).stdout
    order = [line.split("|")[2].strip() for line in table.splitlines()[2:]]
    assert order == ["act-1", "act-2", "act-1-seeds", "other"]
    assert table.splitlines()[0].startswith("| experiment | study |")
    only = tunebook_cli("table", "--experiment", "act", "--db", db_path, cwd=tmp_path).stdout
    assert "other" not in only and only.count("| act |") == 3

    html = write_report(store, ["act-1"], tmp_path / "r.html").read_text()
    assert "<b>Experiment:</b> <bdi>act</bdi>" in html
    rows = TestClient(create_app(db_path), base_url="http://127.0.0.1").get(
        "/api/studies").json()
    assert {r["name"]: r["experiment"] for r in rows} == {
        "act-1": "act", "other": None, "act-2": "act", "act-1-seeds": "act"}


def test_the_experiment_may_change_between_runs(tmp_path: Path, db_path: str) -> None:
    store = open_store(db_path)
    run_study(load_spec(write_study(tmp_path / "a", QUADRATIC, name="s", budget=2)), store)
    renamed = write_study(tmp_path / "a", QUADRATIC, name="s", budget=3, experiment="later")
    run_study(load_spec(renamed), store)  # a label, not part of the study's identity
    assert len(store.trials([store.get_study("s").id])) == 3
