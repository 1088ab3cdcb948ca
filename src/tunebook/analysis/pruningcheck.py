"""Would stopping trials early be safe for this workload? (playbook §4.3, short horizons)

Pruning judges a trial by its early curve. The playbook warns that short runs favour fast
starters: a configuration that starts slowly may finish best. Whether that bias bites is a
property of the workload, measurable on the exploration's own completed trials: rank the
trials by their best value at the pruning point (a third of training, the earliest
tunebook allows) and by their final value. A high rank correlation, and none of the final
best trials among those a median rule would have stopped, say early values predict final
ones here; otherwise pruning would discard good configurations.
"""

from __future__ import annotations

import math

from tunebook.analysis.data import StudyData
from tunebook.analysis.findings import Check, Finding, Verdict
from tunebook.analysis.stats import rank_trend, spearman
from tunebook.records import TrialRecord, best_until
from tunebook.store import Store

QUESTION = Check.PRUNING
MIN_TRIALS = 8
#: Early and final ranks must correlate at least this well to call pruning safe.
SAFE_RHO = 0.7
TOP_K = 3
MAX_TRIALS = 300


def pairs(store: Store, data: StudyData) -> tuple[list[tuple[TrialRecord, float]], int]:
    """Completed trials with their best value by the pruning point, and that step."""
    done = data.completed()[:MAX_TRIALS]
    spec = data.spec.model
    metric = data.metric
    curves = store.metric_points([t.id for t in done], [metric])
    lengths = [max(s for s, _ in c) for c in curves.values() if c]
    if not lengths:
        return [], 0
    horizon = spec.max_steps or max(lengths)
    fraction = spec.pruning.grace if spec.pruning is not None else 1 / 3
    step = math.ceil(fraction * horizon)
    out = []
    for t in done:
        early = best_until(curves.get((t.id, metric), []), step, data.objective)
        if early is not None:
            out.append((t, early))
    return out, step


def pruning_safety(store: Store, data: StudyData) -> Finding:
    """The rank agreement of early and final values, and the best trials a median rule
    at the pruning point would have stopped."""
    found, step = pairs(store, data)
    on = data.spec.model.pruning is not None
    if len(found) < MIN_TRIALS:
        return Finding(QUESTION, Verdict.UNKNOWN, f"Needs {MIN_TRIALS} completed trials with "
                       f"{data.metric} reported by a third of training; {len(found)} have it.",
                       "", "curves")
    sign = data.objective.sign()
    early = [sign * e for _, e in found]
    final = [sign * float(t.value or 0.0) for t, _ in found]
    rho = spearman(early, final) if len(set(early)) > 1 and len(set(final)) > 1 else 0.0
    p = rank_trend(early, final)
    median = sorted(early)[len(early) // 2]
    best = sorted(range(len(found)), key=lambda i: final[i])[:TOP_K]
    stopped = [found[i][0] for i in best if early[i] > median]
    numbers = {"rho": rho, "p": p, "trials": float(len(found)), "step": float(step),
               "top_stopped": float(len(stopped)), "top_k": float(len(best))}
    safe = rho >= SAFE_RHO and p < 0.05 and not stopped
    lost = (f"; a median rule at step {step} would have stopped {len(stopped)} of the "
            f"{len(best)} best trials ({', '.join(data.label(t) for t in stopped)})"
            if stopped else f"; none of the {len(best)} best trials was behind at step {step}")
    summary = (f"Ranks at step {step} (a third of training) and at the end agree with "
               f"Spearman ρ = {rho:.2f} over {len(found)} trials (p = {p:.2g}){lost}.")
    if safe:
        return Finding(QUESTION, Verdict.OK, summary + " Early values predict final ones "
                       "here: pruning would save compute without losing the best.", "",
                       "curves", numbers=numbers)
    step_text = ("Turn pruning off (remove pruning:) or raise its grace: early values do not "
                 "predict final ones in this workload" if on else
                 "Keep training every trial to the end (no pruning:): early values do not "
                 "predict final ones in this workload")
    why = (" Short runs would mislead here: pruning would have stopped some of the best."
           if stopped else f" Early ranks predict final ones only loosely (ρ below "
           f"{SAFE_RHO:g} or not significant): pruning may stop good configurations.")
    return Finding(QUESTION, Verdict.WARN if on else Verdict.OK, summary + why,
                   step_text + ".", "curves", numbers=numbers)
