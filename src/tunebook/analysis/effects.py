"""How much a nuisance parameter moves the objective where it matters, against the noise.

``next`` stops searching a parameter only with evidence of *no effect worth keeping*: its
effect across its whole range, among the good trials and with the other parameters held
(a model, not a one-dimensional share of the raw objective), bounded below the study's own
noise. The model is an additive quadratic in each searched parameter's unit coordinate
(log-scaled for a log range) plus one level per scientific value, fitted by least squares
to the better :data:`GOOD_SHARE` of the completed trials (diverged and far-off trials,
which dominate the raw variance, say nothing about the region a search is after). A
parameter's effect is the range of its fitted term over its range; refitting on
:data:`RESAMPLES` bootstrap resamples gives an upper bound (the :data:`BOUND_Q` quantile).

The decision (:func:`inert`): fix when that upper bound is below the noise; keep searching
when the effect itself is above it; otherwise say how many trials would settle it. The
value to fix it at is the median of the top trials' values (geometric on a log range): an
estimate of where the good region lies, not one trial's draw.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tunebook.analysis.checklist import top_k
from tunebook.analysis.data import StudyData
from tunebook.records import TrialRecord
from tunebook.space import ChoiceDomain, Dimension, IntDomain, ParamValue

GOOD_SHARE = 0.75    # the model is fitted to the better 3/4 of the completed trials ...
MIN_GOOD = 16        # ... and needs at least this many of them
RESAMPLES = 200
BOUND_Q = 0.8
GRID = np.linspace(0.0, 1.0, 51)


@dataclass(frozen=True)
class Effect:
    """One parameter's effect among the good trials, with its bound and the noise.

    Attributes:
        dim: the parameter.
        effect: the range of its fitted term across its range (objective units).
        upper: the :data:`BOUND_Q` bootstrap upper bound of ``effect``.
        noise: the study's trial-to-trial noise (None: unknown).
        trials: how many good trials the model was fitted to.
        best: where the top trials put it (their median), the value to fix it at.
    """

    dim: Dimension
    effect: float
    upper: float
    noise: float | None
    trials: int
    best: ParamValue

    @property
    def inert(self) -> bool:
        """Its effect is bounded below the noise: nothing worth keeping."""
        return self.noise is not None and self.upper < self.noise

    @property
    def matters(self) -> bool:
        """Its effect alone exceeds the noise: keep searching it."""
        return self.noise is not None and self.effect >= self.noise

    def trials_to_settle(self, completed: int) -> int | None:
        """About how many completed trials would bound the effect below the noise, if it
        is as small as fitted (the bound's width shrinks as one over the root of n)."""
        if self.noise is None or self.matters:
            return None
        width, room = self.upper - self.effect, self.noise - self.effect
        return math.ceil(completed * (width / room) ** 2) if room > 0 else None


def _columns(data: StudyData, dims: list[Dimension], done: list[TrialRecord]) -> np.ndarray:
    """The model's design: intercept, a level per scientific value, u and u² per dim."""
    def level(t: TrialRecord) -> tuple[str, ...]:
        return tuple(str(t.params.get(d.key)) for d in data.spec.space.scientific)

    levels = sorted({level(t) for t in done})
    cols = [np.ones(len(done))]
    cols += [np.array([float(level(t) == one) for t in done]) for one in levels[1:]]
    for dim in dims:
        u = np.array([float(dim.domain.to_unit(t.params[dim.key])) for t in done]) - 0.5
        cols += [u, u * u]
    return np.column_stack(cols)


def _ranges(x: np.ndarray, y: np.ndarray, first: int, count: int) -> np.ndarray:
    """Each dim's fitted term range over [0, 1] (its u, u² columns start at ``first``)."""
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    grid = GRID - 0.5
    out = np.empty(count)
    for j in range(count):
        b, c = coef[first + 2 * j], coef[first + 2 * j + 1]
        term = b * grid + c * grid * grid
        out[j] = float(term.max() - term.min())
    return out


def _searched(data: StudyData) -> list[Dimension]:
    return [d for d in data.spec.space.nuisance
            if d.condition is None and not isinstance(d.domain, ChoiceDomain)]


def _best_value(dim: Dimension, top: list[TrialRecord]) -> ParamValue:
    units = sorted(float(dim.domain.to_unit(t.params[dim.key])) for t in top)
    mid = units[len(units) // 2] if len(units) % 2 else (
        units[len(units) // 2 - 1] + units[len(units) // 2]) / 2
    value = dim.domain.from_unit(min(mid, math.nextafter(1.0, 0.0)))
    if isinstance(dim.domain, IntDomain):
        return int(value)
    return float(f"{float(value):.4g}")


def effects(data: StudyData, noise: float | None, seed: int = 0) -> list[Effect]:
    """The effect of every searched numeric nuisance parameter (empty with too few
    trials: see :data:`MIN_GOOD`)."""
    dims = _searched(data)
    done = [t for t in data.completed()
            if t.value is not None and math.isfinite(t.value) and all(d.key in t.params
                                                                      for d in dims)]
    good = done[:max(MIN_GOOD, math.ceil(GOOD_SHARE * len(done)))]  # best first
    if not dims or len(good) < MIN_GOOD:
        return []
    x = _columns(data, dims, good)
    first = x.shape[1] - 2 * len(dims)
    if x.shape[1] >= len(good) - 2:
        return []
    y = np.array([float(t.value or 0.0) for t in good])
    fitted = _ranges(x, y, first, len(dims))
    rng = np.random.default_rng(seed)
    draws = np.vstack([_ranges(x[pick], y[pick], first, len(dims))
                       for pick in (rng.integers(0, len(y), len(y)) for _ in range(RESAMPLES))])
    upper = np.quantile(draws, BOUND_Q, axis=0)
    top = done[:top_k(len(done))]
    return [Effect(dim, float(fitted[j]), float(upper[j]), noise, len(good),
                   _best_value(dim, top)) for j, dim in enumerate(dims)]
