"""The playbook's checklist before drawing a conclusion (§2.4), answered from the data.

Each check returns a :class:`Finding`: the question, a verdict, what the evidence shows,
and a concrete next step. Thresholds are module constants, documented here because they
are judgement calls of the playbook turned into numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from tunebook.analysis.data import StudyData
from tunebook.analysis.findings import (
    Check,
    CrowdedEdge,
    Finding,
    InfeasibleEdge,
    Side,
    Verdict,
    sentence,
    worst,
)
from tunebook.analysis.stats import binomial_tail, rank_trend
from tunebook.records import TrialRecord, TrialStatus
from tunebook.space import ChoiceDomain, Dimension, Scale

EDGE = 0.10            # "near the boundary": the outer 10 % of a range (log-scaled if log)
EDGE_WARN_P = 0.05     # best trials crowding an edge this improbably by chance: warn ...
EDGE_FAIL_P = 0.001    # ... this improbably (e.g. 3 of 3, 4 of 5): fail
INFEASIBLE_WARN = 0.20
INFEASIBLE_FAIL = 0.50
TREND_P = 0.05        # ... and only if the objective improves toward that edge (rank test)
TREND_MIN = 6
EDGES: tuple[Side, ...] = ("upper", "lower")
SEPARATED = 0.9        # infeasible "crowd high x" when 90 % of feasible trials sit below them

__all__ = ["Finding", "Verdict", "best_so_far", "infeasible", "numeric_dims", "search_space",
           "top_k", "unit_of"]


def unit_of(dim: Dimension, value: float) -> float:
    return float(dim.domain.to_unit(value))


def _units(dim: Dimension, trials: Sequence[TrialRecord]) -> list[float]:
    """``dim``'s value of each trial on the unit scale (the key read once, not per trial:
    at 100,000 trials the property lookups alone took a second)."""
    key, to_unit = dim.key, dim.domain.to_unit
    return [float(to_unit(float(t.params[key]))) for t in trials]


def _range(dim: Dimension) -> tuple[float, float, Scale]:
    domain = dim.domain
    if isinstance(domain, ChoiceDomain):
        raise TypeError(f"{dim.key} has no numeric range")
    return float(domain.low), float(domain.high), domain.scale


def _widened(dim: Dimension, edge: str) -> float:
    """A new bound one step further out: x3 on a log range, half a width on a linear one;
    a momentum-like upper bound (:func:`is_fraction`) moves to a tenth of what is left to
    1, never past it (momentum widened to 1.48 diverges everywhere)."""
    lo, hi, scale = _range(dim)
    if scale is Scale.LOG:
        return hi * 3 if edge == "upper" else lo / 3
    width = hi - lo
    if edge == "upper" and is_fraction(dim):
        return 1 - (1 - hi) / FRACTION_STEP
    return hi + width / 2 if edge == "upper" else lo - width / 2


#: How much closer to 1 a fraction's crowded upper bound moves: 0.99 → 0.999.
FRACTION_STEP = 10.0


def is_fraction(dim: Dimension) -> bool:
    """A linear range from 0 or more that ends just below 1 (0.9 to 1, 1 excluded): a
    momentum or a decay (beta2 0.999), whose values at or past 1 diverge. A range that
    ends at 1 itself or lower (a clipping norm, dropout) widens as any other."""
    lo, hi, scale = _range(dim)
    return scale is Scale.LINEAR and lo >= 0.0 and NEAR_ONE <= hi < 1.0


#: Where a fraction's range ends, at the least (see :func:`is_fraction`).
NEAR_ONE = 0.9


def numeric_dims(data: StudyData) -> list[Dimension]:
    return [d for d in data.spec.space.nuisance if not isinstance(d.domain, ChoiceDomain)]


def top_k(n_completed: int) -> int:
    return max(3, math.ceil(0.1 * n_completed))


@dataclass(frozen=True)
class Crowding:
    """How many of the best trials sit in a range's edge band, and how unlikely by chance.

    The band is the outer 10 % of the range, widened to hold at least 10 % of the sampled
    trials (random search can leave the outer 10 % nearly empty). If the dimension did not
    matter, a best trial would fall in the band with probability ``share`` (the trials
    there over all); ``chance`` is the binomial probability of ``hits`` or more of ``k``.
    Crowding alone can be luck when another parameter decides the ranking, so ``trend``
    is the one-sided p-value of a rank correlation over the better half of the trials:
    does the objective get better toward this edge?
    """

    edge: str
    hits: int
    k: int
    share: float
    chance: float
    cut: float
    trend: float


def _crowding(dim: Dimension, done: Sequence[TrialRecord], k: int, edge: str, *,
              adaptive: bool = False, warm: Sequence[TrialRecord] = (),
              units: Sequence[float] | None = None) -> Crowding:
    """``done`` holds completed trials with ``dim``, best first.

    An ``adaptive`` study (Bayesian optimisation) puts its trials where it expects the
    best, so neither the share of its own trials in the band nor its own trend is a fair
    null: a search drawn to the edge fills the band, and it may be drawn there by another
    parameter. It is judged for what it is: the band is the outer 10 % of the range and
    the chance of a best trial in it the band's measure, as if the optimum were anywhere
    inside; the trend (does the objective improve toward the edge?) is read over ``warm``,
    the sampled trials it was warm-started from (best first), where the other parameters
    were spread evenly.
    """
    if units is None:  # ``done``'s values on the unit scale (one pass per dimension)
        units = _units(dim, done)
    distance = [(u if edge == "lower" else 1 - u) for u in units]  # 0 = at the bound
    outward = sorted(distance)
    reach = EDGE if adaptive else max(
        EDGE, outward[min(len(outward), math.ceil(EDGE * len(outward))) - 1])
    hits = sum(d <= reach for d in distance[:k])
    share = reach if adaptive else sum(d <= reach for d in outward) / len(outward)
    cut = reach if edge == "lower" else 1 - reach
    if adaptive:
        inside = [u for u in (unit_of(dim, float(t.params[dim.key])) for t in warm
                              if dim.key in t.params) if 0.0 <= u <= 1.0]
        distance = [(u if edge == "lower" else 1 - u) for u in inside]
    half = max(TREND_MIN, len(distance) // 2)
    return Crowding(edge, hits, min(k, len(done)), share,
                    binomial_tail(hits, min(k, len(done)), share), cut,
                    rank_trend(distance[:half], list(range(min(half, len(distance))))))


SPACE_QUESTION = Check.SEARCH_SPACE


def search_space(data: StudyData, warm: Sequence[TrialRecord] = ()) -> Finding:
    """Do the best trials crowd a range boundary? Then the range cuts off the optimum.

    Warn when at least half of the top-k sit in an edge band and that is below 5 % likely
    by chance (:class:`Crowding`), fail below 0.1 % (e.g. 3 of 3, or 4 of 4 best trials).
    ``warm``: the completed trials a Bayesian study was warm-started from (its trend is
    read there).
    """
    question = SPACE_QUESTION
    done = data.completed()
    if not done:
        ran = any(t.status.finished for t in data.trials)
        return Finding(question, Verdict.UNKNOWN, "No completed trials: nothing to locate.",
                       "See why the trials did not complete, fix that and run the study "
                       "again." if ran else "Run the study.", "axes")
    k = top_k(len(done))
    adaptive = data.spec.model.sampler.type == "bayes"
    warm = sorted(warm, key=lambda t: data.objective.sign() * float(t.value or 0.0))
    flagged, steps, verdicts = [], [], []
    numbers: dict[str, float] = {}
    crowded: list[CrowdedEdge] = []
    bad = [t for t in data.trials if t.status is TrialStatus.INFEASIBLE]
    for dim in numeric_dims(data):
        key = dim.key
        mine = [t for t in done if key in t.params]
        units = _units(dim, mine)
        for edge in EDGES:
            c = (_crowding(dim, mine, k, edge, adaptive=adaptive, warm=warm, units=units)
                 if len(mine) >= 2 else None)
            if (c is None or c.k < 2 or c.hits * 2 < c.k or c.chance >= EDGE_WARN_P
                    or c.trend >= TREND_P):
                continue
            low, high, _ = _range(dim)
            bound, wider = (high if edge == "upper" else low), _widened(dim, edge)
            if (wider < 0 <= bound) or (wider > 0 >= bound):
                continue  # a natural limit (dropout 0): nothing lies beyond it
            verdicts.append(Verdict.FAIL if round(c.chance, 12) <= EDGE_FAIL_P else Verdict.WARN)
            numbers |= {f"{dim.key}.{edge}.best_at_edge": c.hits,
                        f"{dim.key}.{edge}.best": c.k, f"{dim.key}.{edge}.p": c.chance,
                        f"{dim.key}.{edge}.trend_p": c.trend,
                        f"{dim.key}.{edge}.widen_to": wider}
            crowded.append(CrowdedEdge(dim.ref, edge, bound, wider, c.hits, c.k, c.chance,
                                       c.trend))
            side = "≥" if edge == "upper" else "≤"
            where = ("the outer 10% of its range, where a Bayesian search goes when it "
                     "expects the best there" if adaptive else
                     f"where {c.share:.0%} of the trials are")
            flagged.append(f"{c.hits} of the {c.k} best trials have {dim.key} at its {edge} "
                           f"edge ({side} {from_unit_of(dim, c.cut):.3g}, {where}; "
                           f"p = {c.chance:.2g} by chance)")
            wall = _region(dim, bad, done) if bad else None
            if wall is not None and wall[1].edge == edge:  # as `next` reads it: one rule
                steps.append(f"keep {dim.key}'s {edge} bound: trials beyond "
                             f"~{wall[1].feasible_bound:.3g} diverged, so instability, not "
                             "the range, caps it (`tunebook next` cuts the range there); "
                             "add warmup (or clipping) before searching past it")
            else:
                steps.append(f"widen {dim.key}'s {edge} bound from {bound:g} to ~{wider:.3g}")
    if not flagged:
        return Finding(question, Verdict.OK, f"The {min(k, len(done))} best trials sit inside "
                       "every nuisance range, away from the boundaries.", "", "axes")
    walled = sum(step.startswith("keep ") for step in steps)
    why = (": the optimum may lie outside the range." if walled < len(steps) else
           ": they sit at the edge of the feasible region, not of the range.")
    return Finding(question, worst(verdicts), "; ".join(flagged) + why,
                   sentence("; ".join(steps)), "axes",
                   tuple(flagged), numbers, tuple(crowded))


def best_so_far(data: StudyData) -> list[float]:
    """The best objective after each completed trial, in trial order."""
    by_index = sorted(data.completed(), key=lambda t: (t.study_id, t.index))
    out, best = [], math.inf if data.minimize else -math.inf
    for t in by_index:
        value = float(t.value or 0.0)
        best = min(best, value) if data.minimize else max(best, value)
        out.append(best)
    return out


def infeasible(data: StudyData) -> Finding:
    """What share is infeasible, and where in the space it sits."""
    question = Check.INFEASIBLE
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
    regions = [r for dim in numeric_dims(data) if bad and (r := _region(dim, bad, good))]
    steps = [text for text, _ in regions]
    numbers = {f"{edge.param.key}.{edge.edge}.feasible_bound": edge.feasible_bound
               for _, edge in regions}
    if failed:
        steps.append("see why trials crashed: tunebook trials STUDY --status failed")
    if share > INFEASIBLE_FAIL and not steps:
        steps.append("shrink the search space to the feasible region")
    return Finding(question, verdict, summary + ".", sentence("; ".join(steps)), "axes",
                   numbers=numbers, subjects=tuple(edge for _, edge in regions))


def _region(dim: Dimension, bad: Sequence[TrialRecord], good: Sequence[TrialRecord],
            ) -> tuple[str, InfeasibleEdge] | None:
    """Where the infeasible trials sit: above (or below) nearly every feasible one?

    Returns the advice and the edge with its suggested bound; None when they are not
    separated.
    """
    bad_u = sorted(unit_of(dim, float(t.params[dim.key])) for t in bad if dim.key in t.params)
    good_u = [unit_of(dim, float(t.params[dim.key])) for t in good if dim.key in t.params]
    if len(bad_u) < 2 or not good_u:
        return None
    lo, hi, _ = _range(dim)
    high_cut = bad_u[int(0.1 * len(bad_u))]
    if high_cut > 0.05 and sum(u < high_cut for u in good_u) >= SEPARATED * len(good_u):
        advice = (f"lower {dim.key}'s upper bound from {hi:g} to "
                  f"~{from_unit_of(dim, high_cut):.3g}")
        if "learning_rate" in dim.key or dim.key == "lr":
            advice += " or add warmup"
        return (f"infeasible trials crowd high {dim.key}: {advice}",
                InfeasibleEdge(dim.ref, "upper", hi, from_unit_of(dim, high_cut)))
    low_cut = bad_u[min(len(bad_u) - 1, int(0.9 * len(bad_u)))]
    if low_cut < 0.95 and sum(u > low_cut for u in good_u) >= SEPARATED * len(good_u):
        return (f"infeasible trials crowd low {dim.key}: raise its lower bound from {lo:g} "
                f"to ~{from_unit_of(dim, low_cut):.3g}",
                InfeasibleEdge(dim.ref, "lower", lo, from_unit_of(dim, low_cut)))
    return None


def from_unit_of(dim: Dimension, u: float) -> float:
    return float(dim.domain.from_unit(u))
