"""Opt-in pruning: stop a trial that is clearly worse than the finished ones at equal step.

The playbook's default is no early stopping (keep the N best checkpoints and choose
retrospectively, §4.3): short-horizon comparisons favour fast starters. So pruning is opt-in,
never acts in the first third of training, compares a trial with finished trials *at the
same step* (each one's best value up to that step), and a pruned trial is recorded
``pruned`` at the threshold it failed, never at its partial value, so it can never look like
the study's best and enters Bayesian optimisation as "at least this bad".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tunebook._spec_model import PruningModel
from tunebook.records import Objective, TrialRecord, TrialStatus
from tunebook.runner.plan import StudyPlan
from tunebook.store import Store

Curve = Sequence[tuple[int, float]]


@dataclass(frozen=True)
class Pruned:
    """Why a trial was stopped: the step, its value there, and the threshold it missed."""

    step: int
    value: float
    threshold: float
    compared: int

    def reason(self, rule: PruningModel, metric: str) -> str:
        return (f"pruned at step {self.step}: best {metric} so far {self.value:.4g} is worse "
                f"than the {rule.percentile:g}th percentile {self.threshold:.4g} of "
                f"{self.compared} finished trials at that step")


def best_until(curve: Curve, step: int, objective: Objective) -> float | None:
    """The best finite value a curve reached by ``step`` (None before its first point)."""
    seen = [v for s, v in curve if s <= step and np.isfinite(v)]
    if not seen:
        return None
    return min(seen) if objective.minimize else max(seen)


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


def check(store: Store, plan: StudyPlan, trial: TrialRecord) -> Pruned | None:
    """Apply the study's pruning rule to a running trial (None: no rule, or keep going)."""
    rule, max_steps = plan.spec.model.pruning, plan.spec.model.max_steps
    if rule is None or max_steps is None:
        return None
    metric = plan.objective.metric
    curve = [(p.step, p.value) for p in store.metric_history(trial.id, metric)]
    done = [t.id for t in store.trials([trial.study_id], TrialStatus.COMPLETED)]
    if len(done) < rule.min_trials:
        return None
    finished = list(store.metric_points(done, [metric]).values())
    return decide(curve, finished, rule, max_steps, plan.objective)
