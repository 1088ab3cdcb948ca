"""The dashboard's data as plain JSON-ready dicts (its API; documented in docs/dashboard.md).

Lists are aggregated and paged on the server: a study of 100,000 trials sends one page of
rows, never the whole study.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Sequence
from typing import Any

from tunebook.analysis.data import downsample
from tunebook.analysis.overview import overview
from tunebook.analysis.tracking import reproduce_command
from tunebook.dashboard.cache import StudyCache
from tunebook.records import StudyTree, TrialRecord, TrialStatus
from tunebook.space import ChoiceDomain, combo_label
from tunebook.spec import StudySpec, study_spec
from tunebook.store import Store

PAGE_MAX = 500
CURVE_POINTS = 600
SORTS = ("index", "study", "status", "value", "started", "finished")


def _num(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def study_row(store: Store, tree: StudyTree) -> dict[str, Any]:
    """One line of the studies page."""
    seen = overview(store, tree)
    spec = study_spec(tree.root)
    total, finished, budget = seen.tally.trials, seen.tally.done, seen.tally.total
    return {"name": tree.root.name, "experiment": getattr(spec.model, "experiment", None),
            "description": spec.model.description, "mode": seen.mode,
            "metric": seen.objective.metric, "goal": seen.objective.goal,
            "counts": {s.value: seen.counts[s] for s in TrialStatus},
            "trials": total, "budget": budget, "finished": finished,
            "progress": finished / budget if budget else None, "best": _num(seen.best),
            "last_update": store.last_update(tree.ids)}


def studies(store: Store) -> list[dict[str, Any]]:
    return [study_row(store, tree) for tree in store.trees()]


def _sort_key(field: str, goal: str) -> Any:
    sign = 1.0 if goal == "minimize" else -1.0

    def key(t: TrialRecord) -> Any:
        if field == "value":
            return (t.value is None, sign * (t.value or 0.0))
        if field == "status":
            return t.status.value
        if field == "started":
            return t.started_at or 0.0
        if field == "finished":
            return t.finished_at or 0.0
        return (t.study_id, t.index)
    return key


def _matches(t: TrialRecord, text: str) -> bool:
    haystack = " ".join([t.status.value, t.reason or "", *(f"{k}={v}" for k, v in
                                                           t.params.items())]).lower()
    return all(word in haystack for word in text.lower().split())


def trial_page(cache: StudyCache, name: str, *, sort: str = "index", desc: bool = False,
               status: str | None = None, text: str = "", offset: int = 0,
               limit: int = 100) -> dict[str, Any]:
    """One page of a study's trials, sorted and filtered on the server."""
    tree = cache.store.tree(name)
    objective = study_spec(tree.root).objective
    rows = cache.trials(name)
    if status:
        rows = [t for t in rows if t.status.value == status]
    if text:
        rows = [t for t in rows if _matches(t, text)]
    rows = sorted(rows, key=_sort_key(sort if sort in SORTS else "index", objective.goal),
                  reverse=desc)
    limit = max(1, min(limit, PAGE_MAX))
    names = tree.names
    space = study_spec(tree.root).space
    keys = [d.key for d in (*space.scientific, *space.nuisance)]
    labels = {leaf.id: combo_label(leaf.combo or {}) for leaf in tree.leaves}
    return {"total": len(rows), "offset": offset, "limit": limit, "columns": keys,
            "metric": objective.metric, "goal": objective.goal, "split": tree.split,
            "rows": [{"study": names.get(t.study_id, tree.root.name), "index": t.index,
                      "sub_study": labels.get(t.study_id, "") if tree.split else None,
                      "status": t.status.value, "value": _num(t.value),
                      "params": {k: t.params.get(k) for k in keys}, "reason": t.reason,
                      "started": t.started_at, "finished": t.finished_at}
                     for t in rows[offset: offset + limit]]}


def trial_detail(store: Store, study: str, index: int) -> dict[str, Any]:
    """Everything about one trial: params, outcome, curves, checkpoints, how to re-run it."""
    record = store.get_study(study)
    trial = store.get_trial(record.id, index)
    if trial is None:
        raise LookupError(f"study {study!r} has no trial {index}")
    spec = study_spec(record)
    history = store.metric_points([trial.id])
    curves = {name: downsample(series, CURVE_POINTS) for (_, name), series in history.items()}
    saved = store.checkpoints(trial.id)
    kept = [c for c in saved if c.kept]  # the others were deleted by the retention policy
    # Quoted: a per-value study's name holds its values, and a value is user text
    # (``x$(touch X)`` must not run when the line is pasted into a shell).
    again = (f"tunebook retry {shlex.quote(study)} --trial {index} --status "
             f"{trial.status.value}" if trial.status.finished else "")
    return {"study": study, "index": index, "status": trial.status.value, "seed": trial.seed,
            "params": trial.params, "value": _num(trial.value), "metric": spec.objective.metric,
            "reason": trial.reason, "warnings": trial.warnings, "worker": trial.worker,
            "attempts": trial.attempts, "started": trial.started_at,
            "finished": trial.finished_at, "curves": curves,
            "checkpoints": [{"step": c.step, "path": c.path, "value": _num(c.value)}
                            for c in kept],
            "checkpoints_deleted": len(saved) - len(kept), "code": trial.code,
            "devices": trial.devices,
            "reproduce": [reproduce_command(spec, store, record), again] if again else
            [reproduce_command(spec, store, record)]}


def compare(store: Store, addresses: Sequence[tuple[str, int]]) -> list[dict[str, Any]]:
    """The curves of 2-5 trials, for overlaying."""
    return [trial_detail(store, study, index) for study, index in addresses]


PARALLEL_MAX = 1500


def parallel_figure(spec: StudySpec, trials: Sequence[TrialRecord]) -> Any | None:
    """Parallel coordinates of the completed trials (at most ``PARALLEL_MAX`` lines: the
    best 300 and an even sample of the rest), or None without completed trials."""
    from tunebook.report.figures import ParallelAxis, parallel

    sign = spec.objective.sign()
    done = sorted((t for t in trials if t.status is TrialStatus.COMPLETED
                   and _num(t.value) is not None), key=lambda t: sign * (t.value or 0.0))
    if not done:
        return None
    if len(done) > PARALLEL_MAX:
        rest = done[300:]
        step = math.ceil(len(rest) / (PARALLEL_MAX - 300))
        done = done[:300] + rest[::step]
    columns: list[ParallelAxis] = []
    for dim in (*spec.space.scientific, *spec.space.nuisance):
        raw = [t.params.get(dim.key) for t in done]
        if isinstance(dim.domain, ChoiceDomain):
            names = [str(c) for c in dim.domain.values]
            columns.append(ParallelAxis(dim.key, [float(names.index(str(v))) if str(v) in names
                                                  else math.nan for v in raw], names))
        else:
            columns.append(ParallelAxis(dim.key, [float(v) if isinstance(v, int | float)
                                                  else math.nan for v in raw],
                                        log=dim.is_log))
    return parallel(columns, [float(t.value or 0.0) for t in done], spec.objective.metric)
