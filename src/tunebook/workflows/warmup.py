"""The warmup sweep (``tunebook warmup-sweep``): the warmup that makes a too-high learning
rate stable (playbook §5.8.1).

The base learning rate is 10x the lowest one the lr-sweep found unstable; warmup lengths
go from none to 10 % of training, everything else held still with the study's schedule
kept (:mod:`tunebook.workflows._held`). The shortest warmup that trains stably is the
answer; the next step is to adopt it and sweep the learning rate again.

    >>> found = warmup_sweep(load_spec("study.yaml"), store, unstable_lr=0.3)
    >>> found.sweep.best.x   # the shortest stable warmup, in steps
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tunebook._spec_model import ParamModel
from tunebook.analysis.lrsweep import SweepResult, warmup_result
from tunebook.errors import SpecError
from tunebook.spec import StudySpec
from tunebook.store import Store
from tunebook.workflows._held import held_still, known
from tunebook.workflows._run import RunOptions, run


def warmup_values(max_steps: int, points: int) -> list[int]:
    """No warmup, then ``points - 1`` lengths half a decade apart, down from 10 % of
    training (e.g. 0, 1, 3, 9, 30 for 300 steps)."""
    top = max(1, max_steps // 10)
    found: list[int] = []
    for i in range(4 * points):
        value = max(1, round(top / 10 ** (i / 2)))
        if value not in found:
            found.append(value)
        if len(found) == points - 1 or value == 1:
            break
    return [0, *sorted(found)]


def warmup_spec(spec: StudySpec, unstable_lr: float, *, key: str = "learning_rate",
                warmup_key: str = "warmup_steps", points: int = 5) -> StudySpec:
    """The warmup sweep: the base learning rate at 10x ``unstable_lr`` (the playbook's
    recipe), warmup lengths from none to 10 % of training."""
    if unstable_lr <= 0 or not math.isfinite(unstable_lr):
        raise SpecError("--unstable-lr must be a positive learning rate (the lowest one the "
                        "lr-sweep found unstable)", field="--unstable-lr")
    if spec.model.max_steps is None:
        raise SpecError("a warmup sweep needs max_steps in the study file (warmup is a "
                        "share of training)", path=str(spec.path), field="max_steps")
    known(spec, key, "--key")
    values = warmup_values(spec.model.max_steps, points)
    return held_still(spec, {warmup_key: ParamModel(values=list(values))},
                      suffix="warmup-sweep", points=len(values),
                      fixed={key: 10 * unstable_lr}, keep_schedule=True,
                      description=f"warmup sweep at {key} = {10 * unstable_lr:g} (10x the "
                                  f"unstable {unstable_lr:g}) for {spec.name}")


@dataclass(frozen=True)
class WarmupSweep:
    """What ``warmup_sweep`` found: the sweep (``best`` is the shortest stable warmup),
    the study it ran, and whether it was interrupted."""

    sweep: SweepResult
    study: str
    lr: float
    stopped_by: str | None = None


def warmup_sweep(spec: StudySpec, store: Store, *, unstable_lr: float,
                 key: str = "learning_rate", warmup_key: str = "warmup_steps",
                 points: int = 5, options: RunOptions | None = None) -> WarmupSweep:
    """Run (or resume) the warmup sweep of ``spec`` at 10x ``unstable_lr``."""
    study = warmup_spec(spec, unstable_lr, key=key, warmup_key=warmup_key, points=points)
    done = run(study, store, options or RunOptions())
    return WarmupSweep(warmup_result(store, study.name, warmup_key, 10 * unstable_lr),
                       study.name, 10 * unstable_lr, done.stopped_by)
