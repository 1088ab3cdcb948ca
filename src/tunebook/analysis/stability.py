"""Are there optimisation problems? Instability across trials, and in the best ones.

The playbook's question is not whether one curve spikes but whether instability caps the
usable learning rate: every trial above some value of a nuisance parameter is unstable
(diverged, NaN, loss or grad-norm spikes), and the best trial sits right below it. Then
warmup, clipping or another optimizer can open the range above; far below it, they will
not help.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from tunebook.analysis import curves as cv
from tunebook.analysis.checklist import EDGE, numeric_dims, unit_of
from tunebook.analysis.curves import TrialCurves, train_series
from tunebook.analysis.data import Series, StudyData, load_series
from tunebook.analysis.findings import Check, Finding, Verdict, sentence, worst
from tunebook.records import TrialRecord, TrialStatus
from tunebook.store import Store

QUESTION = Check.OPTIMISATION
GRAD_SPIKE = 10.0      # a grad norm above 10x its own median (after the first 10 %) is a spike
MAX_SCANNED = 300      # trials whose loss and grad norm the cross-trial check reads
ABOVE_UNSTABLE = 0.8   # a boundary: at least 80 % of the trials above it are unstable ...
BELOW_STABLE = 0.9     # ... and at least 90 % of those below it are stable
MIN_UNSTABLE = 3


def unstable(series: dict[str, Series]) -> str:
    """Why a finished trial's curves look unstable ("" when they do not).

    Unstable: a loss spike in the second half of training (one reading of a noisy loss
    that is back at the next one is not: :func:`~tunebook.analysis.curves.blip`, one bad
    minibatch), an earlier spike the loss does not
    recover from, or a grad-norm spike after the first 10 % of the steps. An early spike
    that recovers is the early instability warmup addresses, not an unstable trial.
    """
    train = series.get("train_loss") or series.get("loss") or []
    jumps = cv.spikes(train)
    if jumps:
        middle = (train[0][0] + train[-1][0]) / 2
        late = [s for s in jumps if s > middle]
        if len(late) >= 2 or (late and not cv.blip(train, late[0])):
            return f"loss spike at step {late[-1]}"
        early = [s for s in jumps if s <= middle and not cv.blip(train, s)]
        if early and not cv.recovers(train):
            return f"loss spike at step {early[0]} without recovery"
    norms = series.get("grad_norm", [])
    values = [v for _, v in norms[len(norms) // 10:] if math.isfinite(v)]
    if len(values) >= 5 and max(values) > GRAD_SPIKE * statistics.median(values):
        return f"grad-norm spike {max(values):.3g} (median {statistics.median(values):.3g})"
    return ""


def scan(store: Store, data: StudyData) -> dict[int, str]:
    """Unstable finished trials by id, with the reason (infeasible ones included)."""
    finished = [t for t in data.trials if t.status.finished]
    step = max(1, math.ceil(len(finished) / MAX_SCANNED))
    chosen = [t for t in finished[::step] if t.status is TrialStatus.COMPLETED]
    raw = load_series(store, [t.id for t in chosen], ["train_loss", "loss", "grad_norm"], 200)
    out = {t.id: t.reason or "infeasible" for t in finished
           if t.status is TrialStatus.INFEASIBLE}
    for t in chosen:
        why = unstable({name: s for (tid, name), s in raw.items() if tid == t.id})
        if why:
            out[t.id] = why
    return out


@dataclass(frozen=True)
class Boundary:
    """Where training turns unstable along one nuisance parameter."""

    key: str
    value: float           # the parameter value above which trials are unstable
    unit: float            # the same in [0, 1] (log-scaled for a log range)
    above: int             # trials above it, and how many of them are unstable
    above_unstable: int
    accuracy: float


def boundary(data: StudyData, flagged: dict[int, str]) -> Boundary | None:
    """The cleanest "unstable above x" split over the numeric nuisance parameters."""
    scanned = [t for t in data.trials if t.status.finished]
    if sum(t.id in flagged for t in scanned) < MIN_UNSTABLE:
        return None
    found = [b for dim in numeric_dims(data) if (b := _split(dim.key, data, scanned, flagged))]
    return max(found, key=lambda b: b.accuracy, default=None)


def _split(key: str, data: StudyData, trials: Sequence[TrialRecord],
           flagged: dict[int, str]) -> Boundary | None:
    dim = next(d for d in numeric_dims(data) if d.key == key)
    pts = sorted((unit_of(dim, float(t.params[key])), t.id in flagged)
                 for t in trials if key in t.params)
    best: Boundary | None = None
    for i in range(1, len(pts)):
        below, above = pts[:i], pts[i:]
        bad_above = sum(bad for _, bad in above)
        good_below = sum(not bad for _, bad in below)
        if (bad_above < MIN_UNSTABLE or bad_above < ABOVE_UNSTABLE * len(above)
                or good_below < BELOW_STABLE * len(below)):
            continue
        accuracy = (bad_above + good_below) / len(pts)
        if best is None or accuracy > best.accuracy:
            cut = (below[-1][0] + above[0][0]) / 2
            best = Boundary(key, float(dim.domain.from_unit(cut)), cut, len(above),
                            bad_above, accuracy)
    return best


def optimisation(data: StudyData, top: Sequence[TrialCurves], flagged: dict[int, str],
                 ) -> Finding:
    """Cross-trial instability boundary and where the best trial sits; spikes in the top-k."""
    details, steps, verdicts = [], [], []
    numbers: dict[str, float] = {}
    bound = boundary(data, flagged)
    edge = _edge(data, bound)
    if edge is None and not any(train_series(c) or "grad_norm" in c.series for c in top):
        return Finding(QUESTION, Verdict.UNKNOWN, "No train_loss or grad_norm curves were "
                       "reported, so stability cannot be judged.", "Report train_loss and "
                       "grad_norm (tunebook.torch.StepMonitor does).", "curves")
    if edge is not None:
        line, step, verdict, nums = edge
        details.append(line)
        steps.append(step)
        verdicts.append(verdict)
        numbers |= nums
    spiky = [c for c in top if c.trial.id in flagged]
    early = [c for c in top if c.trial.id not in flagged and cv.recovers(train_series(c))]
    if top and spiky and len(spiky) * 2 >= len(top):
        verdicts.append(Verdict.FAIL if len(spiky) == len(top) >= 3 else Verdict.WARN)
        details.append(f"{len(spiky)} of the {len(top)} best trials are unstable ("
                       + "; ".join(f"{c.label}: {flagged[c.trial.id]}" for c in spiky[:3])
                       + ")")
        steps.append("try learning-rate warmup or gradient clipping at the 90th percentile "
                     "of the grad norm; for persistent instability consider x + Norm(f(x)) "
                     "residuals or Adam")
        numbers["top_unstable"] = len(spiky)
    if top and early and len(early) * 2 >= len(top):
        verdicts.append(Verdict.WARN)
        details.append(f"{len(early)} of the {len(top)} best trials show early instability "
                       "that recovers")
        steps.append("add learning-rate warmup: early instability costs steps and caps "
                     "the learning rate")
    if not details:
        return Finding(QUESTION, Verdict.OK, _calm(top, bound), "", "gradnorm",
                       numbers=numbers)
    return Finding(QUESTION, worst(verdicts), "; ".join(details), sentence(
        "; ".join(dict.fromkeys(steps))), "gradnorm", tuple(details), numbers)


def _calm(top: Sequence[TrialCurves], bound: Boundary | None) -> str:
    text = f"The curves of the {len(top)} best trials are stable"
    if bound is not None:
        text += (f"; trials become unstable above {bound.key} ≈ {bound.value:.3g}, well above "
                 "the best trial")
    return text + "."


def _edge(data: StudyData, bound: Boundary | None,
          ) -> tuple[str, str, Verdict, dict[str, float]] | None:
    """Is the best trial right below the instability boundary (within ``EDGE``)?"""
    done = data.completed()
    if bound is None or not done or bound.key not in done[0].params:
        return None
    dim = next(d for d in numeric_dims(data) if d.key == bound.key)
    x = float(done[0].params[bound.key])
    margin = bound.unit - unit_of(dim, x)
    if margin >= EDGE:
        return None
    nums = {"boundary": bound.value, "best": x, "margin_unit": margin,
            "above_unstable": bound.above_unstable, "above": bound.above}
    where = "sits right below that edge" if margin >= 0 else "is itself beyond it"
    line = (f"instability caps {bound.key}: {bound.above_unstable} of the {bound.above} "
            f"trials above {bound.key} ≈ {bound.value:.3g} are unstable, and the best trial "
            f"({bound.key} = {x:.3g}) {where}")
    step = (f"make training stable above {bound.key} ≈ {bound.value:.3g} with learning-rate "
            "warmup, gradient clipping or a different optimizer, then search higher")
    return line, step, Verdict.WARN, nums
