"""Training curves of the best trials, and what they say (§2.4 checklist, §3).

Curve diagnostics work on a few trials (the best per scientific value and the most
unstable), so a report of a 10,000-trial study reads thousands of points, not millions.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from tunebook.analysis.data import Series, StudyData, load_series
from tunebook.records import TrialRecord
from tunebook.store import Store

CURVES_PER_VALUE = 3
SPIKE_FACTOR = 2.0
LATE_WINDOW = 0.2


@dataclass(frozen=True)
class TrialCurves:
    """The series of one trial, by metric name (downsampled, extremes kept)."""

    trial: TrialRecord
    label: str
    combo: str
    series: dict[str, Series]


def best_curves(store: Store, data: StudyData, per_value: int = CURVES_PER_VALUE,
                max_points: int = 400) -> list[TrialCurves]:
    """Curves of the ``per_value`` best trials of every scientific value."""
    chosen: list[tuple[TrialRecord, str]] = []
    for combo in data.combos():
        label = ", ".join(f"{k}={v}" for k, v in combo.items()) or "(all)"
        chosen += [(t, label) for t in data.completed(data.of_combo(combo))[:per_value]]
    raw = load_series(store, [t.id for t, _ in chosen], None, max_points)
    return [TrialCurves(t, data.label(t), label,
                        {name: s for (tid, name), s in raw.items() if tid == t.id})
            for t, label in chosen]


def _finite(series: Series) -> Series:
    return [(s, v) for s, v in series if math.isfinite(v)]


def _span(values: Sequence[float]) -> float:
    return max(values) - min(values)


def rises_at_end(series: Series, minimize: bool = True, tolerance: float = 0.1) -> bool:
    """The last two values are worse than the best by over ``tolerance`` of the curve's range.

    Relative to the range, not to the value: an error rate going from 0.8 % to 1.4 % is
    two examples on a small eval set, not overfitting.
    """
    values = [v for _, v in _finite(series)]
    if len(values) < 4 or _span(values) == 0:
        return False
    best = min(values) if minimize else max(values)
    gaps = [(v - best) if minimize else (best - v) for v in values[-2:]]
    return min(gaps) > tolerance * _span(values)


def still_improving(series: Series, minimize: bool = True, threshold: float = 0.02) -> bool:
    """The last ``LATE_WINDOW`` of the run improved by over ``threshold`` of the range."""
    points = _finite(series)
    if len(points) < 4 or _span([v for _, v in points]) == 0:
        return False
    cut = points[-1][0] - LATE_WINDOW * (points[-1][0] - points[0][0])
    before = [v for s, v in points if s <= cut]
    after = [v for s, v in points if s > cut]
    if not before or not after:
        return False
    gain = (min(before) - min(after)) if minimize else (max(after) - max(before))
    return gain > threshold * _span([v for _, v in points])


def plateau_step(series: Series, minimize: bool = True, tolerance: float = 0.02) -> int | None:
    """The first step within ``tolerance`` (of the range) of the best, if before half the run."""
    points = _finite(series)
    values = [v for _, v in points]
    if len(points) < 4 or _span(values) == 0:
        return None
    best = min(values) if minimize else max(values)
    for step, value in points:
        if abs(value - best) <= tolerance * _span(values):
            return step if step <= points[0][0] + 0.5 * (points[-1][0] - points[0][0]) else None
    return None


def spikes(series: Series, window: int = 5) -> list[int]:
    """Steps where the loss jumps: NaN/Inf, or above ``SPIKE_FACTOR`` times the median of
    the previous ``window`` values *and* back up by a quarter of the progress made so far
    (so that noise around a loss near zero is not a spike)."""
    out: list[int] = []
    history: list[float] = []
    for step, value in series:
        if not math.isfinite(value):
            out.append(step)
            continue
        if len(history) >= 2:
            recent = statistics.median(history[-window:])
            progress = history[0] - min(history)
            if value > SPIKE_FACTOR * recent and value - min(history) > 0.25 * progress > 0:
                out.append(step)
        history.append(value)
    return out


def recovers(series: Series) -> bool:
    """A spike in the first half, and the run still ends at its lowest region."""
    points = _finite(series)
    early = [s for s in spikes(series) if points and s <= (points[0][0] + points[-1][0]) / 2]
    return bool(early) and not rises_at_end(series)


def noise(series: Series) -> float:
    """Step-to-step variation relative to the range (0 smooth … ~1 pure noise)."""
    values = [v for _, v in _finite(series)]
    if len(values) < 5:
        return 0.0
    diffs = [abs(b - a) for a, b in itertools.pairwise(values)]
    span = max(values) - min(values)
    return statistics.fmean(diffs) / span if span > 0 else 0.0
