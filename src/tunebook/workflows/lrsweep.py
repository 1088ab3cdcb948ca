"""``tunebook lr-sweep``: a constant-learning-rate sweep of a study file's configuration.

Everything but the learning rate stays at one value: the study's fixed values, scientific
parameters at their first value, every other nuisance parameter at the middle of its range
(geometric middle on a log range), and a ``schedule`` fixed value set to ``constant``. The
learning rate takes ``points`` log-spaced values over ``low:high`` (grid search).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml

from tunebook.errors import SpecError
from tunebook.spec import StudySpec, spec_from_dict

SCHEDULE_KEYS = ("schedule", "lr_schedule")


def parse_range(text: str) -> tuple[float, float]:
    """``1e-5:10`` → (1e-05, 10.0), checked."""
    low_text, sep, high_text = text.partition(":")
    try:
        low, high = float(low_text), float(high_text)
    except ValueError:
        low = high = math.nan
    if not sep or not (math.isfinite(low) and math.isfinite(high)):
        raise SpecError(f"--range {text!r}: write LOW:HIGH, e.g. 1e-5:10", field="--range")
    if low <= 0 or high <= low:
        raise SpecError(f"--range {text!r}: a learning-rate range needs 0 < LOW < HIGH",
                        field="--range")
    return low, high


def _middle(param: Any) -> Any:
    if isinstance(param, list):
        return param[0]
    if isinstance(param, dict) and "low" in param and "high" in param:
        low, high = float(param["low"]), float(param["high"])
        mid = math.sqrt(low * high) if param.get("scale") == "log" and low > 0 else (
            (low + high) / 2)
        return round(mid) if param.get("type") == "int" else float(f"{mid:.4g}")
    if isinstance(param, dict) and "values" in param:
        return param["values"][0]
    return param


def sweep_spec(spec: StudySpec, key: str, low: float, high: float, points: int) -> StudySpec:
    """The sweep study derived from ``spec`` (see the module docstring)."""
    source = spec.path if spec.path is not None and spec.path.exists() else None
    doc: dict[str, Any] = yaml.safe_load(source.read_text()) if source else spec.config()
    nuisance = dict(doc.get("nuisance") or {})
    if key not in nuisance and key not in (doc.get("fixed") or {}):
        raise SpecError(f"{key!r} is not a nuisance or fixed parameter of {spec.name}; name "
                        "the learning rate with --key", path=str(spec.path), field="nuisance")
    if points < 3:
        raise SpecError("--points must be at least 3", field="--points")
    fixed = dict(doc.get("fixed") or {})
    fixed.pop(key, None)
    fixed |= {k: _middle(v) for k, v in nuisance.items() if k != key}
    fixed |= {k: _middle(v) for k, v in (doc.get("scientific") or {}).items()}
    for name in SCHEDULE_KEYS:
        if name in fixed:
            fixed[name] = "constant"
    sweep = {**{k: v for k, v in doc.items() if k not in ("scientific", "mode")},
             "name": f"{spec.name}-lr-sweep", "description": f"constant-lr sweep of {key} "
             f"over {low:g}..{high:g} for {spec.name}", "fixed": fixed,
             "nuisance": {key: {"low": low, "high": high, "scale": "log"}},
             "sampler": {"type": "grid", "grid_points": points}, "budget": points}
    out = spec_from_dict(sweep, path=spec.path)
    return StudySpec(out.model, out.space, path=spec.path, folder=spec.source_dir)


def write_sweep_report(result: Any, path: Path, store: Any) -> Path:
    """One offline HTML page: the objective against the learning rate, the curves of the
    best and the points just above it, and the statement."""
    from plotly.offline import get_plotlyjs

    from tunebook.analysis.data import load_series
    from tunebook.report import figures
    from tunebook.report.html import RENDER_JS, esc

    shown = [p for p in result.points if result.best is not None and p.lr >= result.best.lr][:3]
    series = load_series(store, [p.trial.id for p in shown], ["train_loss", "loss",
                                                                result.metric])
    runs = [(f"lr {p.lr:.3g}", {name: s for (tid, name), s in series.items()
                                if tid == p.trial.id}) for p in shown]
    body = (figures.figure_div(figures.lr_sweep(result)) + figures.figure_div(
        figures.metric_grid(runs, "Curves of the best learning rate and the ones above it")))
    html = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>lr sweep'
            f"</title><script>{get_plotlyjs()}</script></head><body style=\"font-family:"
            f'system-ui;max-width:1100px;margin:auto\"><h1>Learning-rate sweep</h1><p>'
            f"{esc(result.statement)}</p>{body}<script>{RENDER_JS}tunebookDraw();</script>"
            "</body></html>")
    path.write_text(html, encoding="utf-8")
    return path
