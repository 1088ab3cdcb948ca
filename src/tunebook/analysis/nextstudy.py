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
from dataclasses import dataclass
from typing import Any

from tunebook.analysis.checklist import numeric_dims
from tunebook.analysis.data import StudyData
from tunebook.analysis.findings import Finding, Verdict
from tunebook.errors import SpecError

INSENSITIVE_MIN_TRIALS = 20
BINS = 4


@dataclass(frozen=True)
class Change:
    """One edit of the study file: where, the new value (None removes it), and why."""

    path: tuple[str, ...]
    value: Any
    reason: str


def _finding(findings: Sequence[Finding], start: str) -> Finding | None:
    return next((f for f in findings if f.question.startswith(start)), None)


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
    changes += _budget(findings, data) + _steps(findings, data)
    if all(f.verdict in (Verdict.OK, Verdict.UNKNOWN) for f in findings) and (
            data.spec.model.sampler.type == "quasi_random"):
        changes.append(Change(("sampler",), {"type": "bayes", "warm_start": data.study.name},
                              "every check passes: exploit with Bayesian optimisation, "
                              f"warm-started from the {len(done)} trials of "
                              f"{data.study.name}"))
    return changes


def _bounds(findings: Sequence[Finding]) -> list[Change]:
    space, infeasible = _finding(findings, "Is the search"), _finding(findings, "How many")
    crowded = space.numbers if space is not None else {}
    walls = infeasible.numbers if infeasible is not None else {}
    out = []
    for name, value in crowded.items():
        if not name.endswith(".widen_to"):
            continue
        key, edge = name.split(".")[:2]
        bound = "high" if edge == "upper" else "low"
        if f"{key}.{edge}.feasible_bound" in walls:
            continue  # both: handled below as an instability wall
        hits, k = int(crowded[f"{key}.{edge}.best_at_edge"]), int(crowded[f"{key}.{edge}.best"])
        out.append(Change(("nuisance", key, bound), float(f"{value:.3g}"),
                          f"{hits} of the {k} best trials sit at the {edge} edge (p = "
                          f"{crowded[f'{key}.{edge}.p']:.2g} by chance): widened"))
    for name, value in walls.items():
        key, edge = name.split(".")[:2]
        bound = "high" if edge == "upper" else "low"
        reason = f"trials beyond ~{value:.3g} are infeasible: the range ends there"
        if f"{key}.{edge}.widen_to" in crowded:
            reason += ("; the best trials also crowd this edge, so instability caps "
                       f"{key}: add warmup (or clipping) before searching past it")
        out.append(Change(("nuisance", key, bound), float(f"{value:.3g}"), reason))
    return out


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
            best = done[0].params[dim.key]
            out.append(Change(("nuisance", dim.key), None, ""))
            out.append(Change(("fixed", dim.name), best,
                              f"{dim.key} explains {share:.0%} of the objective's variance "
                              f"(noise alone ~{null:.0%}): no longer searched, fixed at the "
                              "best trial's value"))
    return out


def _budget(findings: Sequence[Finding], data: StudyData) -> list[Change]:
    sampling = _finding(findings, "Were enough")
    if sampling is None or "budget_next" not in sampling.numbers:
        return []
    target = int(sampling.numbers["budget_next"])
    return [Change(("budget",), target, sampling.next_step.rstrip("."))]


def _steps(findings: Sequence[Finding], data: StudyData) -> list[Change]:
    curves = _finding(findings, "What do the")
    steps = data.spec.model.max_steps
    gains = {k: v for k, v in (curves.numbers if curves else {}).items()
             if k.endswith(".gain_2x_steps")}
    if not gains or steps is None:
        return []
    return [Change(("max_steps",), 2 * steps,
                   f"the best curves still improve at the end (2× steps would gain "
                   f"~{max(gains.values()):.2g} in {data.metric})")]
