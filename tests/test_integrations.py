"""Lightning and Hugging Face callbacks in real tunebook runs; exports read back with
TensorBoard's and MLflow's own readers."""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO
from tunebook import TrialStatus, load_spec, open_store, run_study

LIGHTNING = REPO / "examples" / "lightning"
HF = REPO / "examples" / "transformers"


def _study(src: Path, folder: Path, **changes: Any) -> Path:
    """A copy of an example study (its trainer beside it) with some fields changed."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.py").write_text((src / "train.py").read_text())
    data = yaml.safe_load((src / "study.yaml").read_text()) | changes
    path = folder / "study.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def lightning_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    tmp = tmp_path_factory.mktemp("lightning")
    db = str(tmp / "t.db")
    run_study(load_spec(_study(LIGHTNING, tmp / "study", budget=2)), open_store(db))
    return db, tmp


def _points(db: str, study: str, index: int) -> dict[str, dict[int, float]]:
    store = open_store(db, read_only=True)
    trial = store.get_trial(store.get_study(study).id, index)
    assert trial is not None
    out: dict[str, dict[int, float]] = {}
    for p in store.metric_history(trial.id):
        out.setdefault(p.name, {})[p.step] = p.value
    return out


def test_lightning_metrics_in_the_store_are_what_lightning_logged(
        lightning_run: tuple[str, Path]) -> None:
    db, tmp = lightning_run
    store = open_store(db, read_only=True)
    trials = store.trials([store.get_study("lightning-digits").id])
    assert [t.status for t in trials] == [TrialStatus.COMPLETED] * 2
    for trial in trials:
        stored = _points(db, "lightning-digits", trial.index)
        logged = next((tmp / "t-runs").glob(f"lightning-digits/trial-{trial.index}/csv/*/"
                                            "metrics.csv"))
        rows = list(csv.DictReader(logged.open()))
        compared = 0
        for row in rows:
            for name in ("train_loss", "val_loss", "val_error"):
                if row.get(name):
                    assert stored[name][int(row["step"])] == pytest.approx(float(row[name]),
                                                                           rel=1e-6)
                    compared += 1
        assert compared >= 20 and len(stored["val_loss"]) == 6
        assert len(stored["grad_norm"]) == 60 and set(stored["clipped"].values()) == {0.0}
        assert trial.value == min(stored["val_loss"].values())
        kept = store.checkpoints(trial.id)
        assert kept and all(Path(c.path).exists() for c in kept if c.kept)


def test_a_diverging_lightning_run_is_infeasible_with_its_step(tmp_path: Path) -> None:
    study = _study(LIGHTNING, tmp_path / "s", name="lightning-diverges", budget=1,
                   fixed={"hidden": 64, "batch_size": 64, "learning_rate": 1.0e4},
                   nuisance={"weight_decay": {"low": 1e-6, "high": 1e-5, "scale": "log"}})
    db = str(tmp_path / "t.db")
    run_study(load_spec(study), open_store(db))
    store = open_store(db)
    [trial] = store.trials([store.get_study("lightning-diverges").id])
    assert trial.status is TrialStatus.INFEASIBLE
    assert "training diverged" in (trial.reason or "") and "at step" in (trial.reason or "")


def _killed_and_resumed(src: Path, tmp_path: Path, hold_at: int, name: str) -> str:
    marks = tmp_path / "marks"
    marks.mkdir()
    study = _study(src, tmp_path / "s", budget=1)
    db = str(tmp_path / "t.db")
    env = {**os.environ, "TUNEBOOK_EXAMPLE_MARKS": str(marks), "HOLD_AT": str(hold_at)}
    first = subprocess.Popen([sys.executable, "-m", "tunebook.cli", "run", str(study), "--db",
                              db, "--no-progress"], env=env, start_new_session=True)
    deadline = time.time() + 240
    while not (marks / "holding").exists():
        assert time.time() < deadline and first.poll() is None
        time.sleep(0.1)
    os.killpg(first.pid, 9)  # SIGKILL the run and its trial process mid-training
    first.wait()
    env.pop("HOLD_AT")
    second = subprocess.run([sys.executable, "-m", "tunebook.cli", "run", str(study), "--db",
                             db, "--no-progress"], env=env, capture_output=True, text=True,
                            timeout=600)
    assert second.returncode == 0, second.stderr[-2000:]
    store = open_store(db)
    [trial] = store.trials([store.get_study(name).id])
    assert trial.status is TrialStatus.COMPLETED and trial.attempts == 2
    return db


def test_a_killed_lightning_trial_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    db = _killed_and_resumed(LIGHTNING, tmp_path, 30, "lightning-digits")
    store = open_store(db)
    [trial] = store.trials([store.get_study("lightning-digits").id])
    assert "resumed from resume.ckpt" in trial.warnings
    points = _points(db, "lightning-digits", 0)
    assert sorted(points["val_loss"]) == [9, 19, 29, 39, 49, 59]  # none lost, none twice
    assert sorted(points["grad_norm"]) == list(range(60))


def test_hf_metrics_in_the_store_are_what_the_trainer_logged(tmp_path: Path) -> None:
    db = str(tmp_path / "t.db")
    run_study(load_spec(_study(HF, tmp_path / "s", budget=2)), open_store(db))
    store = open_store(db)
    trials = store.trials([store.get_study("hf-tiny-gpt2").id])
    assert [t.status for t in trials] == [TrialStatus.COMPLETED] * 2
    for trial in trials:
        stored = _points(db, "hf-tiny-gpt2", trial.index)
        history = json.loads(next((tmp_path / "t-runs").glob(
            f"hf-tiny-gpt2/trial-{trial.index}/log_history.json")).read_text())
        compared = 0
        for entry in history:
            for name, key in (("loss", "loss"), ("eval_loss", "eval_loss"),
                              ("grad_norm", "grad_norm"), ("learning_rate", "lr")):
                if name in entry:
                    assert stored[key][entry["step"]] == pytest.approx(entry[name], rel=1e-6)
                    compared += 1
        assert compared >= 20 and sorted(stored["eval_loss"]) == [10, 20, 30, 40]
        assert trial.value == min(stored["eval_loss"].values())
        assert {c.step for c in store.checkpoints(trial.id) if c.kept} == {30, 40}


def test_a_killed_hf_trial_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    db = _killed_and_resumed(HF, tmp_path, 20, "hf-tiny-gpt2")
    points = _points(db, "hf-tiny-gpt2", 0)
    assert sorted(points["eval_loss"]) == [10, 20, 30, 40]
    assert sorted(points["loss"]) == [1, 5, 10, 15, 20, 25, 30, 35, 40]


def test_callbacks_outside_a_trial_leave_training_alone() -> None:
    import lightning.pytorch as pl
    import torch

    from tunebook.integrations.lightning import TunebookCallback as LightningCallback
    from tunebook.integrations.transformers import TunebookCallback as HFCallback

    sys.path.insert(0, str(LIGHTNING))
    try:
        from train import MLP, loaders  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(LIGHTNING))
    with pytest.warns(UserWarning, match="not inside a tunebook trial"):
        callback = LightningCallback(monitor="val_loss")
    assert callback.ckpt_path is None
    train, val = loaders(64)
    trainer = pl.Trainer(max_steps=3, callbacks=[callback], logger=False,
                         enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, accelerator="cpu")
    model = MLP(16, 0.01, 0.0)
    trainer.fit(model, train, val)
    assert trainer.global_step == 3 and all(torch.isfinite(p).all() for p in model.parameters())
    with pytest.warns(UserWarning, match="not inside a tunebook trial"):
        hf = HFCallback()
    assert Path(hf.output_dir).is_dir() and hf.resume_from is None


def test_tensorboard_export_reads_back_and_is_idempotent(lightning_run: tuple[str, Path],
                                                         tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from tunebook.integrations.export import to_tensorboard

    db, _ = lightning_run
    store = open_store(db, read_only=True)
    foreign = tmp_path / "tb" / "lightning-digits" / "someone-else"
    foreign.mkdir(parents=True)
    (foreign / "keep.txt").write_text("theirs")
    assert to_tensorboard(store, "lightning-digits", tmp_path / "tb").written == 2
    again = to_tensorboard(store, "lightning-digits", tmp_path / "tb")
    assert (again.written, again.unchanged) == (0, 2)
    runs = sorted(p for p in (tmp_path / "tb" / "lightning-digits").iterdir()
                  if p.name != "someone-else")
    assert len(runs) == 2 and (foreign / "keep.txt").read_text() == "theirs"
    for index, run in enumerate(runs):
        events = EventAccumulator(str(run))
        events.Reload()
        stored = _points(db, "lightning-digits", index)
        read = {e.step: e.value for e in events.Scalars("val_loss")}
        assert read == pytest.approx(stored["val_loss"], rel=1e-6)
        assert "_hparams_/session_start_info" in events.PluginTagToContent("hparams")
        assert len(list(run.glob("events.out.tfevents.*"))) == 1  # not written twice


def test_mlflow_export_reads_back_and_is_idempotent(lightning_run: tuple[str, Path],
                                                    tmp_path: Path) -> None:
    from mlflow import MlflowClient

    from tunebook.integrations.export import to_mlflow

    logging.getLogger("alembic").setLevel(logging.WARNING)
    db, _ = lightning_run
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("lightning-digits")
    theirs = client.create_run(experiment, run_name="someone else's").info.run_id
    store = open_store(db, read_only=True)
    assert to_mlflow(store, "lightning-digits", uri).written == 2
    assert to_mlflow(store, "lightning-digits", uri).unchanged == 2
    runs = client.search_runs([experiment], "tags.`tunebook.study` = 'lightning-digits'")
    assert len(runs) == 2 and client.get_run(theirs).info.lifecycle_stage == "active"
    for run in runs:
        index = int(run.data.tags["tunebook.trial"].rsplit("/", 1)[1])
        stored = _points(db, "lightning-digits", index)
        history = client.get_metric_history(run.info.run_id, "val_loss")
        assert {m.step: m.value for m in history} == pytest.approx(stored["val_loss"])
        assert run.data.tags["tunebook.status"] == "completed"
        assert set(run.data.params) == {"hidden", "batch_size", "learning_rate",
                                        "weight_decay"}
        assert math.isclose(float(run.data.params["hidden"]), 64)
