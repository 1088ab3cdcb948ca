"""Opt-in pruning: stop a trial that is clearly worse than the finished ones at equal step.

The playbook's default is no early stopping (keep the N best checkpoints and choose
retrospectively, §4.3): short-horizon comparisons favour fast starters. So pruning is opt-in,
never acts in the first third of training, compares a trial with finished trials *at the
same step* (each one's best value up to that step), and a pruned trial is recorded
``pruned`` at the threshold it failed, never at its partial value, so it can never look like
the study's best and enters Bayesian optimisation as "at least this bad".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tunebook._spec_model import PruningModel
from tunebook.records import Curve, Objective, TrialRecord, TrialStatus, best_until
from tunebook.runner.plan import StudyPlan
from tunebook.store import Store


@dataclass(frozen=True)
class Pruned:
    """Why a trial was stopped: the step, its value there, and the threshold it missed."""

    step: int
    value: float
    threshold: float
    compared: int

    def reason(self, rule: PruningModel, metric: str) -> str:
        if rule.type == "asha":
            return (f"pruned at the rung at step {self.step}: best {metric} so far "
                    f"{self.value:.4g} is outside the best 1/{rule.reduction_factor} "
                    f"(threshold {self.threshold:.4g}) of {self.compared} trials at that rung")
        return (f"pruned at step {self.step}: best {metric} so far {self.value:.4g} is worse "
                f"than the {rule.percentile:g}th percentile {self.threshold:.4g} of "
                f"{self.compared} finished trials at that step")


def decide(curve: Curve, finished: Sequence[Curve], rule: PruningModel, max_steps: int,
           objective: Objective) -> Pruned | None:
    """Whether the trial with ``curve`` should stop now, by the documented rule."""
    if not curve:
        return None
    step = max(s for s, _ in curve)
    if step < rule.grace * max_steps or step >= max_steps:
        return None
    mine = best_until(curve, step, objective)
    others = [v for c in finished if (v := best_until(c, step, objective)) is not None
              and max(s for s, _ in c) >= step]
    if mine is None or len(others) < rule.min_trials:
        return None
    q = rule.percentile if objective.minimize else 100 - rule.percentile
    threshold = float(np.percentile(others, q))
    worse = mine > threshold if objective.minimize else mine < threshold
    return Pruned(step, mine, threshold, len(others)) if worse else None


def rungs(rule: PruningModel, max_steps: int) -> list[int]:
    """ASHA's rung steps: ``grace`` × ``max_steps`` × η^k, below ``max_steps``."""
    out, step = [], rule.grace * max_steps
    while math.ceil(step) < max_steps:
        out.append(math.ceil(step))
        step *= rule.reduction_factor
    return out


def decide_asha(curve: Curve, others: Sequence[Curve], rule: PruningModel, max_steps: int,
                objective: Objective) -> Pruned | None:
    """ASHA's rule at the highest rung ``curve`` reached (see :class:`PruningModel`).

    The trial and every other trial whose curve reached the rung are compared by their
    best value up to the rung's step; it goes on when it ranks within the best ``n // η``
    (at least one) of those ``n``, and is stopped at the ``n // η``-th best value otherwise.
    """
    if not curve:
        return None
    step = max(s for s, _ in curve)
    reached = [r for r in rungs(rule, max_steps) if r <= step]
    if not reached:
        return None
    rung = reached[-1]
    mine = best_until(curve, rung, objective)
    rivals = [v for c in others if c and max(s for s, _ in c) >= rung
              and (v := best_until(c, rung, objective)) is not None]
    if mine is None or len(rivals) + 1 < rule.min_trials:
        return None
    sign = objective.sign()
    ranked = sorted([mine, *rivals], key=lambda v: sign * v)
    keep = max(1, len(ranked) // rule.reduction_factor)
    threshold = ranked[keep - 1]
    return Pruned(rung, mine, threshold, len(ranked)) if sign * mine > sign * threshold else None


def check(store: Store, plan: StudyPlan, trial: TrialRecord) -> Pruned | None:
    """Apply the study's pruning rule to a running trial (None: no rule, or keep going)."""
    rule, max_steps = plan.spec.model.pruning, plan.spec.model.max_steps
    if rule is None or max_steps is None:
        return None
    metric = plan.objective.metric
    curve = [(p.step, p.value) for p in store.metric_history(trial.id, metric)]
    if rule.type == "asha":
        rivals = [t.id for t in store.trials([trial.study_id]) if t.id != trial.id
                  and t.status in (TrialStatus.COMPLETED, TrialStatus.PRUNED,
                                   TrialStatus.RUNNING)]
        others = list(store.metric_points(rivals, [metric]).values()) if rivals else []
        return decide_asha(curve, others, rule, max_steps, plan.objective)
    done = [t.id for t in store.trials([trial.study_id], TrialStatus.COMPLETED)]
    if len(done) < rule.min_trials:
        return None
    finished = list(store.metric_points(done, [metric]).values())
    return decide(curve, finished, rule, max_steps, plan.objective)
