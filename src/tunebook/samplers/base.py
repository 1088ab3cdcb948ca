"""The sampler contract.

A sampler turns trial indices into params. Its whole state is the study's seed and the
trial index, so trial ``i`` is the same point however often the study was stopped and
resumed, and the same seed gives the same trials (ARCHITECTURE: "sampler state =
(seed, index)").

Scientific values are not sampled: trial ``i`` takes scientific combination
``i mod K`` (K combinations) and the nuisance point ``i // K`` of the sampler's
sequence. Every scientific value therefore gets its share of trials exactly (§2.4.2:
"scientific values are sampled evenly"), and each value is tried at the same nuisance
points, a paired design that makes the isolation comparison fairer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from tunebook.space import Params, Space


class Sampler(Protocol):
    """Suggests params for trial indices.

    Promises, for every sampler:
      * ``suggest`` is a pure function of (space, combos, indices, seed): calling it again
        with the same arguments returns the same params;
      * the params of index ``i`` do not depend on which other indices are requested, so a
        resumed study continues the sequence with no repeats.
    """

    def suggest(self, space: Space, combos: Sequence[Params],
                indices: Sequence[int]) -> list[Params]:
        """Params (storage keys) for each trial index."""
        ...


def unit_points(space: Space, combos: Sequence[Params], indices: Sequence[int],
                points: np.ndarray) -> list[Params]:
    """Combine trial indices with nuisance points (row ``i // K`` of ``points``)."""
    k = max(len(combos), 1)
    out = []
    for i in indices:
        combo = combos[i % k] if combos else {}
        row = points[i // k] if points.size else np.empty(0)
        out.append(space.params_from_unit(combo, row.tolist()))
    return out
