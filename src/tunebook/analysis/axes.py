"""Axis plots: the objective against each searched hyperparameter (§2.4, basic plots).

Infeasible trials are kept (marked), the range boundaries are part of the data, and a
conditional parameter is one series per scientific value it exists under.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tunebook.analysis.data import StudyData
from tunebook.records import TrialRecord, TrialStatus
from tunebook.space import ChoiceDomain, Dimension, ParamValue


@dataclass(frozen=True)
class AxisPoint:
    value: ParamValue
    objective: float | None
    status: str
    trial: str


@dataclass(frozen=True)
class Axis:
    """One hyperparameter's axis plot data."""

    key: str
    name: str
    log: bool
    low: float | None
    high: float | None
    categorical: bool
    points: list[AxisPoint]


def _bounds(dim: Dimension) -> tuple[float | None, float | None]:
    if isinstance(dim.domain, ChoiceDomain):
        return None, None
    return float(dim.domain.low), float(dim.domain.high)


MAX_POINTS = 1500   # per axis: the 500 best, every infeasible one up to the cap, a sample


def shown_trials(data: StudyData, cap: int = MAX_POINTS) -> list[TrialRecord]:
    """The finished trials an axis plot shows: all of them up to ``cap``; beyond, the best
    500, then infeasible and failed ones, then an even sample of the rest (a plot of
    100,000 markers shows nothing more than one of 1,500, and costs seconds to draw: at
    3,000 a 10,000-trial dashboard page took 2.2 s to draw, at 1,500 it takes 1.9 s)."""
    finished = [t for t in data.trials if t.status.finished]
    if len(finished) <= cap:
        return finished
    best = data.completed()[:500]
    chosen = {t.id for t in best}
    bad = [t for t in finished if t.status is not TrialStatus.COMPLETED][: cap // 3]
    chosen |= {t.id for t in bad}
    rest = [t for t in finished if t.id not in chosen]
    room = max(cap - len(chosen), 1)
    chosen |= {t.id for t in rest[:: max(1, math.ceil(len(rest) / room))]}
    return [t for t in finished if t.id in chosen]


def axes(data: StudyData) -> list[Axis]:
    """One axis per nuisance dimension (conditional ones included), then scientific ones."""
    out = []
    shown = shown_trials(data)
    for dim in (*data.spec.space.nuisance, *data.spec.space.scientific):
        low, high = _bounds(dim)
        points = [AxisPoint(t.params[dim.key], t.value if t.status is TrialStatus.COMPLETED
                            else None, t.status.value, data.label(t))
                  for t in shown if dim.key in t.params]
        out.append(Axis(dim.key, dim.name, dim.is_log, low, high,
                        isinstance(dim.domain, ChoiceDomain), points))
    return out
