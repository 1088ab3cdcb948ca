"""Evaluation habits (§4.2): by steps, with a big enough batch, on subsets that track."""

from __future__ import annotations

import warnings
from collections.abc import Sequence, Sized
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class EvalEvery:
    """Evaluate every ``every`` steps and at the last step; never by wall time.

    Step-based evaluation makes curves from different machines and runs line up, and makes
    the retrospective choice of the best checkpoint meaningful.
    """

    every: int
    max_steps: int | None = None

    def __post_init__(self) -> None:
        if self.every < 1:
            raise ValueError(f"eval every must be at least 1 step, got {self.every}")

    def due(self, step: int) -> bool:
        return step % self.every == 0 or (self.max_steps is not None and step == self.max_steps)


def check_eval_batch(eval_batch_size: int, train_batch_size: int) -> bool:
    """Warn when the eval batch is smaller than the train batch; True when it is fine.

    Evaluation needs no gradients, so it fits a batch at least as large as training's; a
    smaller one only makes evaluation slower.
    """
    if eval_batch_size >= train_batch_size:
        return True
    warnings.warn(f"eval batch size {eval_batch_size} is below the train batch size "
                  f"{train_batch_size}; evaluation needs no gradients, so use at least "
                  f"{train_batch_size}", stacklevel=2)
    return False


def eval_subset(dataset: int | Sized, n: int, *, seed: int,
                stratify: Sequence[int] | None = None) -> np.ndarray:
    """Indices of a fixed random subset of ``n`` examples of ``dataset`` (or of a size).

    With ``stratify`` (a label per example) each class keeps its share, and every class
    present keeps at least one example, so tiny classes are not dropped. The same seed gives
    the same subset, so every trial is evaluated on the same examples.
    """
    size = dataset if isinstance(dataset, int) else len(dataset)
    if not 0 < n <= size:
        raise ValueError(f"subset size must be in 1..{size}, got {n}")
    rng = np.random.default_rng(seed)
    if stratify is None:
        return np.sort(rng.choice(size, size=n, replace=False))
    labels = np.asarray(stratify)
    if len(labels) != size:
        raise ValueError(f"stratify has {len(labels)} labels for {size} examples")
    classes, counts = np.unique(labels, return_counts=True)
    quota = np.maximum(1, np.floor(counts * n / size).astype(int))
    while quota.sum() > n:
        quota[np.argmax(quota)] -= 1
    leftover = n - quota.sum()
    remainders = counts * n / size - np.floor(counts * n / size)
    for i in np.argsort(-remainders)[:leftover]:
        quota[i] += 1
    chosen = [rng.choice(np.flatnonzero(labels == c), size=min(q, k), replace=False)
              for c, q, k in zip(classes, quota, counts, strict=True)]
    return np.sort(np.concatenate(chosen))


@dataclass(frozen=True)
class SubsetCheck:
    """How closely a subset's metric followed the full set's over a run."""

    max_gap: float
    tolerance: float

    @property
    def tracks(self) -> bool:
        return self.max_gap <= self.tolerance


def subset_tracks(full: Sequence[float], subset: Sequence[float], tolerance: float,
                  ) -> SubsetCheck:
    """Compare a metric on the full eval set and on a subset at the same steps."""
    if len(full) != len(subset) or not full:
        raise ValueError("full and subset need the same, non-zero number of evaluations")
    gap = max(abs(a - b) for a, b in zip(full, subset, strict=True))
    return SubsetCheck(max_gap=gap, tolerance=tolerance)


def correct_per_class(predictions: torch.Tensor, labels: torch.Tensor,
                      num_classes: int) -> torch.Tensor:
    """Exact counts of correct predictions per class (integers, not rates).

    For a class with five examples a rate hides whether one or two were right; counts
    summed over batches stay exact.
    """
    correct = (predictions == labels).long()
    return torch.zeros(num_classes, dtype=torch.long, device=labels.device).index_add_(
        0, labels.long(), correct)
