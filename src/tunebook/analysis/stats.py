"""The few statistics the checklist's verdicts rest on (pure functions, numpy only).

Each verdict compares an effect with the noise it has to beat, and the noise is measured
from the study itself: the scatter of an evaluation curve around its own trend, the spacing
of the best trials' values, the spread of a configuration re-run with other seeds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Median |N(0, 1)| = 0.6745; a third difference of white noise has variance 20 sigma^2.
_MAD_TO_SIGMA = 1.0 / (0.6745 * math.sqrt(20.0))


def curve_noise(values: Sequence[float]) -> float:
    """Scatter of a curve around its smooth trend (one evaluation's noise, sigma).

    For ``y_i = f(s_i) + e_i`` with a smooth ``f``, the third difference
    ``y_{i+3} - 3 y_{i+2} + 3 y_{i+1} - y_i`` cancels any locally quadratic trend and is
    almost only noise (variance ``20 sigma^2``); its median absolute value ignores the few
    early points where even that trend still bends.
    """
    v = np.asarray([x for x in values if math.isfinite(x)], dtype=float)
    if len(v) < 6:
        return 0.0
    third = np.diff(v, n=3)
    return float(np.median(np.abs(third)) * _MAD_TO_SIGMA)


def smoothed(values: Sequence[float], window: int = 5) -> list[float]:
    """Centred moving average (the window shrinks at the ends, so no point is invented)."""
    v = np.asarray(values, dtype=float)
    half = window // 2
    return [float(v[max(0, i - half): i + half + 1].mean()) for i in range(len(v))]


def binomial_tail(hits: int, n: int, p: float) -> float:
    """P(X >= hits) for X ~ Binomial(n, p): how surprising ``hits`` of ``n`` would be by chance.

    Through ``scipy.special.bdtrc`` (the regularised incomplete beta), which stays finite for
    the top 10 % of a 100,000-trial study, where a sum of ``comb`` terms overflows.
    """
    if hits <= 0:
        return 1.0
    if hits > n:
        return 0.0
    from scipy.special import bdtrc

    return float(bdtrc(hits - 1, n, p))


@dataclass(frozen=True)
class Doubling:
    """What twice as many trials would likely gain, from the spacing of the best values.

    Near a smooth optimum in two effective dimensions, the number of random trials within
    ``delta`` of the optimum's value grows linearly in ``delta``, so the best values are
    evenly spaced: ``v_i = v* + c * i`` (``c`` = the gap between the best and the k-th best
    over ``k - 1``). Twice the trials halve the spacing, so the best improves by ``c / 2``.
    In simulations (40 trials; 1-D and 2-D bowls, a narrow optimum, a flat one) the median
    estimate was 0.8 to 2.6 times the true expected gain; a single study's estimate
    scatters about 4x between its 10th and 90th percentile, so only gains clearly above
    the noise count.
    """

    gain: float
    spacing: float
    k: int


def doubling_gain(best_first: Sequence[float], k: int) -> Doubling | None:
    """Expected improvement of the best value if the study ran twice the trials.

    ``best_first`` are objective values ordered best first, in "lower is better" units.
    """
    top = [float(v) for v in best_first[:k]]
    if len(top) < 3:
        return None
    spacing = (top[-1] - top[0]) / (len(top) - 1)
    return Doubling(spacing / 2, spacing, len(top))


def _ranks(values: Sequence[float]) -> np.ndarray:
    """Ranks with ties averaged (what Spearman's correlation needs)."""
    v = np.asarray(values, dtype=float)
    _, inverse, counts = np.unique(v, return_inverse=True, return_counts=True)
    first = np.cumsum(counts) - counts          # rank of each distinct value's first copy
    return (first + (counts - 1) / 2.0)[inverse]


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation (ties averaged); needs two distinct values on each side."""
    return float(np.corrcoef(_ranks(x), _ranks(y))[0, 1])


def rank_trend(x: Sequence[float], y: Sequence[float]) -> float:
    """One-sided p-value that ``y`` rises with ``x`` (Spearman; 1.0 with too few points).

    The p-value uses the t approximation scipy's ``spearmanr`` uses, without importing
    ``scipy.stats`` (most of a second) into every report.
    """
    if len(x) < 4 or len(set(x)) < 2 or len(set(y)) < 2:
        return 1.0
    from scipy.special import stdtr

    r = spearman(x, y)
    if r >= 1.0:
        return 0.0
    dof = len(x) - 2
    t = r * math.sqrt(dof / max(1e-300, (1.0 - r) * (1.0 + r)))
    return float(1.0 - stdtr(dof, t))
