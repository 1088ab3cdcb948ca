"""Grid search over every nuisance dimension (``grid_points`` values per range).

Grids waste trials on unimportant dimensions, which is why the playbook prefers
quasi-random search; grid is here for small, deliberate sweeps (e.g. a learning-rate
sweep over a handful of values).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from tunebook.samplers.base import Ask, suggest_indexed
from tunebook.space import Params, ParamValue, Space


@dataclass(frozen=True)
class GridSampler:
    """The cartesian product of each active dimension's grid, in a fixed order."""

    grid_points: int = 5

    def cells(self, space: Space, combo: Params) -> list[Params]:
        dims = space.active(combo)
        grids: list[list[ParamValue]] = [d.domain.grid(self.grid_points) for d in dims]
        return [{**combo, **{d.key: v for d, v in zip(dims, values, strict=True)}}
                for values in itertools.product(*grids)]

    def size(self, space: Space, combos: Sequence[Params]) -> int:
        """How many distinct trials the grid has (a budget above this is capped)."""
        return sum(len(self.cells(space, c)) for c in (combos or [{}]))

    adaptive: ClassVar[bool] = False

    def suggest(self, ask: Ask) -> Params:
        return suggest_indexed(self, ask)

    def params_at(self, space: Space, combos: Sequence[Params],
                  indices: Sequence[int]) -> list[Params]:
        per_combo = [self.cells(space, c) for c in (combos or [{}])]
        # Round-robin over combinations, so a budget below the grid size stays balanced.
        all_cells = [cell for row in itertools.zip_longest(*per_combo) for cell in row
                     if cell is not None]
        return [all_cells[i] for i in indices if i < len(all_cells)]
