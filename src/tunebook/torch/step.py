"""One object that gives a training loop the playbook's per-step habits.

``StepMonitor`` combines :class:`GradNorm`, :class:`DivergenceGuard`, the input-bound
timer and metric reporting. Per step it only queues device work (the loss and the grad
norm go into device buffers); every ``log_every`` steps it reads both back in one sync,
checks for divergence, and reports ``train_loss`` (mean over the interval), ``lr``, and
``grad_norm`` and ``clipped`` for every step.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import torch

from tunebook.context import TrialContext
from tunebook.torch.data import InputTimer
from tunebook.torch.monitor import DeviceSeries, DivergenceGuard, GradNorm


class StepMonitor:
    """Grad norm + clipping + divergence guard + input timer + batched reporting.

    Args:
        trial: the trial to report to (``tunebook.trial()``).
        parameters: the model's parameters.
        optimizer: read for the current learning rate at log steps (no sync).
        log_every: steps between reads of the device buffers and reports.
        clip: clip the gradient norm at this threshold (``None``: measure only).
        divergence_factor: a loss above this multiple of the first loss is divergence.
    """

    def __init__(self, trial: TrialContext, parameters: Iterable[torch.Tensor],
                 optimizer: torch.optim.Optimizer | None = None, *, log_every: int = 50,
                 clip: float | None = None, divergence_factor: float = 10.0):
        if log_every < 1:
            raise ValueError(f"log_every must be at least 1, got {log_every}")
        self.trial, self.optimizer, self.log_every = trial, optimizer, log_every
        self.grad_norm = GradNorm(parameters, clip=clip, capacity=log_every)
        self.losses = DeviceSeries(log_every, self.grad_norm.params[0].device)
        self.guard = DivergenceGuard(divergence_factor)
        self.timer = InputTimer()

    def state_dict(self) -> dict[str, float | None]:
        """What a checkpoint must hold for the guard to behave the same after a resume."""
        return {"first_loss": self.guard.first}

    def load_state_dict(self, state: dict[str, float | None]) -> None:
        self.guard.first = state["first_loss"]

    def batches(self, iterable: Iterable[Any]) -> Iterator[Any]:
        """Iterate over the data, timing how long each batch is waited for."""
        return self.timer.wrap(iterable)

    def after_backward(self, step: int, loss: torch.Tensor) -> torch.Tensor:
        """Call between ``loss.backward()`` and ``optimizer.step()``; returns the grad norm."""
        self.losses.append(step, loss)
        return self.grad_norm(step)

    def end_step(self, step: int) -> None:
        """Call after ``optimizer.step()``; reports and checks at log steps."""
        if step % self.log_every == 0:
            self.flush(step)

    def flush(self, step: int) -> None:
        """Read the device buffers now (one sync each), report, and check for divergence."""
        losses = self.losses.drain()
        norms = self.grad_norm.drain()
        for s, norm, clipped in norms:
            self.trial.report(s, grad_norm=norm, clipped=clipped)
        metrics: dict[str, float] = {}
        if losses:
            metrics["train_loss"] = sum(v for _, v in losses) / len(losses)
        if self.optimizer is not None:
            metrics["lr"] = float(self.optimizer.param_groups[0]["lr"])
        if metrics:
            self.trial.report(step, **metrics)
        self.timer.advise(self.trial)
        self.guard.check(losses)
