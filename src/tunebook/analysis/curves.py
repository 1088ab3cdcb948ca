"""Training curves of the best trials, and what each one says (§2.4 checklist, §3).

Curve diagnostics read the top-k trials of every scientific value (k grows with the
study, capped), so a report of a 10,000-trial study reads thousands of points, not
millions. Every call compares an effect with the curve's own noise: the scatter of its
evaluations around their trend (:func:`tunebook.analysis.stats.curve_noise`).
"""

from __future__ import annotations

import itertools
import math
import statistics
from dataclasses import dataclass

import numpy as np

from tunebook.analysis.data import Series, StudyData, load_series
from tunebook.analysis.stats import curve_noise, smoothed
from tunebook.records import TrialRecord
from tunebook.store import Store

TOP_MIN, TOP_MAX, TOP_SHARE = 3, 8, 0.1   # top-k: 10 % of the completed trials, 3 to 8
SPIKE_FACTOR = 2.0
NOISE_SPIKE = 4.0    # ... or this many times the loss's own log-scale scatter, if larger
LAST = 0.25            # "the final level": the mean of the last quarter of evaluations
TREND = 1 / 3          # "still improving": the slope over the last third of the steps
PLATEAU_BY = 0.4       # reaching the final level before 40 % of the run is an early plateau
SIGNIFICANT = 3.0      # a trend counts when it exceeds 3 standard errors ...
MEANINGFUL = 0.01      # ... and 1 % of the curve's total improvement (and one eval's noise)


def curve_k(n_completed: int) -> int:
    """How many of the best trials the curve checks read."""
    return min(TOP_MAX, max(TOP_MIN, math.ceil(TOP_SHARE * n_completed)))


@dataclass(frozen=True)
class TrialCurves:
    """The series of one trial, by metric name (downsampled, extremes kept)."""

    trial: TrialRecord
    label: str
    combo: str
    series: dict[str, Series]


def best_curves(store: Store, data: StudyData, max_points: int = 400) -> list[TrialCurves]:
    """Curves of the top-k trials of every scientific value, best first within each."""
    chosen: list[tuple[TrialRecord, str]] = []
    for combo in data.combos():
        label = ", ".join(f"{k}={v}" for k, v in combo.items()) or "(all)"
        ranked = data.completed(data.of_combo(combo))
        chosen += [(t, label) for t in ranked[:curve_k(len(ranked))]]
    raw = load_series(store, [t.id for t, _ in chosen], None, max_points)
    return [TrialCurves(t, data.label(t), label,
                        {name: s for (tid, name), s in raw.items() if tid == t.id})
            for t, label in chosen]


def train_series(curve: TrialCurves) -> Series:
    """The training loss of a trial (``train_loss``, else ``loss``), or nothing."""
    return train_of(curve.series)


def train_of(series: dict[str, Series]) -> Series:
    """The training loss among a trial's series by name (``train_loss``, else ``loss``)."""
    for name in ("train_loss", "loss"):
        if name in series:
            return series[name]
    return []


def _finite(series: Series) -> Series:
    return [(s, v) for s, v in series if math.isfinite(v)]


@dataclass(frozen=True)
class CurveRead:
    """What one evaluation curve shows, in the metric's units ("better" is positive).

    Attributes:
        noise: one evaluation's scatter around the curve's trend (sigma).
        drop: improvement from the start of the curve to its final level.
        last_gain: improvement over the last third of the steps, when it beats the
            noise (significant and meaningful); None when the curve has stopped improving.
        next_gain: what 2x steps would likely gain (extrapolated over doublings of steps).
        plateau: the step from which the curve stays at its final level, when that is
            before ``PLATEAU_BY`` of the run.
        overfit: (step of the best evaluation, how much worse the end is) when the
            evaluation metric worsens beyond its noise while the training loss does not.
    """

    noise: float
    drop: float
    last_gain: float | None
    next_gain: float | None
    plateau: int | None
    overfit: tuple[int, float] | None
    steps: int


def read_curve(ev: Series, train: Series, minimize: bool = True) -> CurveRead | None:
    """Read one trial's evaluation curve (None with fewer than 8 finite evaluations)."""
    points = _finite(ev)
    if len(points) < 8:
        return None
    sign = 1.0 if minimize else -1.0
    steps = [s for s, _ in points]
    loss = [sign * v for _, v in points]            # lower is better from here on
    sigma = curve_noise(loss)
    smooth = smoothed(loss)
    tail = max(3, round(LAST * len(loss)))
    final = statistics.fmean(loss[-tail:])
    drop = smooth[0] - final
    floor = max(sigma, MEANINGFUL * abs(drop), 1e-12)
    last_gain = _last_gain(steps, loss, sigma, floor)
    return CurveRead(sigma, drop, last_gain,
                     _next_gain(steps, smooth) if last_gain is not None else None,
                     _plateau(steps, smooth, final, max(2 * sigma, 2 * MEANINGFUL * abs(drop))),
                     _overfit(steps, smooth, final, sigma, drop, train, sign), steps[-1])


def _last_gain(steps: list[int], loss: list[float], sigma: float, floor: float,
               ) -> float | None:
    """Improvement over the last third of the steps from a least-squares slope, when it
    exceeds ``SIGNIFICANT`` standard errors and ``floor``.

    The standard error uses the whole curve's noise ``sigma``: a residual estimate from
    the last third's few points would be too unsteady to test against."""
    cut = steps[-1] - TREND * (steps[-1] - steps[0])
    idx = [i for i, s in enumerate(steps) if s >= cut]
    if len(idx) < 4:
        idx = list(range(len(steps) - 4, len(steps)))
    x = np.asarray([steps[i] for i in idx], dtype=float)
    y = np.asarray([loss[i] for i in idx], dtype=float)
    slope = float(np.polyfit(x, y, 1)[0])
    se = sigma / math.sqrt(float(((x - x.mean()) ** 2).sum()))
    gain = -slope * (x[-1] - x[0])
    significant = -slope > SIGNIFICANT * se if se > 0 else -slope > 0
    return float(gain) if significant and gain > floor else None


def _at(steps: list[int], smooth: list[float], step: float) -> float:
    return float(np.interp(step, steps, smooth))


def _next_gain(steps: list[int], smooth: list[float]) -> float:
    """Gain of the next doubling of steps, assuming the gains of successive doublings
    shrink geometrically (exact for power laws, generous for exponential decays)."""
    end = steps[-1]
    a, b, c = (_at(steps, smooth, end / 4), _at(steps, smooth, end / 2), smooth[-1])
    g1, g2 = a - b, b - c
    return g2 * g2 / g1 if g1 > g2 > 0 else max(g2, 0.0)


def _plateau(steps: list[int], smooth: list[float], final: float, tol: float) -> int | None:
    """The first step from which the smoothed curve stays within ``tol`` of its final level."""
    first = len(smooth)
    for i in range(len(smooth) - 1, -1, -1):
        if abs(smooth[i] - final) > tol:
            break
        first = i
    if first >= len(smooth):
        return None
    step = steps[first]
    return step if step - steps[0] <= PLATEAU_BY * (steps[-1] - steps[0]) else None


def _overfit(steps: list[int], smooth: list[float], final: float, sigma: float, drop: float,
             train: Series, sign: float) -> tuple[int, float] | None:
    """Evaluation worse at the end than at its best by over 3 sigma (and 2 % of the
    improvement), while the training loss at the end is no worse than at that step."""
    best = int(np.argmin(smooth))
    worse = final - smooth[best]
    tail = max(3, round(LAST * len(smooth)))
    if best >= len(smooth) - tail or worse <= max(3 * sigma, 2 * MEANINGFUL * abs(drop)):
        return None
    points = _finite(train)
    if len(points) >= 4:
        t_steps = [s for s, _ in points]
        t_smooth = smoothed([v for _, v in points])
        t_noise = curve_noise([v for _, v in points])
        if t_smooth[-1] > _at(t_steps, t_smooth, steps[best]) + 2 * t_noise:
            return None  # both rise: that is instability, not overfitting
    return steps[best], float(worse)


def _log_moves(values: list[float]) -> list[float]:
    """How far (on a log scale) a positive loss moves from one reading to the next."""
    return [abs(math.log(b / a)) for a, b in itertools.pairwise(values)]


def spike_factor(series: Series) -> float:
    """How far above its recent median a reading must be to count as a spike:
    ``SPIKE_FACTOR``, or ``NOISE_SPIKE`` times the loss's own reading-to-reading scatter
    (on a log scale, robustly) when that is larger: a minibatch loss that moves by 30 %
    from one reading to the next doubles now and then without anything going wrong."""
    moves = _log_moves([v for _, v in _finite(series) if v > 0])
    if len(moves) < 4:
        return SPIKE_FACTOR
    sigma = 1.4826 * statistics.median(moves) / math.sqrt(2)
    return max(SPIKE_FACTOR, math.exp(NOISE_SPIKE * sigma))


def spikes(series: Series, window: int = 5) -> list[int]:
    """Steps where the loss jumps: NaN/Inf, or above :func:`spike_factor` times the median
    of the previous ``window`` values *and* back up by a quarter of the progress made so
    far (so that noise around a loss near zero is not a spike)."""
    out: list[int] = []
    history: list[float] = []
    factor = spike_factor(series)
    for step, value in series:
        if not math.isfinite(value):
            out.append(step)
            continue
        if len(history) >= 2:
            recent = statistics.median(history[-window:])
            progress = history[0] - min(history)
            if value > factor * recent and value - min(history) > 0.25 * progress > 0:
                out.append(step)
        history.append(value)
    return out


NOISY = 0.1   # a loss whose readings move by over 10 % from one to the next is noisy


def noisy(series: Series) -> bool:
    """The loss moves by more than ``NOISY`` (relative) from one reading to the next over
    its second half, in the median: a minibatch loss near its floor, say."""
    points = [v for _, v in _finite(series) if v > 0]
    late = points[len(points) // 2:]
    if len(late) < 4:
        return False
    moves = _log_moves(late)
    return statistics.median(moves) > NOISY


def blip(series: Series, step: int) -> bool:
    """The spike at ``step`` is one reading of a noisy loss (:func:`isolated` and
    :func:`noisy`): one bad minibatch, not a run knocked off course."""
    return isolated(series, step) and noisy(series)


def isolated(series: Series, step: int, window: int = 5) -> bool:
    """The spike at ``step`` is one reading: the next one is back within ``SPIKE_FACTOR``
    of the median before it, or there is no next one (a noisy loss's outlier, not a run
    knocked off course)."""
    points = _finite(series)
    at = next((i for i, (s, _) in enumerate(points) if s == step), None)
    if at is None or at == 0:
        return False
    if at + 1 == len(points):
        return True  # the last reading: nothing says the run stayed up
    before = statistics.median(v for _, v in points[max(0, at - window):at])
    return points[at + 1][1] <= SPIKE_FACTOR * before


def early_spikes(series: Series) -> list[int]:
    """The spikes (:func:`spikes`) in the first half of the run's steps."""
    points = _finite(series)
    return [s for s in spikes(series) if points and s <= (points[0][0] + points[-1][0]) / 2]


def recovers(series: Series) -> bool:
    """A spike in the first half, and the run still ends near its lowest loss (within a
    tenth of the progress it made)."""
    points = _finite(series)
    if not early_spikes(series):
        return False
    values = [v for _, v in points]
    return values[-1] <= min(values) + 0.1 * (values[0] - min(values))
