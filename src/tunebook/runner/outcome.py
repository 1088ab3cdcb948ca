"""Decide a finished trial's status, objective value and reason.

The playbook treats a diverged run (NaN or Inf objective) as *infeasible*: a fact about
that region of the search space, kept as data, not a crash. A crash is *failed*, with
the end of its traceback so the user can fix it without digging through logs.
"""

from __future__ import annotations

import math
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tunebook.records import MetricPoint, Objective, TrialStatus

LOG_TAIL_CHARS = 2000


@dataclass(frozen=True)
class Outcome:
    """What the store records for a finished trial."""

    status: TrialStatus
    value: float | None = None
    reason: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)


def describe_exit(code: int | None) -> str:
    """``killed by signal SIGABRT`` or ``exited with code 3`` (negative codes are signals)."""
    if code is not None and code < 0:
        return f"was killed by signal {signal.Signals(-code).name}"
    return f"exited with code {code}"


def died(exitcode: int | None, log_tail: str) -> Outcome:
    """The trial process ended without writing a result (segfault, abort, OOM killer)."""
    how = describe_exit(exitcode)
    if exitcode is None or exitcode >= 0:
        how += " before reporting a result"
    reason = f"trial process {how}"
    if log_tail.strip():
        reason += f"\nlast output:\n{log_tail[-LOG_TAIL_CHARS:]}"
    return Outcome(TrialStatus.FAILED, reason=reason)


def decide(result: Mapping[str, Any], objective: Objective,
           history: Sequence[MetricPoint], final: Mapping[str, float],
           log_tail: str = "") -> Outcome:
    """Turn a trial's result file and reported metrics into an :class:`Outcome`.

    Args:
        result: the result file: status, and optionally reason, value, metrics.
        objective: the study's objective (metric, goal, select).
        history: the reported points of the objective metric, by step.
        final: the last reported value of every metric.
        log_tail: the end of the trial's output, attached to failures.
    """
    status = TrialStatus(result.get("status", "failed"))
    metrics = {**final, **result.get("metrics", {})}
    if status is TrialStatus.FAILED:
        reason = result.get("reason") or "failed"
        if log_tail.strip() and "Traceback" not in reason:
            reason += f"\nlast output:\n{log_tail[-LOG_TAIL_CHARS:]}"
        return Outcome(status, reason=reason, metrics=metrics)
    if status is not TrialStatus.COMPLETED:
        return Outcome(status, reason=result.get("reason"), metrics=metrics)
    return _objective_outcome(result, objective, history, metrics)


def _objective_outcome(result: Mapping[str, Any], objective: Objective,
                       history: Sequence[MetricPoint], metrics: dict[str, float]) -> Outcome:
    name = objective.metric
    points = [(p.step, p.value) for p in history]
    returned = result.get("value", result.get("metrics", {}).get(name))
    if returned is not None:
        points.append(((points[-1][0] if points else 0) + 1, float(returned)))
    if not points:
        return Outcome(TrialStatus.FAILED, metrics=metrics, reason=(
            f"the trainer never reported the objective {name!r}; call "
            f"t.report(step, {name}=...) or return the value from the train function"))
    for step, value in points:
        if not math.isfinite(value):
            return Outcome(TrialStatus.INFEASIBLE, metrics=metrics, reason=(
                f"objective {name} became {value} at step {step}: training diverged"))
    values = [v for _, v in points]
    if objective.select == "last":
        value = values[-1]
    else:
        value = min(values) if objective.minimize else max(values)
    return Outcome(TrialStatus.COMPLETED, value=value, metrics=metrics)
