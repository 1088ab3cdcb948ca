"""The playbook's checklist before drawing a conclusion (§2.4), answered from the data.

Each check returns a :class:`Finding`: the question, a verdict, what the evidence shows,
and a concrete next step. Thresholds are module constants, documented here because they
are judgement calls of the playbook turned into numbers.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum

from tunebook.analysis import curves as cv
from tunebook.analysis.curves import TrialCurves
from tunebook.analysis.data import StudyData
from tunebook.records import TrialRecord, TrialStatus
from tunebook.space import ChoiceDomain, Dimension, Scale

EDGE = 0.10            # "near the boundary": the outer 10 % of a range (log-scaled if log)
MIN_PER_VALUE = 10     # completed trials per scientific value, at least ...
PER_DIMENSION = 5      # ... and this many per nuisance dimension searched
INFEASIBLE_WARN = 0.20
INFEASIBLE_FAIL = 0.50
SEPARATED = 0.9        # infeasible "crowd high x" when 90 % of feasible trials sit below them
GRAD_SPIKE = 10.0      # a grad norm above 10x its median is a spike
NOISY = 0.5


class Verdict(str, Enum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    UNKNOWN = "unknown"

    @property
    def mark(self) -> str:
        return {"ok": "✓", "warn": "⚠", "fail": "✗", "unknown": "?"}[self.value]


@dataclass(frozen=True)
class Finding:
    """One checklist answer."""

    question: str
    verdict: Verdict
    summary: str
    next_step: str = ""
    evidence: str = ""
    details: tuple[str, ...] = field(default_factory=tuple)


def _sentence(text: str) -> str:
    """Capitalise the first letter only (names such as Adam keep their case) and end it."""
    return f"{text[:1].upper()}{text[1:]}." if text else ""


def _unit(dim: Dimension, value: float) -> float:
    return float(dim.domain.to_unit(value))


def _range(dim: Dimension) -> tuple[float, float, Scale]:
    domain = dim.domain
    if isinstance(domain, ChoiceDomain):
        raise TypeError(f"{dim.key} has no numeric range")
    return float(domain.low), float(domain.high), domain.scale


def _widened(dim: Dimension, edge: str) -> float:
    """A new bound one step further out: x3 on a log range, half a width on a linear one."""
    lo, hi, scale = _range(dim)
    if scale is Scale.LOG:
        return hi * 3 if edge == "upper" else lo / 3
    width = hi - lo
    return hi + width / 2 if edge == "upper" else lo - width / 2


def _numeric(data: StudyData) -> list[Dimension]:
    return [d for d in data.spec.space.nuisance if not isinstance(d.domain, ChoiceDomain)]


def top_k(n_completed: int) -> int:
    return max(3, math.ceil(0.1 * n_completed))


def search_space(data: StudyData) -> Finding:
    """Do the best trials crowd a range boundary? Then the range cuts off the optimum."""
    question = "Is the search space big enough?"
    done = data.completed()
    if not done:
        return Finding(question, Verdict.UNKNOWN, "No completed trials: nothing to locate.",
                       "Fix the failures and run the study.", "axes")
    best = done[: top_k(len(done))]
    flagged, steps = [], []
    for dim in _numeric(data):
        units = [_unit(dim, float(t.params[dim.key])) for t in best if dim.key in t.params]
        if len(units) < 2:
            continue
        for edge, near in (("upper", [u for u in units if u >= 1 - EDGE]),
                           ("lower", [u for u in units if u <= EDGE])):
            if len(near) * 2 >= len(units):
                lo, hi, _ = _range(dim)
                bound = hi if edge == "upper" else lo
                if (_widened(dim, edge) < 0 <= bound) or (_widened(dim, edge) > 0 >= bound):
                    continue  # a natural limit (dropout 0): nothing lies beyond it
                flagged.append(f"{len(near)} of the {len(units)} best trials have {dim.key} "
                               f"in the {edge} 10 % of its range")
                steps.append(f"widen {dim.key}'s {edge} bound from {bound:g} to "
                             f"~{_widened(dim, edge):.3g}")
    if not flagged:
        return Finding(question, Verdict.OK, f"The {len(best)} best trials sit inside every "
                       "nuisance range, away from the boundaries.", "", "axes")
    return Finding(question, Verdict.WARN, "; ".join(flagged) + ": the optimum may lie "
                   "outside the range.", _sentence("; ".join(steps)), "axes",
                   tuple(flagged))


def best_so_far(data: StudyData) -> list[float]:
    """The best objective after each completed trial, in trial order."""
    by_index = sorted(data.completed(), key=lambda t: (t.study_id, t.index))
    out, best = [], math.inf if data.minimize else -math.inf
    for t in by_index:
        value = float(t.value or 0.0)
        best = min(best, value) if data.minimize else max(best, value)
        out.append(best)
    return out


def sampling(data: StudyData) -> Finding:
    """Enough trials per scientific value and per nuisance dimension; is the best still moving?"""
    question = "Were enough points sampled?"
    dims = len(data.spec.space.nuisance)
    want = max(MIN_PER_VALUE, PER_DIMENSION * dims)
    details, verdict = [], Verdict.OK
    for combo in data.combos():
        n = len(data.completed(data.of_combo(combo)))
        label = ", ".join(f"{k}={v}" for k, v in combo.items()) or "the study"
        details.append(f"{label}: {n} completed (want ≥ {want} for {dims} nuisance dims)")
        if n < 3:
            verdict = Verdict.FAIL
        elif n < want and verdict is Verdict.OK:
            verdict = Verdict.WARN
    curve = best_so_far(data)
    late = False
    if len(curve) >= 8:
        cut = int(0.75 * len(curve))
        late = curve[-1] != curve[cut - 1] and abs(curve[-1] - curve[cut - 1]) > 0.01 * max(
            abs(curve[cut - 1]), 1e-12)
        if late:
            details.append("the best value still improved in the last quarter of the trials")
            verdict = Verdict.WARN if verdict is Verdict.OK else verdict
    summary = "; ".join(details[:4]) + (" …" if len(details) > 4 else "")
    step = "" if verdict is Verdict.OK else (
        f"Raise the budget to at least {want * len(data.combos())} trials "
        f"({want} per scientific value)" + (", the best-so-far curve is still falling" if late
                                             else "") + ".")
    return Finding(question, verdict, summary, step, "sampling", tuple(details))


def infeasible(data: StudyData) -> Finding:
    """What share is infeasible, and where in the space it sits."""
    question = "How many trials are infeasible, and where?"
    finished = [t for t in data.trials if t.status.finished]
    if not finished:
        return Finding(question, Verdict.UNKNOWN, "No finished trials yet.", "", "axes")
    bad = [t for t in finished if t.status is TrialStatus.INFEASIBLE]
    failed = [t for t in finished if t.status is TrialStatus.FAILED]
    share = len(bad) / len(finished)
    verdict = (Verdict.FAIL if share > INFEASIBLE_FAIL else
               Verdict.WARN if share > INFEASIBLE_WARN or failed else Verdict.OK)
    summary = f"{len(bad)} of {len(finished)} finished trials ({share:.0%}) are infeasible"
    if failed:
        summary += f"; {len(failed)} failed (crashed)"
    good = data.completed()
    steps = [_region(dim, bad, good) for dim in _numeric(data)] if bad else []
    steps = [s for s in steps if s]
    if failed:
        steps.append("see why trials crashed: tunebook trials STUDY --status failed")
    if share > INFEASIBLE_FAIL and not steps:
        steps.append("shrink the search space to the feasible region")
    return Finding(question, verdict, summary + ".", _sentence("; ".join(steps)), "axes")


def _region(dim: Dimension, bad: Sequence[TrialRecord], good: Sequence[TrialRecord]) -> str:
    """Where the infeasible trials sit: above (or below) nearly every feasible one?"""
    bad_u = sorted(_unit(dim, float(t.params[dim.key])) for t in bad if dim.key in t.params)
    good_u = [_unit(dim, float(t.params[dim.key])) for t in good if dim.key in t.params]
    if len(bad_u) < 2 or not good_u:
        return ""
    lo, hi, _ = _range(dim)
    high_cut = bad_u[int(0.1 * len(bad_u))]
    if high_cut > 0.05 and sum(u < high_cut for u in good_u) >= SEPARATED * len(good_u):
        advice = (f"lower {dim.key}'s upper bound from {hi:g} to "
                  f"~{_from_unit(dim, high_cut):.3g}")
        if "learning_rate" in dim.key or dim.key == "lr":
            advice += " or add warmup"
        return f"infeasible trials crowd high {dim.key}: {advice}"
    low_cut = bad_u[min(len(bad_u) - 1, int(0.9 * len(bad_u)))]
    if low_cut < 0.95 and sum(u > low_cut for u in good_u) >= SEPARATED * len(good_u):
        return (f"infeasible trials crowd low {dim.key}: raise its lower bound from {lo:g} "
                f"to ~{_from_unit(dim, low_cut):.3g}")
    return ""


def _from_unit(dim: Dimension, u: float) -> float:
    return float(dim.domain.from_unit(u))


def _train_series(curve: TrialCurves) -> list[tuple[int, float]]:
    for name in ("train_loss", "loss"):
        if name in curve.series:
            return curve.series[name]
    return []


def optimisation(curves: Sequence[TrialCurves]) -> Finding:
    """Unstable training: loss spikes, early instability that recovers, grad-norm spikes."""
    question = "Are there optimisation problems?"
    if not curves or not any(_train_series(c) or "grad_norm" in c.series for c in curves):
        return Finding(question, Verdict.UNKNOWN, "No train_loss or grad_norm curves were "
                       "reported, so stability cannot be judged.", "Report train_loss and "
                       "grad_norm (tunebook.torch.StepMonitor does).", "curves")
    details = []
    for c in curves:
        train = _train_series(c)
        late = [s for s in cv.spikes(train) if train and s > (train[0][0] + train[-1][0]) / 2]
        if late:
            details.append(f"{c.label}: loss spikes late in training (step {late[0]})")
        elif cv.recovers(train):
            details.append(f"{c.label}: early instability that recovers")
        series = c.series.get("grad_norm", [])
        settled = series[len(series) // 10:]  # large norms in the first steps are normal
        norms = [v for _, v in settled if math.isfinite(v)]
        if len(norms) >= 5 and max(norms) > GRAD_SPIKE * statistics.median(norms):
            details.append(f"{c.label}: grad-norm spike {max(norms):.3g} "
                           f"(median {statistics.median(norms):.3g})")
    if not details:
        return Finding(question, Verdict.OK, f"The curves of the {len(curves)} best trials "
                       "are stable.", "", "curves")
    return Finding(question, Verdict.WARN, "; ".join(details[:4]), "Try learning-rate warmup "
                   "or gradient clipping at the 90th percentile of the grad norm; for "
                   "persistent instability consider x + Norm(f(x)) residuals or Adam.",
                   "gradnorm", tuple(details))


def curves_say(data: StudyData, curves: Sequence[TrialCurves]) -> Finding:
    """Overfitting, still improving at the end, early plateau, noisy evaluation."""
    question = "What do the best trials' curves say?"
    best: dict[str, TrialCurves] = {}
    for c in curves:
        best.setdefault(c.combo, c)
    usable = [c for c in best.values() if data.metric in c.series]
    if not usable:
        return Finding(question, Verdict.UNKNOWN, f"No {data.metric} curves to read.", "",
                       "curves")
    details, steps = [], []
    for c in usable:
        ev, train = c.series[data.metric], _train_series(c)
        if cv.rises_at_end(ev, data.minimize) and train and not cv.rises_at_end(train):
            details.append(f"{c.label}: overfitting ({data.metric} worsens while train loss "
                           "falls)")
            steps.append("add regularisation or data augmentation; select: best already "
                         "picks the best checkpoint")
        if cv.still_improving(ev, data.minimize):
            details.append(f"{c.label}: still improving at the last step")
            steps.append("the run is compute-bound: more steps would help, so the "
                         "comparison holds for this step budget only")
        plateau = cv.plateau_step(ev, data.minimize)
        if plateau is not None:
            details.append(f"{c.label}: plateaus from step {plateau}")
            steps.append(f"fewer steps (~{int(plateau * 1.5)} instead of {ev[-1][0]}) would "
                         "give the same result faster")
        if cv.noise(ev) > NOISY:
            details.append(f"{c.label}: {data.metric} is noisy between evaluations")
            steps.append("evaluate on a larger (or fixed) evaluation set")
    if not details:
        return Finding(question, Verdict.OK, "The best trials converge smoothly, without "
                       "overfitting, within the step budget.", "", "curves")
    unique = list(dict.fromkeys(steps))
    return Finding(question, Verdict.WARN, "; ".join(details[:4]),
                   _sentence("; ".join(unique)), "curves", tuple(details))
