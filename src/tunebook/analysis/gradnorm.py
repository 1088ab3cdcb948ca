"""Gradient-norm evidence and the clipping advice of §5.8.2.

The playbook clips at the 90th percentile of the unclipped gradient norm, and reads a
clipped share above 50 % as clipping doing the learning rate's job: lower the learning
rate instead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tunebook.analysis.data import Series, StudyData
from tunebook.records import TrialRecord, TrialStatus
from tunebook.store import Store

PERCENTILE = 90
CLIPPED_TOO_OFTEN = 0.5
UNSTABLE_SHOWN = 3


@dataclass(frozen=True)
class GradNormData:
    """Norm curves of the best and the unstable trials, their histogram and the advice."""

    curves: list[tuple[str, Series]]
    values: list[float]
    threshold: float | None
    clipped_share: float | None
    advice: str
    warning: str = ""


def _pick(data: StudyData) -> list[tuple[TrialRecord, str]]:
    chosen = [(rows[0], f"best {data.label(rows[0])}") for combo in data.combos()
              if (rows := data.completed(data.of_combo(combo)))]
    unstable = [t for t in data.trials if t.status is TrialStatus.INFEASIBLE]
    return chosen + [(t, f"unstable {data.label(t)}") for t in unstable[:UNSTABLE_SHOWN]]


def grad_norms(store: Store, data: StudyData) -> GradNormData:
    """Read ``grad_norm`` and ``clipped`` of the chosen trials and derive the advice."""
    chosen = _pick(data)
    raw = store.metric_points([t.id for t, _ in chosen], ["grad_norm", "clipped"])
    curves = [(label, raw[(t.id, "grad_norm")]) for t, label in chosen
              if (t.id, "grad_norm") in raw]
    best_ids = {t.id for t, label in chosen if label.startswith("best")}
    values = [v for (tid, name), s in raw.items() if name == "grad_norm" and tid in best_ids
              for _, v in s if math.isfinite(v)]
    clipped = [v for (tid, name), s in raw.items() if name == "clipped" and tid in best_ids
               for _, v in s if math.isfinite(v)]
    return advise(curves, values, clipped)


def advise(curves: list[tuple[str, Series]], values: Sequence[float],
           clipped: Sequence[float]) -> GradNormData:
    """The clipping recommendation from norms and clipped flags (pure)."""
    if not values:
        return GradNormData(curves, [], None, None, "No grad_norm was reported; log it with "
                            "tunebook.torch.StepMonitor to get clipping advice.")
    threshold = float(np.percentile(values, PERCENTILE))
    share = sum(clipped) / len(clipped) if clipped else None
    advice = (f"Clip the gradient norm at ~{threshold:.3g}, the {PERCENTILE}th percentile of "
              "the unclipped norm of the best trials.")
    warning = ""
    if share is not None and share > CLIPPED_TOO_OFTEN:
        warning = (f"{share:.0%} of steps were clipped: clipping is doing the learning rate's "
                   "job; lower the learning rate.")
    return GradNormData(curves, list(values), threshold, share, advice, warning)
