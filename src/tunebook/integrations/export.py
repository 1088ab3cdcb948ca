"""A study's trials as TensorBoard runs or MLflow runs, exported idempotently.

One run per trial: its params as training code received them, fixed values included
(TensorBoard's HParams tab shows them against the objective), every metric by step, and
its status and reason. Each exported run carries a stamp of the trial's state (attempts,
finish time, number of points): exporting again skips runs whose trial did not change and
rewrites those that did, so nothing is ever duplicated. Runs that tunebook did not write
are never touched.
"""

from __future__ import annotations

import json
import math
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunebook.analysis.data import load_study
from tunebook.errors import TunebookError
from tunebook.records import MetricPoint, TrialRecord
from tunebook.store import Store

MARKER = "tunebook-export.json"


@dataclass(frozen=True)
class Exported:
    """What an export did."""

    written: int
    unchanged: int
    target: str


def _stamp(trial: TrialRecord, points: list[MetricPoint]) -> str:
    return f"{trial.attempts}:{trial.finished_at}:{trial.status.value}:{len(points)}"


def _plain(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v if isinstance(v, int | float | str | bool) else str(v)
            for k, v in params.items()}


def _safe(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", label)


def missing_extra(tool: str, package: str) -> ImportError:
    return ImportError(f"exporting to {tool} needs {package}: pip install "
                       f'"tunebook[{tool}]"')


def to_tensorboard(store: Store, name: str, folder: str | Path) -> Exported:
    """Write each trial of ``name`` as a TensorBoard run under ``folder/<study>/``."""
    try:
        from torch.utils.tensorboard import SummaryWriter
        from torch.utils.tensorboard.summary import hparams
    except ImportError:
        raise missing_extra("tensorboard", "tensorboard (and torch)") from None
    if Path(folder).exists() and not Path(folder).is_dir():
        raise TunebookError(f"{folder} is a file: a TensorBoard export writes a folder of "
                            "runs (one per trial); pass a folder path, e.g. runs/")
    data = load_study(store, name)
    root = Path(folder) / _safe(data.study.name)
    written = unchanged = 0
    for trial in (t for t in data.trials if t.status.finished):
        points = store.metric_history(trial.id)
        run = root / _safe(data.label(trial).replace("/", "-trial-"))
        stamp = _stamp(trial, points)
        marker = run / MARKER
        if marker.exists():
            if json.loads(marker.read_text()).get("stamp") == stamp:
                unchanged += 1
                continue
            shutil.rmtree(run)  # ours, and the trial changed: rewrite it
        elif run.exists():
            continue  # a run tunebook did not write: never touched
        writer = SummaryWriter(log_dir=str(run))
        for p in points:
            if p.value is not None and math.isfinite(p.value):
                writer.add_scalar(p.name, p.value, p.step, walltime=p.time)
        metric = {f"hparam/{data.metric}": _value(trial)}
        events = writer._get_file_writer()  # type: ignore[no-untyped-call]
        for summary in hparams(_plain(data.spec.space.plain(trial.params)), metric):  # type: ignore[no-untyped-call]
            events.add_summary(summary)
        writer.add_text("tunebook/status", f"{trial.status.value}: {trial.reason or ''}")
        writer.close()
        marker.write_text(json.dumps({"trial_id": trial.id, "stamp": stamp}))
        written += 1
    return Exported(written, unchanged, str(root))


def _value(trial: TrialRecord) -> float:
    value = trial.value
    return float(value) if value is not None and math.isfinite(value) else math.nan


def to_mlflow(store: Store, name: str, uri: str) -> Exported:
    """Write each trial of ``name`` as a run of the MLflow experiment named after it."""
    try:
        from mlflow import MlflowClient
        from mlflow.entities import Metric, Param, RunTag
    except ImportError:
        raise missing_extra("mlflow", "mlflow") from None
    data = load_study(store, name)
    try:
        client = MlflowClient(tracking_uri=uri)
        found = client.get_experiment_by_name(data.study.name)
    except Exception as exc:  # MLflow raises its own kinds, and plain ones, for a bad URI
        raise TunebookError(_mlflow_error(uri, exc)) from None
    experiment = (found.experiment_id if found is not None else
                  client.create_experiment(data.study.name))
    ours = {run.data.tags.get("tunebook.trial"): run for run in client.search_runs(
        [experiment], f"tags.`tunebook.study` = '{_quote(data.study.name)}'",
        max_results=50_000)}
    written = unchanged = 0
    for trial in (t for t in data.trials if t.status.finished):
        label = data.label(trial)
        points = store.metric_history(trial.id)
        stamp = _stamp(trial, points)
        old = ours.get(label)
        if old is not None and old.data.tags.get("tunebook.stamp") == stamp:
            unchanged += 1
            continue
        if old is not None:
            client.delete_run(old.info.run_id)
        tags = {"tunebook.study": data.study.name, "tunebook.trial": label,
                "tunebook.stamp": stamp, "tunebook.status": trial.status.value,
                "tunebook.reason": (trial.reason or "")[:4000],
                "mlflow.runName": label}
        run = client.create_run(experiment, run_name=label)
        metrics = [Metric(p.name, float(p.value), int(p.time * 1000), p.step)
                   for p in points if p.value is not None and math.isfinite(p.value)]
        params = [Param(k, str(v)) for k, v in data.spec.space.plain(trial.params).items()]
        for start in range(0, max(len(metrics), 1), 900):
            client.log_batch(run.info.run_id, metrics=metrics[start:start + 900],
                             params=params if start == 0 else [],
                             tags=[RunTag(k, v) for k, v in tags.items()] if start == 0
                             else [])
        client.set_terminated(run.info.run_id, "FINISHED" if trial.status.value in (
            "completed", "pruned") else "FAILED")
        written += 1
    return Exported(written, unchanged, f"{uri} (experiment {data.study.name!r})")


def _quote(text: str) -> str:
    return text.replace("'", "\\'")


def _mlflow_error(uri: str, exc: Exception) -> str:
    """Why MLflow cannot use ``uri``, in a line, with the fix."""
    first = str(exc).strip().split(". ")[0][:300]
    if uri.startswith("file:") or "://" not in uri:
        return (f"MLflow refuses the file store {uri!r} ({first}); export to a database "
                "instead, e.g. sqlite:///mlflow.db (or set MLFLOW_ALLOW_FILE_STORE=true)")
    return (f"MLflow cannot use the tracking URI {uri!r} ({first}); pass e.g. "
            "sqlite:///mlflow.db or http://host:5000")
