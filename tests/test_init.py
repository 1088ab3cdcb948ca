"""tunebook init --optimizer: starter spaces that follow the playbook's Adam budget rule."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.conftest import tunebook_cli
from tunebook import TrialStatus, load_spec, open_store, run_study


@pytest.mark.parametrize(("budget", "tuned"), [
    (8, {"learning_rate"}), (30, {"learning_rate", "beta1", "epsilon"}),
    (60, {"learning_rate", "beta1", "epsilon", "beta2"})])
def test_the_adam_space_grows_with_the_budget(tmp_path: Path, budget: int,
                                              tuned: set[str]) -> None:
    out = tunebook_cli("init", "s", "--optimizer", "adam", "--budget", str(budget),
                       cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    text = (tmp_path / "s" / "study.yaml").read_text()
    doc = yaml.safe_load(text)
    assert set(doc["nuisance"]) == tuned and doc["budget"] == budget
    assert doc["fixed"]["optimizer"] == "adam" and "Adam budget rule" in text
    if "beta2" not in tuned:
        assert "not tuned at this budget" in text and "beta2" in text
    assert load_spec(tmp_path / "s" / "study.yaml").model.budget.trials == budget


def test_the_starter_with_an_optimizer_runs(tmp_path: Path, db_path: str) -> None:
    assert tunebook_cli("init", "s", "--optimizer", "adamw", "--budget", "6",
                        cwd=tmp_path).returncode == 0
    run_study(load_spec(tmp_path / "s" / "study.yaml"), open_store(db_path), workers=2)
    store = open_store(db_path)
    trials = store.trials(store.tree("my-study").ids)
    assert len(trials) == 6 and all(t.status.finished for t in trials)
    assert any(t.status is TrialStatus.COMPLETED for t in trials)
    assert {"weight_decay", "learning_rate"} <= set(trials[0].params)


def test_an_unknown_optimizer_is_a_clear_error(tmp_path: Path) -> None:
    out = tunebook_cli("init", "s", "--optimizer", "lion", cwd=tmp_path)
    assert out.returncode != 0 and "unknown optimizer 'lion'" in out.stderr
    assert "Traceback" not in out.stderr and not (tmp_path / "s" / "study.yaml").exists()
