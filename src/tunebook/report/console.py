"""Rich tables, the live progress bar, CSV and JSON for the command line."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.markup import escape as esc
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from tunebook.analysis import StudyOverview, ValueBest
from tunebook.records import MetricPoint, TrialRecord, TrialStatus
from tunebook.report.text import first_line, fmt, seed_mean, seeded, when
from tunebook.runner.progress import Progress as RunState

STATUS_STYLE = {
    TrialStatus.COMPLETED: "green", TrialStatus.RUNNING: "cyan", TrialStatus.QUEUED: "dim",
    TrialStatus.INFEASIBLE: "yellow", TrialStatus.FAILED: "red", TrialStatus.PRUNED: "magenta",
}


#: The status table's columns, in the order they are dropped last to first when the
#: terminal is too narrow for all of them (the study's name always stays whole).
STUDY_COLUMNS = ("study", "completed", "best", "to run", "running", "failed", "infeasible",
                 "mode", "created")


def studies_table(rows: Sequence[StudyOverview], width: int | None = None) -> Table:
    """One row per study. A study's name is never cut (an autopilot's studies differ only
    at their ends: ``digits``, ``digits-r2``, ``digits-bayes``): on a terminal narrower
    than ``width`` needs, the least telling columns are left out instead (and said so)."""
    cells = [{"study": esc(r.study.name), "mode": r.mode, "to run": str(r.to_run),
              "running": str(r.counts[TrialStatus.RUNNING]),
              "completed": str(r.counts[TrialStatus.COMPLETED]),
              "infeasible": str(r.counts[TrialStatus.INFEASIBLE]),
              "failed": str(r.counts[TrialStatus.FAILED]),
              "best": (esc(f"{fmt(r.best)} ({r.objective.metric}, {r.objective.goal[:3]})")
                       if r.best is not None else "-"),
              "created": when(r.study.created_at)} for r in rows]
    need = {c: max(len(c), *(len(row[c]) for row in cells)) + 3 for c in STUDY_COLUMNS}
    shown, used = [], 1
    for column in STUDY_COLUMNS:
        if column == "study" or width is None or used + need[column] <= width:
            shown.append(column)
            used += need[column]
    left_out = [c for c in STUDY_COLUMNS if c not in shown]
    table = Table(title="Studies", title_justify="left", caption=(
        f"not shown at this width: {', '.join(left_out)}" if left_out else None),
        caption_justify="left")
    for column in (c for c in ("study", "mode", "to run", "running", "completed",
                               "infeasible", "failed", "best", "created") if c in shown):
        table.add_column(column, no_wrap=column == "study",
                         justify="left" if column in ("study", "mode") else "right")
    for row in cells:
        table.add_row(*(row[str(col.header)] for col in table.columns))
    return table


def trials_table(trials: Sequence[TrialRecord], names: dict[int, str], metric: str) -> Table:
    keys = sorted({k for t in trials for k in t.params})
    several = len(set(names.values())) > 1
    table = Table(title=f"{len(trials)} trials", title_justify="left")
    if several:
        table.add_column("study")
    table.add_column("#", justify="right")
    table.add_column("status")
    table.add_column(esc(metric), justify="right")
    for key in keys:
        table.add_column(esc(key), justify="right")
    table.add_column("reason")
    for t in trials:
        cells = [esc(names[t.study_id])] if several else []
        cells += [str(t.index), f"[{STATUS_STYLE[t.status]}]{t.status.value}[/]", fmt(t.value)]
        cells += [esc(fmt(t.params.get(k))) for k in keys]
        cells.append(esc(first_line(t.reason, 50)))
        table.add_row(*cells)
    return table


def to_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    fields = list(dict.fromkeys(k for row in rows for k in row))
    writer = csv.DictWriter(out, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def to_json(rows: list[dict[str, Any]]) -> str:
    clean = [{k: (None if isinstance(v, float) and not math.isfinite(v) else v)
              for k, v in row.items()} for row in rows]
    return json.dumps(clean, indent=2)


def metric_summary_table(points: Sequence[MetricPoint]) -> Table:
    table = Table(title="Metrics", title_justify="left")
    for column in ("metric", "points", "first step", "last step", "first", "last", "min", "max"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    by_name: dict[str, list[MetricPoint]] = {}
    for p in points:
        by_name.setdefault(p.name, []).append(p)
    for name, series in by_name.items():
        finite = [p.value for p in series if math.isfinite(p.value)]
        table.add_row(esc(name), str(len(series)), str(series[0].step), str(series[-1].step),
                      fmt(series[0].value), fmt(series[-1].value),
                      fmt(min(finite)) if finite else "-", fmt(max(finite)) if finite else "-")
    return table


def per_value_table(rows: Sequence[ValueBest], metric: str, goal: str) -> Table:
    """The isolation table: per scientific value, its best trial and that trial's nuisance."""
    table = Table(title=esc(f"Best {metric} per scientific value ({goal})"),
                  title_justify="left")
    header = ", ".join(rows[0].combo) if rows and rows[0].combo else "value"
    nuisance = list(dict.fromkeys(k for r in rows if r.best for k in r.best.params
                                  if k not in r.combo))
    table.add_column(esc(header), no_wrap=True)
    for column in ("done", "infeasible", "failed"):
        table.add_column(column, justify="right", overflow="fold")
    table.add_column(esc(f"best {metric}"), justify="right", no_wrap=True, min_width=8)
    with_means = seeded(rows)
    if with_means:
        table.add_column("mean over seeds", justify="right", no_wrap=True)
    table.add_column("trial", justify="right")
    for column in nuisance:
        table.add_column(esc(column), justify="right", overflow="fold", min_width=7)
    for row in rows:
        best = row.best
        label = ", ".join(str(v) for v in row.combo.values()) or "(all)"
        cells = [str(row.completed), str(row.infeasible), str(row.failed),
                 fmt(best.value) if best else "-",
                 *([esc(seed_mean(row))] if with_means else []), str(best.index) if best else "-"]
        cells += [esc(fmt(best.params.get(k) if best else None, digits=3)) for k in nuisance]
        table.add_row(esc(label), *cells)
    return table


class ProgressBar:
    """The live bar of ``tunebook run``: done/total, running, failures, best, ETA.

    Pass its :meth:`update` as the runner's ``on_progress`` callback.
    """

    def __init__(self, console: Console | None = None, enabled: bool = True):
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"), TimeElapsedColumn(), TextColumn("ETA"),
            TimeRemainingColumn(), console=console, disable=not enabled, transient=False)
        self.tasks: dict[str, TaskID] = {}  # one line per study (a workflow runs several)

    def __enter__(self) -> ProgressBar:
        self.progress.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.progress.__exit__(kind, exc, tb)

    def update(self, state: RunState) -> None:
        counts = state.counts
        detail = (f"running {counts[TrialStatus.RUNNING]}  "
                  f"failed {counts[TrialStatus.FAILED]}  "
                  f"infeasible {counts[TrialStatus.INFEASIBLE]}  best {fmt(state.best)}")
        task = self.tasks.get(state.name)
        if task is None:
            task = self.tasks[state.name] = self.progress.add_task(
                esc(state.name), total=state.total, detail=detail)
        self.progress.update(task, total=state.total, completed=state.done, detail=detail)
