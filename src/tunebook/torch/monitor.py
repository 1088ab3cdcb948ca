"""Per-step habits with no per-step host sync: grad norm, clipping, divergence guard.

Everything a step computes stays on the device, one buffer slot per step; the host reads
the buffers once per log interval. On a GPU an ``.item()`` per step would stall the
pipeline; here the only syncs are at log steps (playbook §4.1: avoid sync barriers).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch

from tunebook.errors import Infeasible


class DeviceSeries:
    """A scalar per step, written on the device, read in one transfer by :meth:`drain`."""

    def __init__(self, capacity: int, device: torch.device | str | None = None):
        self.capacity = max(capacity, 1)
        self.buffer = torch.zeros(self.capacity, device=device)
        self.steps: list[int] = []

    def append(self, step: int, value: torch.Tensor) -> None:
        if len(self.steps) == self.capacity:
            self.buffer = torch.cat([self.buffer, torch.zeros_like(self.buffer)])
            self.capacity *= 2
        self.buffer[len(self.steps)] = value.detach()
        self.steps.append(step)

    def drain(self) -> list[tuple[int, float]]:
        """``(step, value)`` for the steps since the last drain (one host sync)."""
        if not self.steps:
            return []
        values = self.buffer[: len(self.steps)].tolist()
        out = list(zip(self.steps, values, strict=True))
        self.steps = []
        return out


def total_norm(grads: list[torch.Tensor]) -> torch.Tensor:
    """The global L2 norm of ``grads`` on their device (no host sync).

    One fused per-tensor norm and one norm of the norms: the same value as
    ``torch.nn.utils.get_total_norm``, with less Python overhead per step (it matters for
    small models on CPU, where the step itself takes about a millisecond).
    """
    if not grads:
        return torch.zeros(())
    first = grads[0]
    if all(g.device == first.device and g.dtype == first.dtype for g in grads):
        norm: torch.Tensor = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
        return norm
    return torch.nn.utils.get_total_norm(grads, foreach=True)


def clip_(grads: list[torch.Tensor], norm: torch.Tensor, threshold: float) -> None:
    """Scale ``grads`` in place so their global norm is at most ``threshold`` (no sync)."""
    coef = (threshold / (norm + 1e-6)).clamp_(max=1.0)
    torch._foreach_mul_(grads, coef if coef.dtype == grads[0].dtype else coef.to(grads[0].dtype))


class GradNorm:
    """The unclipped global L2 norm of the gradient every step, with optional clipping.

    Call after ``loss.backward()`` and before ``optimizer.step()``. The norm is the one
    ``torch.nn.utils.clip_grad_norm_`` computes; clipping at ``clip`` scales the gradient
    when the norm exceeds it. The playbook (§5.8.2) picks the clip threshold at the 90th
    percentile of the unclipped norm, and warns when more than half the steps are
    clipped: both need the *unclipped* norm, which is what is logged.
    """

    def __init__(self, parameters: Iterable[torch.Tensor], *, clip: float | None = None,
                 capacity: int = 100):
        self.params = [p for p in parameters if p.requires_grad]
        if not self.params:
            raise ValueError("GradNorm needs at least one parameter that requires grad")
        if clip is not None and clip <= 0:
            raise ValueError(f"clip must be positive, got {clip}")
        self.clip = clip
        self.series = DeviceSeries(capacity, self.params[0].device)
        self.history: list[tuple[int, float]] = []

    def __call__(self, step: int) -> torch.Tensor:
        """Measure (and clip) this step's gradient; returns the norm as a device tensor."""
        grads = [p.grad for p in self.params if p.grad is not None]
        norm = total_norm(grads)
        if self.clip is not None:
            clip_(grads, norm, self.clip)
        self.series.append(step, norm)
        return norm

    def drain(self) -> list[tuple[int, float, float]]:
        """``(step, grad_norm, clipped)`` for the steps since the last drain (one sync)."""
        points = self.series.drain()
        self.history.extend(points)
        return [(s, v, float(self.clip is not None and v > self.clip)) for s, v in points]

    @property
    def clipped_fraction(self) -> float:
        """Share of the drained steps whose norm exceeded the threshold."""
        if self.clip is None or not self.history:
            return 0.0
        return sum(v > self.clip for _, v in self.history) / len(self.history)


@dataclass
class DivergenceGuard:
    """Stops a trial whose loss is NaN/Inf, or above ``factor`` times its first loss.

    Fed the per-step losses at log steps; the step and value that tripped it become the
    trial's reason (status infeasible, §5.8).
    """

    factor: float = 10.0
    first: float | None = None

    def check(self, points: Sequence[tuple[int, float]]) -> None:
        """Raise :class:`~tunebook.Infeasible` at the first diverged ``(step, loss)``."""
        for step, value in points:
            if self.first is None and math.isfinite(value):
                self.first = value
            if not math.isfinite(value):
                raise Infeasible(f"training diverged: loss became {value} at step {step}")
            if self.first is not None and value > self.factor * abs(self.first):
                raise Infeasible(f"training diverged: loss {value:.4g} at step {step} is over "
                                 f"{self.factor:g}x the initial loss {self.first:.4g}")
