"""Axis plots: the objective against each searched hyperparameter (§2.4, basic plots).

Infeasible trials are kept (marked), the range boundaries are part of the data, and a
conditional parameter is one series per scientific value it exists under.
"""

from __future__ import annotations

from dataclasses import dataclass

from tunebook.analysis.data import StudyData
from tunebook.records import TrialStatus
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


def axes(data: StudyData) -> list[Axis]:
    """One axis per nuisance dimension (conditional ones included), then scientific ones."""
    out = []
    for dim in (*data.spec.space.nuisance, *data.spec.space.scientific):
        low, high = _bounds(dim)
        points = [AxisPoint(t.params[dim.key], t.value if t.status is TrialStatus.COMPLETED
                            else None, t.status.value, data.label(t))
                  for t in data.trials if dim.key in t.params and t.status.finished]
        out.append(Axis(dim.key, dim.name, dim.is_log, low, high,
                        isinstance(dim.domain, ChoiceDomain), points))
    return out
