"""What every framework callback shares: the trial (or none), metric filtering and
reporting, the divergence guard, and the stop request.

Outside a tunebook trial a callback must leave training alone: :class:`Bridge` then
warns once and every call is a no-op.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

from tunebook.context import TrialContext, current

LOSS_NAMES = ("loss", "train_loss")


def finite_scalars(values: Mapping[str, Any]) -> dict[str, float]:
    """The entries that are plain numbers or one-element tensors (NaN/Inf kept: they are
    the evidence of divergence), as floats."""
    out = {}
    for name, value in values.items():
        if hasattr(value, "numel") and value.numel() == 1:
            value = value.item()
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        out[name] = float(value)
    return out


class Bridge:
    """The running trial as a callback sees it.

    Args:
        framework: named in the warning when there is no trial.
        divergence_factor: a training loss above this multiple of the first one (or
            NaN/Inf) makes the trial infeasible, with the step.
        only: report only these metric names (None: every numeric one).
    """

    def __init__(self, framework: str, *, divergence_factor: float = 10.0,
                 only: Iterable[str] | None = None):
        from tunebook.torch.monitor import DivergenceGuard

        self.trial: TrialContext | None = current()
        self.guard = DivergenceGuard(divergence_factor)
        self.only = set(only) if only is not None else None
        if self.trial is None:
            warnings.warn(f"tunebook's {framework} callback is not inside a tunebook trial: "
                          "training runs unchanged and nothing is recorded", stacklevel=3)

    @property
    def active(self) -> bool:
        return self.trial is not None

    def report(self, step: int, metrics: Mapping[str, Any], *, check: bool = True) -> None:
        """Report ``metrics`` at ``step`` (buffered); with ``check``, guard the training
        loss among them."""
        if self.trial is None:
            return
        values = finite_scalars(metrics)
        if self.only is not None:
            values = {k: v for k, v in values.items() if k in self.only}
        if values:
            self.trial.report(step, **values)
        if check:
            self.check(step, values)

    def check(self, step: int, values: Mapping[str, float]) -> None:
        """Raise :class:`~tunebook.Infeasible` when the training loss diverged."""
        for name in LOSS_NAMES:
            if name in values:
                self.flush()
                self.guard.check([(step, values[name])])
                return

    def check_losses(self, points: list[tuple[int, float]]) -> None:
        if points and self.trial is not None:
            if any(not math.isfinite(v) for _, v in points):
                self.flush()
            self.guard.check(points)

    @property
    def should_stop(self) -> bool:
        return self.trial is not None and self.trial.should_stop

    def flush(self) -> None:
        if self.trial is not None:
            self.trial.flush()
