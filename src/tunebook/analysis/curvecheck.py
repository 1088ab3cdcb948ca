"""What do the best trials' curves say? Overfitting, still improving, early plateau, noise.

Every finding is a vote of the top-k trials of a scientific value (not of the single best
one, which under ``select: best`` is the one with the luckiest noise): it is reported when
at least half of them show it, with how many did and its size in the metric's units.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from tunebook.analysis.curves import CurveRead, TrialCurves, read_curve, train_series
from tunebook.analysis.data import StudyData
from tunebook.analysis.findings import Check, Finding, StillImproving, Verdict, sentence

QUESTION = Check.CURVES


@dataclass(frozen=True)
class Read:
    """One top trial's curves and what its evaluation curve shows."""

    curves: TrialCurves
    read: CurveRead


def read_all(data: StudyData, curves: Sequence[TrialCurves]) -> list[Read]:
    """Read the evaluation curve of every loaded top trial that has one."""
    out = []
    for c in curves:
        read = read_curve(c.series.get(data.metric, []), train_series(c), data.minimize)
        if read is not None:
            out.append(Read(c, read))
    return out


def _enough(hits: int, of: int) -> bool:
    return hits >= max(1, math.ceil(of / 2))


def curves_say(data: StudyData, reads: Sequence[Read]) -> Finding:
    """Findings per scientific value, each shown by at least half of its top-k trials."""
    if not reads:
        return Finding(QUESTION, Verdict.UNKNOWN, f"No {data.metric} curves with 8 or more "
                       "evaluations to read.", f"Report {data.metric} at least 8 times per "
                       "trial.", "curves")
    groups: dict[str, list[Read]] = {}
    for r in reads:
        groups.setdefault(r.curves.combo, []).append(r)
    found = [f for combo, group in groups.items() for f in _value_findings(data, combo, group)]
    if (noisy := _noisy(data, reads)) is not None:
        found.append(noisy)
    details = [line for line, _, _, _ in found]
    steps = [step for _, step, _, _ in found]
    numbers = {k: v for _, _, nums, _ in found for k, v in nums.items()}
    subjects = tuple(s for _, _, _, about in found for s in about)
    if not details:
        sigma = statistics.median(r.read.noise for r in reads)
        return Finding(QUESTION, Verdict.OK, f"The {len(reads)} best trials' curves converge "
                       "within the step budget, without overfitting; their evaluation noise "
                       f"is σ ≈ {sigma:.2g}.", "", "curves", numbers={"noise": sigma})
    unique = list(dict.fromkeys(steps))
    return Finding(QUESTION, Verdict.WARN, "; ".join(details[:4]) + (" …" if len(details) > 4
                   else ""), sentence("; ".join(unique)), "curves", tuple(details), numbers,
                   subjects)


#: One part of the curves' answer: the line, the step, its numbers, what it is about.
Part = tuple[str, str, dict[str, float], tuple[StillImproving, ...]]


def _value_findings(data: StudyData, combo: str, group: list[Read]) -> list[Part]:
    n = len(group)
    out: list[Part] = []
    m = data.metric
    improving = [r.read for r in group if r.read.next_gain is not None]
    if _enough(len(improving), n):
        gain = statistics.median(r.next_gain or 0.0 for r in improving)
        out.append((f"{combo}: {len(improving)} of the {n} best trials still improve at the "
                    f"end (2× steps would gain ~{gain:.2g} in {m})",
                    "the runs are compute-bound: more steps would help, so the comparison "
                    "holds for this step budget only", {f"{combo}.still_improving": len(
                        improving), f"{combo}.gain_2x_steps": gain},
                    (StillImproving(combo, len(improving), gain),)))
    flat = [r.read for r in group if r.read.plateau is not None]
    if _enough(len(flat), n):
        step = int(statistics.median(r.plateau or 0 for r in flat))
        end = int(statistics.median(r.steps for r in flat))
        out.append((f"{combo}: {len(flat)} of the {n} best trials reach their final {m} by "
                    f"step {step} of {end}",
                    f"fewer steps (~{int(step * 1.5)} instead of {end}) would give the same "
                    "result faster", {f"{combo}.plateau_step": step}, ()))
    over = [r.read for r in group if r.read.overfit is not None]
    if _enough(len(over), n):
        worse = statistics.median(r.overfit[1] for r in over if r.overfit)
        out.append((f"{combo}: {len(over)} of the {n} best trials overfit ({m} ends ~"
                    f"{worse:.2g} worse than at its best while the train loss does not)",
                    "add regularisation or data augmentation; select: best already picks "
                    "the best checkpoint", {f"{combo}.overfit_by": worse}, ()))
    return out


def _noisy(data: StudyData, reads: Sequence[Read]) -> Part | None:
    """Evaluation noise larger than the gap between the two best scientific values."""
    if len(data.combos()) < 2:
        return None
    best: dict[str, float] = {}
    sign = data.objective.sign()
    for r in reads:
        value = sign * float(r.curves.trial.value or 0.0)
        best[r.curves.combo] = min(best.get(r.curves.combo, value), value)
    if len(best) < 2:
        return None
    first, second = sorted(best.values())[:2]
    sigma = statistics.median(r.read.noise for r in reads)
    if sigma <= second - first:
        return None
    return (f"{data.metric}'s evaluation noise (σ ≈ {sigma:.2g}) exceeds the gap between the "
            f"two best scientific values ({second - first:.2g}): one evaluation cannot tell "
            "them apart", "evaluate on a larger (or fixed) evaluation set, or re-run the best "
            "configurations with several seeds", {"noise": sigma, "value_gap": second - first},
            ())
