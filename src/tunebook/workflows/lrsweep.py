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


def held(spec: StudySpec, searched: dict[str, Any], keep: tuple[str, ...] = (),
          ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The study file's fields, and its fixed values with everything but ``keep`` and the
    ``searched`` keys held at one value (see the module docstring)."""
    source = spec.path if spec.path is not None and spec.path.exists() else None
    doc: dict[str, Any] = yaml.safe_load(source.read_text()) if source else spec.config()
    nuisance = dict(doc.get("nuisance") or {})
    fixed = {k: v for k, v in (doc.get("fixed") or {}).items() if k not in searched}
    fixed |= {k: _middle(v) for k, v in nuisance.items() if k not in searched}
    fixed |= {k: _middle(v) for k, v in (doc.get("scientific") or {}).items()}
    for name in SCHEDULE_KEYS:
        if name in fixed and name not in keep:
            fixed[name] = "constant"
    return doc, fixed


def known(doc: dict[str, Any], key: str, spec: StudySpec, flag: str) -> None:
    if key not in (doc.get("nuisance") or {}) and key not in (doc.get("fixed") or {}):
        raise SpecError(f"{key!r} is not a nuisance or fixed parameter of {spec.name}; name "
                        f"it with {flag}", path=str(spec.path), field="nuisance")


def shortened(doc: dict[str, Any], max_steps: int, eval_every: int) -> dict[str, Any]:
    """The study file's fields for a short run of ``max_steps`` read every ``eval_every``
    steps; without pruning, which would cut the one run a probe or check is made of."""
    return {k: v for k, v in doc.items() if k != "pruning"} | {"max_steps": max_steps,
                                                              "eval_every": eval_every}


def derived(spec: StudySpec, doc: dict[str, Any], suffix: str, description: str,
             fixed: dict[str, Any], nuisance: dict[str, Any], points: int) -> StudySpec:
    sweep = {**{k: v for k, v in doc.items() if k not in ("scientific", "mode")},
             "name": f"{spec.name}-{suffix}", "description": description, "fixed": fixed,
             "nuisance": nuisance, "sampler": {"type": "grid", "grid_points": points},
             "budget": points}
    out = spec_from_dict(sweep, path=spec.path)
    return StudySpec(out.model, out.space, path=spec.path, folder=spec.source_dir)


def sweep_spec(spec: StudySpec, key: str, low: float, high: float, points: int) -> StudySpec:
    """The learning-rate sweep study derived from ``spec`` (see the module docstring)."""
    if points < 3:
        raise SpecError("--points must be at least 3", field="--points")
    doc, fixed = held(spec, {key: None})
    known(doc, key, spec, "--key")
    return derived(spec, doc, "lr-sweep", f"constant-lr sweep of {key} over "
                    f"{low:g}..{high:g} for {spec.name}", fixed,
                    {key: {"low": low, "high": high, "scale": "log"}}, points)


def early_spec(spec: StudySpec, best_lr: float, *, key: str = "learning_rate",
               steps: int = 500) -> StudySpec:
    """The early-instability check (§5.8.1): one run at 2x the best learning rate,
    evaluated at every step for its first ``steps`` steps (at most the study's length), so
    that a loss spike in the first steps is seen even where the sweep evaluated too rarely.
    """
    if best_lr <= 0 or not math.isfinite(best_lr):
        raise SpecError("the early check needs a positive best learning rate", field="--lr")
    if steps < 10:
        raise SpecError("--early-steps must be at least 10", field="--early-steps")
    doc, fixed = held(spec, {key: None})
    known(doc, key, spec, "--key")
    length = min(steps, spec.model.max_steps or steps)
    doc = shortened(doc, length, 1)
    return derived(spec, doc, "early-check", f"early-instability check: {key} = "
                    f"{2 * best_lr:g} (2x the best {best_lr:g}), evaluated every step for "
                    f"{length} steps, for {spec.name}", fixed, {key: [2 * best_lr]}, 1)


def warmup_values(max_steps: int, points: int) -> list[int]:
    """No warmup, then ``points - 1`` lengths half a decade apart, down from 10 % of
    training (e.g. 0, 1, 3, 9, 30 for 300 steps)."""
    top = max(1, max_steps // 10)
    found: list[int] = []
    for i in range(4 * points):
        value = max(1, round(top / 10 ** (i / 2)))
        if value not in found:
            found.append(value)
        if len(found) == points - 1 or value == 1:
            break
    return [0, *sorted(found)]


def warmup_spec(spec: StudySpec, unstable_lr: float, *, key: str = "learning_rate",
                warmup_key: str = "warmup_steps", points: int = 5) -> StudySpec:
    """The warmup sweep: the base learning rate at 10x ``unstable_lr`` (the playbook's
    recipe), warmup lengths from none to 10 % of training."""
    if unstable_lr <= 0 or not math.isfinite(unstable_lr):
        raise SpecError("--unstable-lr must be a positive learning rate (the lowest one the "
                        "lr-sweep found unstable)", field="--unstable-lr")
    if spec.model.max_steps is None:
        raise SpecError("a warmup sweep needs max_steps in the study file (warmup is a "
                        "share of training)", path=str(spec.path), field="max_steps")
    doc, fixed = held(spec, {warmup_key: None, key: None}, keep=SCHEDULE_KEYS)
    known(doc, key, spec, "--key")
    fixed[key] = 10 * unstable_lr
    values = warmup_values(spec.model.max_steps, points)
    return derived(spec, doc, "warmup-sweep", f"warmup sweep at {key} = "
                    f"{10 * unstable_lr:g} (10x the unstable {unstable_lr:g}) for {spec.name}",
                    fixed, {warmup_key: values}, len(values))


def write_sweep_report(result: Any, path: Path, store: Any, *, title: str = "Learning-rate "
                       "sweep", log: bool = True, early: Any = None) -> Path:
    """One offline HTML page: the objective against the swept value, the curves of the
    best and the points just above it, and the statement (then the early check's, with
    its every-step curves, when there is one)."""
    from plotly.offline import get_plotlyjs

    from tunebook.analysis.data import load_series
    from tunebook.report import figures
    from tunebook.report.html import RENDER_JS, esc

    shown = [p for p in result.points if result.best is not None and p.x >= result.best.x][:3]
    series = load_series(store, [p.trial.id for p in shown], ["train_loss", "loss",
                                                                result.metric])
    runs = [(f"{result.key} {p.x:.3g}", {name: s for (tid, name), s in series.items()
                                if tid == p.trial.id}) for p in shown]
    body = (figures.figure_div(figures.lr_sweep(result, log)) + figures.figure_div(
        figures.metric_grid(runs, f"Curves at the best {result.key} and the ones above it")))
    if early is not None:
        steps = {name: s for (_, name), s in store.metric_points([early.trial_id]).items()}
        body += (f"<h2>Early instability</h2><p>{esc(early.statement)}</p>" + figures.figure_div(
            figures.metric_grid([(f"{result.key} {early.lr:.3g}", steps)],
                                "Every step at 2x the best learning rate")))
    html = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>lr sweep'
            f"</title><script>{get_plotlyjs()}</script></head><body style=\"font-family:"
            f'system-ui;max-width:1100px;margin:auto\"><h1>{esc(title)}</h1><p>'
            f"{esc(result.statement)}</p>{body}<script>{RENDER_JS}tunebookDraw();</script>"
            "</body></html>")
    path.write_text(html, encoding="utf-8")
    return path
