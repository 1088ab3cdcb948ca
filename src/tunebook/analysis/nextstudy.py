"""The next study, designed from this one's checklist (``tunebook next``).

Each change carries the reason the evidence gives, and the result is a study file that
``tunebook run`` accepts as is: the original file's fields with

- a bound the best trials crowd widened, a learning rate's by a decade (unless infeasible
  trials crowd the same edge: then instability, not the range, is the limit, and the
  comment says to add warmup);
- a bound beyond which trials are infeasible moved to the feasible region;
- a nuisance parameter fixed when its effect across its range, among the good trials and
  with the others held, is bounded below the study's noise (:mod:`tunebook.analysis.effects`),
  at the median of the top trials' values;
- the budget raised when the sampling check asks for more trials;
- ``max_steps`` doubled when the best curves still improve at the end by more than the
  noise;
- ``sampler: bayes``, warm-started from this study, once every check passes;
- when every trial diverged (infeasible, none failed), each learning rate searched on a log
  scale moved below the lowest value tried, as wide as it was: the learning rate is the
  usual cause, and no completed trial says anything else.

A change the evidence does not support is not made: it is *held back* with what the
statistic showed and what would settle it. Every decision's error rates on constructed
studies are measured in docs/advice.md.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from tunebook._spec_derive import Change, ChangeKind
from tunebook._spec_model import SamplerModel
from tunebook.analysis.data import StudyData
from tunebook.analysis.effects import Effect, effects
from tunebook.analysis.findings import (
    Check,
    CrowdedEdge,
    Finding,
    InfeasibleEdge,
    MoreTrials,
    S,
    StillImproving,
    Verdict,
    find,
)
from tunebook.analysis.sampling import Noise
from tunebook.errors import SpecError
from tunebook.records import TrialRecord, TrialStatus
from tunebook.space import Dimension, FloatDomain

__all__ = ["Change", "ChangeKind", "Held", "Plan", "below_divergence", "next_name",
           "plan_next"]

#: How a learning rate is usually named: ``lr``, ``base_lr``, ``learning_rate``, ``eta``...
_LEARNING_RATE = re.compile(r"(?:^|[_.-])(?:lr|learning[_-]?rate|eta)$", re.IGNORECASE)
#: A cut keeping less than this share of a learning rate's range moves the range down.
MOSTLY_DIVERGED = 1 / 3
#: How far a crowded learning-rate bound moves at once (on its log scale).
DECADE = 10.0
#: Fewer feasible trials than this: where the best of them trained says little.
FEW = 5


@dataclass(frozen=True)
class Held:
    """A change the evidence does not (yet) support: what it would be, why it is not
    made, the statistic, and what would settle it."""

    kind: ChangeKind
    target: str
    reason: str
    statistic: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Plan:
    """The changes the findings support, and the ones held back."""

    changes: list[Change]
    held: list[Held]


def next_name(name: str) -> str:
    """``study`` → ``study-r2``; ``study-r2`` → ``study-r3``."""
    match = re.fullmatch(r"(.*)-r(\d+)", name)
    return f"{match.group(1)}-r{int(match.group(2)) + 1}" if match else f"{name}-r2"


def plan_next(data: StudyData, findings: Sequence[Finding],
              noise: Noise | None = None) -> Plan:
    """The changes the findings call for, and those held back (see the module docstring).

    ``noise`` is the study's trial-to-trial noise (the report's), the yardstick of the
    decisions that weigh an effect: fixing a parameter, training longer.
    """
    done = data.completed()
    if not done and (moved := below_divergence(data)):
        return Plan(moved, [])
    if not done:
        raise SpecError(f"study {data.study.name!r} has no completed trial: nothing to design "
                        "the next study from; fix its failures and run it first",
                        field="next")
    held: list[Held] = []
    changes = _mostly_diverged(_bounds(findings, data, held), data, held)
    changes += _fixes(data, noise, held)
    changes += _budget(findings) + _steps(findings, data, noise, held)
    fixed = {c.target for c in changes if c.kind is ChangeKind.FIX}
    searched = [d for d in data.spec.space.nuisance if d.ref not in fixed]
    if all(f.verdict in (Verdict.OK, Verdict.UNKNOWN) for f in findings) and searched and (
            data.spec.model.sampler.type == "quasi_random"):
        sampler = data.spec.model.sampler  # its seed kept
        changes.append(Change(
            ChangeKind.SAMPLER, SamplerModel(type="bayes", warm_start=data.study.name,
                                             seed=sampler.seed),
            "every check passes: exploit with Bayesian optimisation, warm-started from the "
            f"{len(done)} trials of {data.study.name}", statistic={"trials": len(done)}))
    return Plan(changes, held)


def below_divergence(data: StudyData) -> list[Change]:
    """Every trial diverged: each learning rate (a log-scaled float whose name says so)
    moved below the lowest value tried, its range as wide as before (none when a trial
    failed or completed, or no learning rate is searched: then the cause is not read)."""
    finished = [t for t in data.trials if t.status.finished]
    if not finished or any(t.status is not TrialStatus.INFEASIBLE for t in finished):
        return []
    changes: list[Change] = []
    for dim in (d for d in data.spec.space.nuisance if _learning_rate(d) is not None):
        tried = [float(t.params[dim.key]) for t in finished if dim.key in t.params]
        if tried:
            changes += _moved(dim, min(tried), (
                f"all {len(finished)} trials diverged, the lowest at {dim.key} = "
                f"{min(tried):.3g}"), {"diverged": float(len(finished))})
    return changes


def _learning_rate(dim: Dimension) -> FloatDomain | None:
    """The range of ``dim`` if it is a learning rate searched on a log scale."""
    domain = dim.domain
    if isinstance(domain, FloatDomain) and dim.is_log and _LEARNING_RATE.search(dim.name):
        return domain
    return None


def _moved(dim: Dimension, top: float, found: str,
           stats: Mapping[str, float]) -> list[Change]:
    """``dim``'s range moved down to end at ``top``, as wide (in decades) as it was."""
    domain = _learning_rate(dim)
    if domain is None:
        return []
    width = domain.high / domain.low
    why = (f"{found}: the range is too high, not too long; it moves below "
           f"{top:.3g}, {math.log10(width):.2g} decades wide as before")
    numbers = {**stats, "top": top, "decades": math.log10(width)}
    return [Change(ChangeKind.CUT, float(f"{top:.3g}"), why, dim.ref, "high", numbers),
            Change(ChangeKind.WIDEN, float(f"{top / width:.3g}"), why, dim.ref, "low",
                   numbers)]


def _mostly_diverged(changes: list[Change], data: StudyData, held: list[Held]) -> list[Change]:
    """A learning rate whose cut keeps less than :data:`MOSTLY_DIVERGED` of its range (on its
    log scale), with the best feasible trial in the lower half of what is kept (or fewer
    than :data:`FEW` feasible trials, whose best says little): the range is too high,
    not too long, so it moves down as wide as it was (the best trial stays inside). Cuts
    of other parameters, read while most trials diverged, are held to be read again in
    the moved range."""
    out, moved = list(changes), False
    sign = data.objective.sign()
    for cut in changes:
        dim = _dimension(data, cut)
        domain = _learning_rate(dim) if dim is not None else None
        if dim is None or domain is None or cut.kind is not ChangeKind.CUT or cut.edge != "high":
            continue
        span = math.log(domain.high / domain.low)
        keeps = math.log(float(cut.value) / domain.low) / span
        done = [t for t in data.completed() if dim.key in t.params and t.value is not None]
        best = min(done, key=lambda t: sign * float(t.value or 0.0), default=None)
        at = float(best.params[dim.key]) if best is not None else domain.low
        low_best = len(done) < FEW or math.log(at / domain.low) <= span * keeps / 2
        if keeps >= MOSTLY_DIVERGED or not low_best:
            continue
        out = [c for c in out if not (c.target == dim.ref and c.kind in (ChangeKind.CUT,
                                                                      ChangeKind.WIDEN))]
        out += _moved(dim, float(cut.value), f"trials beyond ~{float(cut.value):.3g} are "
                      f"infeasible, {1 - keeps:.0%} of the range, and the best of {len(done)} "
                      f"feasible trials trained at {dim.key} = {at:.3g}",
                      {"kept": keeps, "feasible": float(len(done)), "best_at": at})
        moved = True
    if not moved:
        return changes
    for c in [c for c in out if c.kind is ChangeKind.CUT and _learning_rate_of(data, c) is None]:
        out.remove(c)
        held.append(Held(ChangeKind.CUT, c.where, f"{c.reason}; but most trials diverged "
                         "because the learning rate was too high: read again in the moved "
                         "range", dict(c.statistic)))
    return out


def _dimension(data: StudyData, change: Change) -> Dimension | None:
    if change.target is None:
        return None
    try:
        return data.spec.space.dimension(change.target.key)
    except KeyError:
        return None


def _learning_rate_of(data: StudyData, change: Change) -> FloatDomain | None:
    dim = _dimension(data, change)
    return _learning_rate(dim) if dim is not None else None


def _about(findings: Sequence[Finding], check: Check, kind: type[S]) -> list[S]:
    """The subjects of one kind in one checklist answer (none when it was not asked)."""
    found = find(findings, check)
    return found.about(kind) if found is not None else []


def _bounds(findings: Sequence[Finding], data: StudyData, held: list[Held]) -> list[Change]:
    crowded = _about(findings, Check.SEARCH_SPACE, CrowdedEdge)
    walls = _about(findings, Check.INFEASIBLE, InfeasibleEdge)
    walled = {(w.param, w.edge) for w in walls}
    out = []
    for c in crowded:
        if (c.param, c.edge) in walled:
            continue  # both: handled below as an instability wall
        out.append(Change(ChangeKind.WIDEN, float(f"{_widen_to(data, c):.3g}"),
                          f"{c.hits} of the {c.best} best trials sit at the {c.edge} edge "
                          f"(p = {c.p:.2g} by chance)", c.param, _bound(c.edge),
                          {"best_at_edge": c.hits, "best": c.best, "p": c.p,
                           "trend_p": c.trend_p}))
    pushing = {(c.param, c.edge) for c in crowded}
    for w in walls:
        best = _best_beyond(data, w)
        if best is not None:
            held.append(Held(ChangeKind.CUT, f"{w.param.name}'s {w.edge} bound", (
                f"trials beyond ~{w.feasible_bound:.3g} diverged, but the best trial "
                f"({data.label(best)}) trained at {w.param.name} = "
                f"{float(best.params[w.param.key]):.3g}, beyond it: the divergence depends "
                "on something else (another parameter's value), so the range is kept"),
                {"feasible_bound": w.feasible_bound,
                 "best_at": float(best.params[w.param.key])}))
            continue
        reason = f"trials beyond ~{w.feasible_bound:.3g} are infeasible: the range ends there"
        if (w.param, w.edge) in pushing:
            reason += ("; the best trials also crowd this edge, so instability caps "
                       f"{w.param.name}: add warmup (or clipping) before searching past it")
        out.append(Change(ChangeKind.CUT, float(f"{w.feasible_bound:.3g}"), reason, w.param,
                          _bound(w.edge), {"feasible_bound": w.feasible_bound}))
    return out


def _widen_to(data: StudyData, crowded: CrowdedEdge) -> float:
    """Where a crowded bound moves: as the checklist says (×3 on a log range), but a
    decade for a learning rate, whose good region is routinely a decade away from a
    first guess."""
    try:
        domain = _learning_rate(data.spec.space.dimension(crowded.param.key))
    except KeyError:
        domain = None
    if domain is None:
        return crowded.widen_to
    if crowded.edge == "upper":
        return max(crowded.widen_to, crowded.bound * DECADE)
    return min(crowded.widen_to, crowded.bound / DECADE)


def _best_beyond(data: StudyData, wall: InfeasibleEdge) -> TrialRecord | None:
    """The best completed trial, if it lies beyond ``wall``'s cut: a cut must never remove
    the best feasible trial (a wall that holds only under another parameter's value, an
    optimizer, say, is no wall for the others)."""
    key, sign = wall.param.key, data.objective.sign()  # stored under the qualified key
    mine = [t for t in data.completed() if key in t.params and t.value is not None]
    if not mine:
        return None
    best = min(mine, key=lambda t: sign * float(t.value or 0.0))
    at = float(best.params[key])
    beyond = at > wall.feasible_bound if wall.edge == "upper" else at < wall.feasible_bound
    return best if beyond else None


def _bound(edge: str) -> Literal["low", "high"]:
    return "high" if edge == "upper" else "low"


def _fixes(data: StudyData, noise: Noise | None, held: list[Held]) -> list[Change]:
    """Fix each parameter whose effect is bounded below the noise; hold back the rest
    that could not be told apart from no effect."""
    sigma = noise.sigma if noise is not None else None
    found = effects(data, sigma)
    if noise is None and found:
        held.append(Held(ChangeKind.FIX, "any parameter", "no noise estimate, so no "
                         "parameter's effect can be judged against it: report the "
                         "objective's curve, or re-run a configuration with seeds"))
        return []
    out = []
    for e in found:
        if e.inert and noise is not None:
            out.append(Change(ChangeKind.FIX, e.best, _fix_reason(e, noise),
                              e.dim.ref, statistic=_numbers(e)))
        elif not e.matters:
            more = e.trials_to_settle(len(data.completed()))
            held.append(Held(ChangeKind.FIX, e.dim.key, (
                f"{e.dim.key}'s effect is {e.effect:.2g}, but it could be up to {e.upper:.2g}, "
                f"more than the noise ({e.noise:.2g}): kept searched"
                + (f"; about {more} completed trials would settle it" if more else "")),
                _numbers(e)))
    return out


def _numbers(e: Effect) -> dict[str, float]:
    return {"effect": e.effect, "upper": e.upper, "noise": e.noise or math.nan,
            "trials": e.trials}


def _fix_reason(e: Effect, noise: Noise) -> str:
    where = "seed re-runs" if noise.source == "seeds" else "the evaluation noise"
    return (f"{e.dim.key} moves the objective by at most {e.upper:.2g} across its range "
            f"among the {e.trials} best trials (fitted {e.effect:.2g}), below the noise "
            f"({noise.sigma:.2g}, {where}): no longer searched, fixed at {e.best:.4g}, the "
            "median of the top trials")


def _budget(findings: Sequence[Finding]) -> list[Change]:
    found = find(findings, Check.SAMPLING)
    wanted = _about(findings, Check.SAMPLING, MoreTrials)
    if not wanted or found is None:
        return []
    return [Change(ChangeKind.BUDGET, wanted[0].budget, found.next_step.rstrip("."),
                   statistic={"budget": wanted[0].budget,
                              "too_few_points": float(wanted[0].short)},
                   thin=wanted[0].short)]


def _steps(findings: Sequence[Finding], data: StudyData, noise: Noise | None,
           held: list[Held]) -> list[Change]:
    """Train twice as long when the best curves would gain more than the noise by it."""
    improving = _about(findings, Check.CURVES, StillImproving)
    steps = data.spec.model.max_steps
    if not improving or steps is None:
        return []
    gain = max(s.gain for s in improving)
    numbers = {"gain_2x_steps": gain, "noise": noise.sigma if noise else math.nan}
    if noise is None or gain <= noise.sigma:
        held.append(Held(ChangeKind.STEPS, "max_steps", (
            f"the best curves still improve, but 2× steps would gain only ~{gain:.2g} in "
            f"{data.metric}, " + (f"within the noise ({noise.sigma:.2g})" if noise else
                                  "and the noise is unknown") + ": training length kept"),
            numbers))
        return []
    return [Change(ChangeKind.STEPS, 2 * steps,
                   f"the best curves still improve at the end: 2× steps would gain "
                   f"~{gain:.2g} in {data.metric}, more than the noise ({noise.sigma:.2g})",
                   statistic=numbers)]
