"""Learning-rate schedules with linear warmup, and the round-2 transfer rule (§3.1.2, §5.1).

A schedule is plain data (:class:`Schedule`) plus a pure function of the step
(:func:`lr_factor`); :func:`make_schedule` wraps it in ``torch.optim.lr_scheduler.LambdaLR``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

import torch

from tunebook.errors import TunebookError

Kind = Literal["constant", "linear", "cosine"]


class ScheduleError(TunebookError, ValueError):
    """An impossible schedule (warmup longer than training, unknown kind, ...)."""


@dataclass(frozen=True)
class Schedule:
    """A learning-rate schedule over ``max_train_steps`` steps.

    Attributes:
        kind: constant, linear (decay to 0) or cosine (decay to 0).
        base_lr: the peak learning rate.
        max_train_steps: the training length the schedule is defined by.
        warmup_steps: linear warmup from 0 to ``base_lr`` over these first steps.
        decay_steps: linear only: the decay lasts this many final steps, after a constant
            phase (default: everything after warmup).
    """

    kind: Kind
    base_lr: float
    max_train_steps: int
    warmup_steps: int = 0
    decay_steps: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("constant", "linear", "cosine"):
            raise ScheduleError(f"unknown schedule {self.kind!r}; use constant, linear or cosine")
        if self.max_train_steps < 1:
            raise ScheduleError(f"max_train_steps must be at least 1, got {self.max_train_steps}")
        if not 0 <= self.warmup_steps < self.max_train_steps:
            raise ScheduleError(f"warmup_steps ({self.warmup_steps}) must be below "
                                f"max_train_steps ({self.max_train_steps}); shorten the warmup")
        if self.decay_steps is not None and not (
                0 < self.decay_steps <= self.max_train_steps - self.warmup_steps):
            raise ScheduleError(f"decay_steps ({self.decay_steps}) must be in 1.."
                                f"{self.max_train_steps - self.warmup_steps}")

    def lr(self, step: int) -> float:
        return self.base_lr * lr_factor(self, step)


def lr_factor(s: Schedule, step: int) -> float:
    """The multiplier of ``base_lr`` at ``step`` (0-based: the lr used by the step-th update)."""
    if step < s.warmup_steps:
        return step / s.warmup_steps
    if s.kind == "constant":
        return 1.0
    end = s.max_train_steps
    if s.kind == "linear":
        decay = s.decay_steps or end - s.warmup_steps
        start = end - decay
        return 1.0 if step < start else max(0.0, (end - step) / decay)
    progress = min(1.0, (step - s.warmup_steps) / (end - s.warmup_steps))
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def make_schedule(optimizer: torch.optim.Optimizer, schedule: Schedule,
                  ) -> torch.optim.lr_scheduler.LambdaLR:
    """A ``LambdaLR`` following ``schedule``; the optimizer's lr is set to ``base_lr``."""
    for group in optimizer.param_groups:
        group["lr"] = schedule.base_lr
        group["initial_lr"] = schedule.base_lr
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(schedule, step))


def round2_transfer(s: Schedule, max_train_steps: int) -> Schedule:
    """Carry a round-1 schedule to a longer round-2 run (playbook §3.1.2).

    Linear decay keeps its decay length and extends the constant phase before it; cosine
    keeps the base learning rate and stretches over the new ``max_train_steps``. Warmup is
    unchanged: it is about early instability, not about training length.
    """
    if max_train_steps < s.max_train_steps:
        raise ScheduleError(f"round 2 should not be shorter than round 1 ({max_train_steps} < "
                            f"{s.max_train_steps})")
    if s.kind == "linear":
        decay = s.decay_steps or s.max_train_steps - s.warmup_steps
        return replace(s, max_train_steps=max_train_steps, decay_steps=decay)
    return replace(s, max_train_steps=max_train_steps)


def schedule_for(params: Mapping[str, Any], max_steps: int, *, kind: str = "schedule",
                 lr: str = "learning_rate", warmup: str = "warmup_steps") -> Schedule:
    """The schedule a trial's params describe over ``max_steps`` (``t.max_steps``).

    Reads the kind (default constant), base lr, warmup (default 0) and ``decay_steps``
    (given by ``tunebook round2`` to a linear decay, so that round 2 keeps round 1's decay
    length and extends the constant phase, §3.1.2).
    """
    decay = params.get("decay_steps")
    name = str(params.get(kind, "constant"))
    if name not in ("constant", "linear", "cosine"):
        raise ScheduleError(f"{kind}={name!r}: use constant, linear or cosine")
    return Schedule(name, float(params[lr]), int(max_steps),  # type: ignore[arg-type]
                    warmup_steps=int(params.get(warmup, 0) or 0),
                    decay_steps=None if decay is None else int(decay))
