"""A study's trials and curves as flat rows, for CSV/JSON exports and pandas.

Everything a trial table shows is exported, and nothing is lost: hyperparameters cannot be
named like the fixed columns (the study file refuses it) and final metrics are prefixed
``metric.``, so no column ever overwrites another.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tunebook.analysis.overview import StudyOverview
from tunebook.records import MetricPoint, TrialRecord
from tunebook.store import Store

Row = dict[str, Any]


def iso(stamp: float | None) -> str | None:
    """A timestamp as ISO 8601 with its UTC offset (None when unset)."""
    if stamp is None:
        return None
    return dt.datetime.fromtimestamp(stamp).astimezone().isoformat(timespec="milliseconds")


def trial_rows(trials: Sequence[TrialRecord], names: Mapping[int, str]) -> list[Row]:
    """One row per trial: identity, status, value, timing, params, every metric's final
    value (``metric.NAME``) and the reason."""
    rows = []
    for t in trials:
        row: Row = {
            "study": names[t.study_id], "index": t.index, "status": t.status.value,
            "value": t.value, "seed": t.seed, "attempts": t.attempts, "worker": t.worker,
            "started": iso(t.started_at), "finished": iso(t.finished_at),
            "duration_s": (None if t.started_at is None or t.finished_at is None
                           else round(t.finished_at - t.started_at, 3)), "code": t.code,
            "devices": t.devices}
        row.update(t.params)
        row.update({f"metric.{name}": value for name, value in sorted(t.metrics.items())})
        row["reason"] = t.reason or ""
        rows.append(row)
    return rows


def study_rows(overviews: Sequence[StudyOverview]) -> list[Row]:
    """One row per study: name, mode, budget, trials left to run and by status, best
    value, objective, created."""
    return [{"study": o.study.name, "mode": o.mode, "budget": o.tally.total,
             "to_run": o.to_run,
             **{status.value: n for status, n in o.counts.items()}, "best": o.best,
             "metric": o.objective.metric, "goal": o.objective.goal,
             "created": iso(o.study.created_at)} for o in overviews]


def point_rows(points: Sequence[MetricPoint]) -> list[Row]:
    """Every reported point of one trial: metric, step, value, time."""
    return [{"metric": p.name, "step": p.step, "value": p.value, "time": iso(p.time)}
            for p in points]


@dataclass(frozen=True)
class StudyFrames:
    """A study as pandas DataFrames: ``trials`` (one row per trial, the columns of
    ``tunebook trials --format csv``) and ``curves`` (long format: study, index, metric,
    step, value)."""

    trials: Any
    curves: Any


def load(study: str, db: str | None = None, *, store: Store | None = None) -> StudyFrames:
    """A stored study's trials and curves as pandas DataFrames (for notebooks).

    Args:
        study: the study's name.
        db: a SQLite path or SQLAlchemy URL (default ``$TUNEBOOK_DB`` or ``./tunebook.db``).
        store: an open store instead of ``db``.
    """
    try:
        import pandas as pd
    except ImportError as exc:
        from tunebook.errors import TunebookError

        raise TunebookError("tunebook.load needs pandas: pip install 'tunebook[pandas]'"
                            ) from exc
    if store is None:
        from tunebook.store import open_store

        store = open_store(db, create=False)
    tree = store.tree(study)
    trials = store.trials(tree.ids)
    names = tree.names
    by_id = {t.id: t for t in trials}
    curves = [{"study": names[by_id[trial_id].study_id], "index": by_id[trial_id].index,
               "metric": name, "step": step, "value": value}
              for (trial_id, name), series in store.metric_points(list(by_id)).items()
              for step, value in series]
    columns = ["study", "index", "metric", "step", "value"]
    return StudyFrames(pd.DataFrame(trial_rows(trials, names)),
                       pd.DataFrame(curves, columns=columns))
