"""The page a sweep writes: the objective against the swept value, the curves around the
best point, the statement, and the early-instability check when there is one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tunebook.analysis.data import load_series
from tunebook.analysis.lrsweep import EarlyCheck, SweepResult
from tunebook.report import figures
from tunebook.report.html import page
from tunebook.report.text import esc
from tunebook.store import Store


def sweep_page(result: SweepResult, store: Store, *, title: str = "Learning-rate sweep",
               log: bool = True, early: EarlyCheck | None = None) -> str:
    """One offline HTML page for a sweep (and its early check)."""
    shown = [p for p in result.points if result.best is not None and p.x >= result.best.x][:3]
    series = load_series(store, [p.trial.id for p in shown], ["train_loss", "loss",
                                                                result.metric])
    runs = [(f"{result.key} {p.x:.3g}", {name: s for (tid, name), s in series.items()
                                         if tid == p.trial.id}) for p in shown]
    body = (f"<h1>{esc(title)}</h1><p>{esc(result.statement)}</p>"
            + figures.figure_div(figures.lr_sweep(result, log)) + figures.figure_div(
                figures.metric_grid(runs, f"Curves at the best {result.key} and the ones "
                                    "above it")))
    if early is not None:
        wanted = ["train_loss", "loss", "grad_norm", result.metric]  # what the check reads
        steps: dict[str, Any] = {name: s for (_, name), s in
                                 store.metric_points([early.trial_id], wanted).items()}
        body += (f"<h2>Early instability</h2><p>{esc(early.statement)}</p>"
                 + figures.figure_div(figures.metric_grid(
                     [(f"{result.key} {early.lr:.3g}", steps)],
                     "Every step at 2x the best learning rate")))
    return page(title, body)


def write_sweep_report(result: SweepResult, path: Path, store: Store, *,
                       title: str = "Learning-rate sweep", log: bool = True,
                       early: EarlyCheck | None = None) -> Path:
    """Write :func:`sweep_page` to ``path``."""
    path.write_text(sweep_page(result, store, title=title, log=log, early=early),
                    encoding="utf-8")
    return path
