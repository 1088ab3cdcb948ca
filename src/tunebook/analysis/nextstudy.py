"""The next study, designed from this one's checklist (``tunebook next``).

Each change carries the reason the evidence gives, and the result is a study file that
``tunebook run`` accepts as is: the original file's fields with

- a bound the best trials crowd widened (unless infeasible trials crowd the same edge:
  then instability, not the range, is the limit, and the comment says to add warmup);
- a bound beyond which trials are infeasible moved to the feasible region;
- a nuisance parameter with no detectable effect fixed at the best trial's value;
- the budget raised when the sampling check asks for more trials;
- ``max_steps`` doubled when the best curves still improve at the end;
- ``sampler: bayes``, warm-started from this study, once every check passes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Literal

from tunebook._spec_derive import Change, ChangeKind
from tunebook._spec_model import SamplerModel
from tunebook.analysis.checklist import numeric_dims
from tunebook.analysis.data import StudyData
from tunebook.analysis.findings import (
    Check,
    CrowdedEdge,
    Finding,
    InfeasibleEdge,
    MoreTrials,
    StillImproving,
    Verdict,
    find,
)
from tunebook.errors import SpecError
from tunebook.space import ParamRef

INSENSITIVE_MIN_TRIALS = 20
BINS = 4

__all__ = ["Change", "ChangeKind", "explained", "next_name", "plan_next"]


def next_name(name: str) -> str:
    """``study`` → ``study-r2``; ``study-r2`` → ``study-r3``."""
    match = re.fullmatch(r"(.*)-r(\d+)", name)
    return f"{match.group(1)}-r{int(match.group(2)) + 1}" if match else f"{name}-r2"


def explained(values: list[float], objective: list[float]) -> float:
    """Share of the objective's variance explained by ``values`` cut into quantile bins."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    mean = sum(objective) / len(objective)
    total = sum((v - mean) ** 2 for v in objective)
    if total == 0:
        return 0.0
    between = 0.0
    for b in range(BINS):
        chunk = [objective[i] for i in order[b * len(order) // BINS:(b + 1) * len(order) // BINS]]
        if chunk:
            between += len(chunk) * (sum(chunk) / len(chunk) - mean) ** 2
    return between / total


def plan_next(data: StudyData, findings: Sequence[Finding]) -> list[Change]:
    """The changes the findings call for (see the module docstring)."""
    done = data.completed()
    if not done:
        raise SpecError(f"study {data.study.name!r} has no completed trial: nothing to design "
                        "the next study from; fix its failures and run it first",
                        field="next")
    changes = _bounds(findings) + _insensitive(data)
    changes += _budget(findings) + _steps(findings, data)
    if all(f.verdict in (Verdict.OK, Verdict.UNKNOWN) for f in findings) and (
            data.spec.model.sampler.type == "quasi_random"):
        changes.append(Change(
            ChangeKind.SAMPLER, SamplerModel(type="bayes", warm_start=data.study.name),
            "every check passes: exploit with Bayesian optimisation, warm-started from the "
            f"{len(done)} trials of {data.study.name}", statistic={"trials": len(done)}))
    return changes


def _subjects(findings: Sequence[Finding], check: Check) -> Sequence[object]:
    found = find(findings, check)
    return found.subjects if found is not None else ()


def _bounds(findings: Sequence[Finding]) -> list[Change]:
    crowded = [s for s in _subjects(findings, Check.SEARCH_SPACE) if isinstance(s, CrowdedEdge)]
    walls = [s for s in _subjects(findings, Check.INFEASIBLE) if isinstance(s, InfeasibleEdge)]
    walled = {(w.param, w.edge) for w in walls}
    out = []
    for c in crowded:
        if (c.param, c.edge) in walled:
            continue  # both: handled below as an instability wall
        out.append(Change(ChangeKind.WIDEN, float(f"{c.widen_to:.3g}"),
                          f"{c.hits} of the {c.best} best trials sit at the {c.edge} edge "
                          f"(p = {c.p:.2g} by chance): widened", c.param, _bound(c.edge),
                          {"best_at_edge": c.hits, "best": c.best, "p": c.p,
                           "trend_p": c.trend_p}))
    pushing = {(c.param, c.edge) for c in crowded}
    for w in walls:
        reason = f"trials beyond ~{w.feasible_bound:.3g} are infeasible: the range ends there"
        if (w.param, w.edge) in pushing:
            reason += ("; the best trials also crowd this edge, so instability caps "
                       f"{w.param.name}: add warmup (or clipping) before searching past it")
        out.append(Change(ChangeKind.CUT, float(f"{w.feasible_bound:.3g}"), reason, w.param,
                          _bound(w.edge), {"feasible_bound": w.feasible_bound}))
    return out


def _bound(edge: str) -> Literal["low", "high"]:
    return "high" if edge == "upper" else "low"


def _insensitive(data: StudyData) -> list[Change]:
    done = data.completed()
    if len(done) < INSENSITIVE_MIN_TRIALS:
        return []
    out = []
    null = (BINS - 1) / (len(done) - 1)  # the share bins explain in pure noise, on average
    for dim in numeric_dims(data):
        pairs = [(float(t.params[dim.key]), float(t.value or 0.0)) for t in done
                 if dim.key in t.params and dim.condition is None]
        if len(pairs) < INSENSITIVE_MIN_TRIALS:
            continue
        share = explained([math.log(x) if dim.is_log else x for x, _ in pairs],
                          [v for _, v in pairs])
        if share <= 2 * null:
            out.append(Change(ChangeKind.FIX, done[0].params[dim.key],
                              f"{dim.key} explains {share:.0%} of the objective's variance "
                              f"(noise alone ~{null:.0%}): no longer searched, fixed at the "
                              "best trial's value", ParamRef(dim.name, dim.condition),
                              statistic={"explained": share, "noise_share": null}))
    return out


def _budget(findings: Sequence[Finding]) -> list[Change]:
    found = find(findings, Check.SAMPLING)
    wanted = [s for s in found.subjects if isinstance(s, MoreTrials)] if found else []
    if not wanted or found is None:
        return []
    return [Change(ChangeKind.BUDGET, wanted[0].budget, found.next_step.rstrip("."),
                   statistic={"budget": wanted[0].budget})]


def _steps(findings: Sequence[Finding], data: StudyData) -> list[Change]:
    improving = [s for s in _subjects(findings, Check.CURVES) if isinstance(s, StillImproving)]
    steps = data.spec.model.max_steps
    if not improving or steps is None:
        return []
    gain = max(s.gain for s in improving)
    return [Change(ChangeKind.STEPS, 2 * steps,
                   f"the best curves still improve at the end (2× steps would gain "
                   f"~{gain:.2g} in {data.metric})", statistic={"gain_2x_steps": gain})]
