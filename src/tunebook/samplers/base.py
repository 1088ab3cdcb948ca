"""The sampler contract (v2): params for one new trial, chosen when a slot asks for work.

A trial is created when a free worker slot asks for one, not when the study is created;
its sampler is asked *then*, so it can see everything the study has learned so far.

Scientific values are assigned, not sampled: trial ``i`` of a study with ``K`` scientific
combinations serves combination ``i mod K`` (:attr:`Ask.combo`), at position ``i // K``
of the combination's own sequence (:attr:`Ask.position`). Every scientific value therefore
gets its share of trials exactly (§2.4.2: "scientific values are sampled evenly"), and a
non-adaptive sampler tries each value at the same nuisance points, a paired design that
makes the isolation comparison fairer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Protocol

import numpy as np

from tunebook.records import Objective, TrialRecord
from tunebook.space import Params, Space


@dataclass(frozen=True)
class Ask:
    """What a sampler is given for one new trial.

    Attributes:
        space: the search space (roles, conditionals).
        combos: the scientific combinations this (leaf) study serves, in order; empty
            when there are no scientific parameters.
        index: the new trial's index in its study.
        objective: what the study optimises.
        history: the study's finished trials (completed, infeasible, failed, pruned) with
            their status, objective value and reason; empty for non-adaptive samplers,
            which do not look at it.
        pending: the study's other trials that are queued or running (their params may
            still be unchosen: ``suggested`` False); a batch-aware sampler avoids them.
        intermediate: the objective's reported values by step, per finished trial id.
        warm: finished trials of the study named by ``warm_start`` inside this space,
            for an adaptive sampler to learn from before its own trials.
    """

    space: Space
    combos: Sequence[Params]
    index: int
    objective: Objective
    history: Sequence[TrialRecord] = ()
    pending: Sequence[TrialRecord] = ()
    intermediate: Mapping[int, Sequence[tuple[int, float]]] = field(default_factory=dict)
    warm: Sequence[TrialRecord] = ()

    @property
    def combo(self) -> Params:
        """The scientific values this trial must use."""
        return dict(self.combos[self.index % len(self.combos)]) if self.combos else {}

    @property
    def position(self) -> int:
        """How many trials of this combination come before this one."""
        return self.index // max(len(self.combos), 1)


class Sampler(Protocol):
    """Chooses the params of a new trial.

    Promises, for every sampler:
      * ``suggest`` returns storage-keyed params (conditional ones under qualified keys)
        that include ``ask.combo``'s scientific values and are valid in ``ask.space``;
      * ``adaptive`` says whether the answer depends on the history: a non-adaptive
        sampler is never given history (loading it costs queries per trial), and its
        trial ``i`` is a pure function of (seed, i): the same seed gives the same trials,
        and a resumed study continues the sequence with no repeats, whatever the order
        in which workers asked;
      * an adaptive sampler may take a while (a model fit); the runner calls it outside
        any database lock, so other trials keep reporting metrics meanwhile.
    """

    adaptive: ClassVar[bool]

    def suggest(self, ask: Ask) -> Params:
        """Params for the trial ``ask.index``."""
        ...


class IndexedSampler(Protocol):
    """A non-adaptive sampler: params are a pure function of (seed, index)."""

    adaptive: ClassVar[bool]

    def params_at(self, space: Space, combos: Sequence[Params],
                  indices: Sequence[int]) -> list[Params]:
        """Params for each trial index (the same whichever other indices are asked)."""
        ...

    def suggest(self, ask: Ask) -> Params: ...


def suggest_indexed(sampler: IndexedSampler, ask: Ask) -> Params:
    """``suggest`` of a non-adaptive sampler: its ``params_at`` for one index."""
    found = sampler.params_at(ask.space, ask.combos, [ask.index])
    if not found:
        raise IndexError(f"the sampler has no trial {ask.index} (a grid smaller than "
                         "the budget?)")
    return found[0]


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
