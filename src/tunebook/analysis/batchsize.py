"""What a batch-size probe shows: throughput per size, where it stops scaling, the size
that reaches a fixed number of examples soonest (§5.1)."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from tunebook.analysis.data import load_study
from tunebook.records import TrialStatus
from tunebook.store import Store

SCALING = 1.1   # doubling the batch must buy at least 10 % more examples per second


@dataclass(frozen=True)
class ProbePoint:
    size: int
    status: str
    reason: str
    steps_per_s: float | None
    examples_per_s: float | None


@dataclass(frozen=True)
class ProbeResult:
    key: str
    points: list[ProbePoint]
    best: ProbePoint | None
    saturates_at: int | None
    statement: str


def _throughput(times: list[tuple[int, float]]) -> float | None:
    """Steps per second between the first and the last report (setup time excluded)."""
    if len(times) < 2:
        return None
    (s0, t0), (s1, t1) = min(times), max(times)
    return (s1 - s0) / (t1 - t0) if t1 > t0 and s1 > s0 else None


def probe_result(store: Store, name: str, key: str) -> ProbeResult:
    data = load_study(store, name)
    finished = [t for t in data.trials if t.status.finished and key in t.params]
    points = []
    for t in sorted(finished, key=lambda t: int(t.params[key])):
        times = sorted({(p.step, p.time) for p in store.metric_history(t.id)})
        rate = _throughput(times) if t.status is TrialStatus.COMPLETED else None
        size = int(t.params[key])
        points.append(ProbePoint(size, t.status.value, t.reason or "", rate,
                                 None if rate is None else rate * size))
    return _judge(key, points)


def _per_doubling(a: ProbePoint, b: ProbePoint) -> float:
    """The examples/s gain from ``a`` to ``b``, per doubling of the batch size."""
    gain = (b.examples_per_s or 0.0) / max(a.examples_per_s or 0.0, 1e-12)
    return float(gain ** (1.0 / math.log2(b.size / a.size))) if gain > 0 else 0.0


def _judge(key: str, points: list[ProbePoint]) -> ProbeResult:
    measured = [p for p in points if p.examples_per_s is not None]
    oom = [p for p in points if p.status == "infeasible"]
    if not measured:
        return ProbeResult(key, points, None, None, "No batch size trained: see the reasons "
                           "(tunebook trials STUDY) and probe smaller sizes.")
    best = max(measured, key=lambda p: p.examples_per_s or 0.0)
    saturates = next((b.size for a, b in itertools.pairwise(measured)
                      if _per_doubling(a, b) < SCALING), None)
    text = (f"{key} = {best.size} reaches a fixed number of examples soonest "
            f"({best.examples_per_s:.4g} examples/s).")
    if saturates is not None:
        text += (f" Throughput stops scaling at {saturates}: a larger batch gains under "
                 f"{SCALING - 1:.0%} per doubling.")
    if oom:
        text += f" Out of memory (infeasible) from {oom[0].size}."
    text += (" Changing the batch size invalidates the tuned nuisance values (learning rate, "
             "regularisation, schedule): re-tune them at the new size.")
    return ProbeResult(key, points, best, saturates, text)
