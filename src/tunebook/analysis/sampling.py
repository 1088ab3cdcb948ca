"""Were enough points sampled? Counts per value, and what more trials would likely gain.

A late improvement of the best-so-far curve says little: the best trial has a late index
one time in four by chance. The question the playbook asks is whether more trials of this
space would likely find a *meaningfully* better point, so the check estimates the gain of
doubling the trials from the spacing of the best values (:func:`stats.doubling_gain`) and
compares it with the trial-to-trial noise measured in the study.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from tunebook.analysis.checklist import top_k
from tunebook.analysis.curves import CurveRead
from tunebook.analysis.data import StudyData
from tunebook.analysis.findings import Check, Finding, MoreTrials, Verdict, worst
from tunebook.analysis.stats import doubling_gain
from tunebook.records import config_key
from tunebook.space import combo_label

MIN_PER_VALUE = 10     # completed trials per scientific value, at least ...
PER_DIMENSION = 5      # ... and this many per nuisance dimension searched
TOO_FEW = 3            # fewer completed trials than this: nothing can be concluded
SPACING_K = 5          # the doubling estimate reads the top-k values, at least 5
MARGIN = 3.0           # it scatters 2-3x around the truth: a gain counts above 3x the noise


@dataclass(frozen=True)
class Noise:
    """Trial-to-trial noise of the objective, and where it was measured.

    ``seeds``: re-runs of one configuration with other seeds (the playbook's yardstick);
    ``evaluations``: the scatter of the best trials' evaluation curves, a lower bound.
    """

    sigma: float
    source: str


def seed_sigma(data: StudyData) -> float | None:
    """Pooled standard deviation of configurations run more than once (None if none was)."""
    groups: dict[str, list[float]] = {}
    for t in data.completed():
        groups.setdefault(config_key(t.params), []).append(float(t.value or 0.0))
    repeated = [g for g in groups.values() if len(g) >= 2]
    if not repeated:
        return None
    dof = sum(len(g) - 1 for g in repeated)
    pooled = sum(statistics.variance(g) * (len(g) - 1) for g in repeated) / dof
    return math.sqrt(pooled)


def study_noise(data: StudyData, reads: Sequence[CurveRead]) -> Noise | None:
    """The best available noise estimate: seed re-runs, else the top curves' scatter."""
    seeds = seed_sigma(data)
    if seeds is not None:
        return Noise(seeds, "seeds")
    sigmas = [r.noise for r in reads if r.noise > 0]
    return Noise(statistics.median(sigmas), "evaluations") if sigmas else None


QUESTION = Check.SAMPLING


def sampling(data: StudyData, noise: Noise | None) -> Finding:
    """Enough trials per value and dimension; would twice the trials find a better point?"""
    question = QUESTION
    dims = len(data.spec.space.nuisance)
    want = max(MIN_PER_VALUE, PER_DIMENSION * dims)
    sign = data.objective.sign()
    details, verdicts, short = [], [], False
    numbers: dict[str, float] = {}
    gains: list[tuple[float, str, int]] = []
    for combo in data.combos():
        ranked = data.completed(data.of_combo(combo))
        label = combo_label(combo) or "the study"
        line = f"{label}: {len(ranked)} completed (want ≥ {want} for {dims} nuisance dims)"
        verdicts.append(Verdict.FAIL if len(ranked) < TOO_FEW else
                        Verdict.WARN if len(ranked) < want else Verdict.OK)
        short |= len(ranked) < want
        doubled = doubling_gain([sign * float(t.value or 0.0) for t in ranked],
                                max(SPACING_K, top_k(len(ranked))))
        if doubled is not None:
            line += f"; 2× trials would likely gain ~{doubled.gain:.3g}"
            gains.append((doubled.gain, label, len(ranked)))
            numbers[f"{label}.doubling_gain"] = doubled.gain
        numbers[f"{label}.completed"] = len(ranked)
        details.append(line)
    done = len(data.completed())
    if noise is not None:
        numbers["noise"] = noise.sigma
    gain, where, _ = max(gains, default=(0.0, "", 0))
    threshold, ruler = _ruler(noise)
    meaningful = noise is not None and gain > threshold
    if meaningful:
        verdicts.append(Verdict.WARN)
        details.append(f"the best of {where} would likely improve by ~{gain:.3g} with twice "
                       f"the trials, more than 3× {ruler} ({threshold:.3g})")
    summary = "; ".join(details[:4]) + (" …" if len(details) > 4 else "")
    if noise is None and gains:
        summary += (". Whether that is worth more trials is unknown: no noise estimate "
                    "(report the objective's curve, or re-run a configuration with seeds)")
    elif not meaningful and gains:
        summary += (f". Twice the trials would gain at most ~{gain:.3g}, less than 3× "
                    f"{ruler}")
    step = _next_step(data, want, short, meaningful, done)
    subjects: tuple[MoreTrials, ...] = ()
    if step:
        numbers["budget_next"] = (max(want * len(data.combos()), done + 1) if short
                                  else 2 * done)
        subjects = (MoreTrials(int(numbers["budget_next"]), short),)
    return Finding(question, worst(verdicts), summary + ".", step, "sampling",
                   tuple(details), numbers, subjects)


def _ruler(noise: Noise | None) -> tuple[float, str]:
    """The smallest doubling gain worth more trials (``MARGIN`` times the noise), named."""
    if noise is None:
        return math.inf, "the noise (unknown)"
    what = ("the seed-to-seed noise" if noise.source == "seeds" else
            "the evaluation noise of the best trials")
    return MARGIN * noise.sigma, what


def _next_step(data: StudyData, want: int, short: bool, meaningful: bool, done: int) -> str:
    values = len(data.combos())
    if short:
        target = max(want * values, done + 1)
        return (f"Raise the budget to at least {target} trials ({want} per scientific value; "
                f"{done} completed now).")
    if meaningful:
        return (f"Run more trials: doubling to ~{2 * done} completed trials would likely "
                "find a meaningfully better point.")
    return ""
