"""Gradient-norm evidence and the clipping advice of §5.8.2.

The playbook clips at the 90th percentile of the unclipped gradient norm, and reads a
clipped share above 50 % as clipping doing the learning rate's job: lower the learning
rate instead. The percentile is taken over the top-k feasible trials' norms pooled (one
trial's norms move with its seed; the pool does not), and the advice states how much of
each top trial's training it would clip.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tunebook.analysis.curves import TrialCurves
from tunebook.analysis.data import Series, StudyData
from tunebook.records import TrialRecord
from tunebook.store import Store

PERCENTILE = 90
CLIPPED_TOO_OFTEN = 0.5
UNSTABLE_SHOWN = 3


@dataclass(frozen=True)
class GradNormData:
    """Norm curves of the best and the unstable trials, the pooled norms and the advice.

    Attributes:
        threshold: the suggested clipping threshold (None without norms).
        would_clip: (lowest, highest) share of steps the threshold clips in one top trial.
        clipped_share: share of steps already clipped (from a reported ``clipped`` metric).
    """

    curves: list[tuple[str, Series]]
    values: list[float]
    threshold: float | None
    clipped_share: float | None
    advice: str
    warning: str = ""
    would_clip: tuple[float, float] | None = None


def grad_norms(store: Store, data: StudyData, top: Sequence[TrialCurves],
               flagged: dict[int, str]) -> GradNormData:
    """Read the top trials' (and a few unstable trials') norms and derive the advice."""
    best = [(c.trial, f"best {c.label}") for c in top]
    by_id = {t.id: t for t in data.trials}
    shaky = [(by_id[i], f"unstable {data.label(by_id[i])}") for i in flagged
             if i in by_id and i not in {t.id for t, _ in best}][:UNSTABLE_SHOWN]
    chosen: list[tuple[TrialRecord, str]] = best + shaky
    raw = store.metric_points([t.id for t, _ in chosen], ["grad_norm", "clipped"])
    curves = [(label, raw[(t.id, "grad_norm")]) for t, label in chosen
              if (t.id, "grad_norm") in raw]
    feasible = [t.id for t, _ in best if t.id not in flagged] or [t.id for t, _ in best]
    per_trial = [[v for _, v in raw.get((i, "grad_norm"), []) if math.isfinite(v)]
                 for i in feasible]
    clipped = [v for i in feasible for _, v in raw.get((i, "clipped"), []) if math.isfinite(v)]
    return advise(curves, [n for norms in per_trial if norms for n in norms], clipped,
                  [norms for norms in per_trial if norms])


def advise(curves: list[tuple[str, Series]], values: Sequence[float],
           clipped: Sequence[float], per_trial: Sequence[Sequence[float]] = ()) -> GradNormData:
    """The clipping recommendation from pooled norms and clipped flags (pure)."""
    if not values:
        return GradNormData(curves, [], None, None, "No grad_norm was reported; log it with "
                            "tunebook.torch.StepMonitor to get clipping advice.")
    threshold = float(np.percentile(values, PERCENTILE))
    share = sum(clipped) / len(clipped) if clipped else None
    shares = [sum(v > threshold for v in norms) / len(norms) for norms in per_trial if norms]
    would = (min(shares), max(shares)) if shares else None
    advice = (f"Clip the gradient norm at ~{threshold:.3g}, the {PERCENTILE}th percentile of "
              f"the unclipped norms of the {max(len(shares), 1)} best feasible trials")
    advice += (f": it would clip {would[0]:.0%}–{would[1]:.0%} of each one's steps."
               if would else ".")
    warning = ""
    if share is not None and share > CLIPPED_TOO_OFTEN:
        warning = (f"{share:.0%} of steps were clipped: clipping is doing the learning rate's "
                   "job; lower the learning rate.")
    elif would is not None and would[1] > CLIPPED_TOO_OFTEN:
        warning = (f"The threshold would clip {would[1]:.0%} of one top trial's steps: "
                   "clipping that often is really a learning-rate cut; lower its learning "
                   "rate instead.")
    return GradNormData(curves, list(values), threshold, share, advice, warning, would)
