"""Uniform random search: each point drawn from its own seeded generator.

Point ``j`` comes from ``numpy.random.default_rng([seed, j])``, so it does not depend on
how many points were drawn before it: resumes are exact without any stored RNG state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from tunebook.samplers.base import Ask, suggest_indexed, unit_points
from tunebook.space import Params, Space


@dataclass(frozen=True)
class RandomSampler:
    """Independent uniform points over the nuisance dimensions."""

    seed: int = 0

    adaptive: ClassVar[bool] = False

    def suggest(self, ask: Ask) -> Params:
        return suggest_indexed(self, ask)

    def params_at(self, space: Space, combos: Sequence[Params],
                  indices: Sequence[int]) -> list[Params]:
        if not indices:
            return []
        k = max(len(combos), 1)
        dims = len(space.nuisance)
        rows = max(i // k for i in indices) + 1
        points = np.zeros((rows, dims))
        for j in {i // k for i in indices}:
            points[j] = np.random.default_rng([self.seed, j]).random(dims)
        return unit_points(space, combos, indices, points)
