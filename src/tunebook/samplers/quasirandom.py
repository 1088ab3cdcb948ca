"""Quasi-random search: a scrambled Halton sequence from :mod:`scipy.stats.qmc`.

The playbook's default for the exploration phase (§2.2): it covers the space evenly,
is not adaptive (so its results are easy to interpret and to re-analyse), and each
point depends only on the seed and its index.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from tunebook.samplers.base import Ask, suggest_indexed, unit_points
from tunebook.space import Params, Space


@dataclass(frozen=True)
class QuasiRandomSampler:
    """Point ``j`` of a seeded, scrambled Halton sequence over the nuisance dimensions."""

    seed: int = 0

    def points(self, dims: int, start: int, count: int) -> np.ndarray:
        """Rows ``start .. start+count-1`` of the sequence (``count`` x ``dims``)."""
        from scipy.stats import qmc

        if dims == 0 or count == 0:
            return np.empty((count, 0))
        halton = qmc.Halton(d=dims, scramble=True, rng=np.random.default_rng(self.seed))
        if start:
            halton.fast_forward(start)
        return np.asarray(halton.random(count))

    adaptive: ClassVar[bool] = False

    def suggest(self, ask: Ask) -> Params:
        return suggest_indexed(self, ask)

    def params_at(self, space: Space, combos: Sequence[Params],
                  indices: Sequence[int]) -> list[Params]:
        if not indices:
            return []
        k = max(len(combos), 1)
        rows = [i // k for i in indices]
        first, last = min(rows), max(rows)
        block = self.points(len(space.nuisance), first, last - first + 1)
        padded = np.zeros((last + 1, block.shape[1]))
        padded[first:] = block
        return unit_points(space, combos, indices, padded)
