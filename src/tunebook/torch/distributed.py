"""Multi-host habits (§4.6): rank-0-only logging and checkpoints, BatchNorm sync, sharding.

All helpers work without ``torch.distributed`` initialised (a single process is rank 0 of
1), so the same training code runs on a laptop and on a cluster.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import torch
import torch.distributed as dist

from tunebook.context import TrialContext


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def is_rank0() -> bool:
    return rank() == 0


class RankZeroTrial:
    """A trial whose reports, warnings and checkpoint records happen on rank 0 only.

    Every rank can call ``report`` unconditionally; the others' calls are dropped, so the
    store gets one series per trial, not one per host.
    """

    def __init__(self, trial: TrialContext):
        self._trial = trial
        self._active = is_rank0()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._trial, name)

    def report(self, step: int, **metrics: float) -> None:
        if self._active:
            self._trial.report(step, **metrics)

    def warn(self, message: str) -> None:
        if self._active:
            self._trial.warn(message)

    def flush(self) -> None:
        if self._active:
            self._trial.flush()

    def record_checkpoint(self, step: int, path: str, value: float | None) -> int | None:
        return self._trial.record_checkpoint(step, path, value) if self._active else None

    def drop_checkpoint(self, checkpoint_id: int | None) -> None:
        if self._active:
            self._trial.drop_checkpoint(checkpoint_id)


def shard(indices: Sequence[int] | torch.Tensor, rank_: int | None = None,
          world: int | None = None) -> list[int]:
    """This rank's share of ``indices``: every ``world``-th one, starting at ``rank``.

    Shards are disjoint and together cover every index; sizes differ by at most one.
    """
    r = rank() if rank_ is None else rank_
    w = world_size() if world is None else world
    if not 0 <= r < w:
        raise ValueError(f"rank {r} is not in 0..{w - 1}")
    items = indices.tolist() if isinstance(indices, torch.Tensor) else list(indices)
    return [int(i) for i in items[r::w]]


def _bn_buffers(model: torch.nn.Module) -> list[torch.Tensor]:
    out = []
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm) and module.track_running_stats:
            assert module.running_mean is not None and module.running_var is not None
            out += [module.running_mean, module.running_var]
    return out


def sync_batchnorm_stats(model: torch.nn.Module) -> None:
    """Average BatchNorm running statistics over ranks (do it before evaluating)."""
    if world_size() == 1:
        return
    for buffer in _bn_buffers(model):
        dist.all_reduce(buffer, op=dist.ReduceOp.SUM)
        buffer.div_(world_size())


def batchnorm_spread(model: torch.nn.Module) -> float:
    """The largest difference of any BatchNorm statistic between ranks (0 on one rank)."""
    if world_size() == 1:
        return 0.0
    spread = torch.zeros(())
    for buffer in _bn_buffers(model):
        high, low = buffer.detach().clone(), buffer.detach().clone()
        dist.all_reduce(high, op=dist.ReduceOp.MAX)
        dist.all_reduce(low, op=dist.ReduceOp.MIN)
        spread = torch.maximum(spread, (high - low).abs().max().cpu())
    return float(spread)


def check_batchnorm_sync(model: torch.nn.Module, tolerance: float = 1e-5) -> bool:
    """Warn (and return False) when BatchNorm statistics differ across ranks.

    Each host computes its own running statistics from its own data; evaluating with
    unsynchronised statistics gives each host a different model.
    """
    spread = batchnorm_spread(model)
    if spread <= tolerance:
        return True
    warnings.warn(f"BatchNorm statistics differ across ranks by up to {spread:.3g}; call "
                  "tunebook.torch.sync_batchnorm_stats(model) before evaluation", stacklevel=2)
    return False
