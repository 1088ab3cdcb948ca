"""Samplers: determinism, exact resume, uniformity, even coverage of scientific values."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from scipy import stats

from tunebook.samplers import GridSampler, QuasiRandomSampler, RandomSampler
from tunebook.space import ChoiceDomain, Dimension, FloatDomain, IntDomain, Role, Scale, Space

SPACE = Space(
    scientific=(Dimension("act", ChoiceDomain(("relu", "tanh", "gelu")), Role.SCIENTIFIC),),
    nuisance=(Dimension("lr", FloatDomain(1e-5, 1.0, Scale.LOG)),
              Dimension("wd", FloatDomain(0.0, 0.1)),
              Dimension("depth", IntDomain(1, 8)),
              Dimension("norm", ChoiceDomain(("batch", "layer", "none")))))
COMBOS = SPACE.combos()
SAMPLERS = [QuasiRandomSampler(seed=3), RandomSampler(seed=3)]


@pytest.mark.parametrize("sampler", SAMPLERS, ids=["quasi_random", "random"])
def test_same_seed_same_trials(sampler: QuasiRandomSampler) -> None:
    first = sampler.params_at(SPACE, COMBOS, list(range(40)))
    again = type(sampler)(seed=3).params_at(SPACE, COMBOS, list(range(40)))
    other = type(sampler)(seed=4).params_at(SPACE, COMBOS, list(range(40)))
    assert first == again
    assert first != other


@pytest.mark.parametrize("sampler", SAMPLERS, ids=["quasi_random", "random"])
def test_resume_continues_the_sequence(sampler: QuasiRandomSampler) -> None:
    whole = sampler.params_at(SPACE, COMBOS, list(range(60)))
    parts = (sampler.params_at(SPACE, COMBOS, list(range(0, 17)))
             + sampler.params_at(SPACE, COMBOS, list(range(17, 41)))
             + sampler.params_at(SPACE, COMBOS, list(range(41, 60))))
    assert parts == whole
    scattered = sampler.params_at(SPACE, COMBOS, [59, 3, 30])
    assert scattered == [whole[59], whole[3], whole[30]]
    assert len({tuple(sorted(p.items())) for p in whole}) == 60  # no repeats


def test_halton_dimensions_are_uniform() -> None:
    sampler = QuasiRandomSampler(seed=11)
    points = sampler.points(dims=5, start=0, count=256)
    for dim in range(5):
        assert stats.kstest(points[:, dim], "uniform").pvalue > 0.5
    # more even than random: the KS distance of 256 Halton points is far below random's
    assert max(stats.kstest(points[:, d], "uniform").statistic for d in range(5)) < 0.03


def test_nuisance_values_follow_their_scale() -> None:
    # one scientific value: 100 distinct points (the others repeat them, paired)
    params = QuasiRandomSampler(seed=0).params_at(SPACE, COMBOS, list(range(0, 300, 3)))
    log_lr = np.log10([p["lr"] for p in params])
    assert stats.kstest((log_lr + 5) / 5, "uniform").pvalue > 0.5
    depth = Counter(p["depth"] for p in params)
    assert set(depth) == set(range(1, 9))
    assert all(abs(n - 100 / 8) <= 3 for n in depth.values())
    norm = Counter(p["norm"] for p in params)
    assert all(abs(n - 100 / 3) <= 3 for n in norm.values())


@pytest.mark.parametrize("sampler", [*SAMPLERS, GridSampler(3)],
                         ids=["quasi_random", "random", "grid"])
@pytest.mark.parametrize("budget", [7, 30, 31])
def test_every_scientific_value_gets_its_share(sampler: QuasiRandomSampler,
                                               budget: int) -> None:
    params = sampler.params_at(SPACE, COMBOS, list(range(budget)))
    counts = Counter(p["act"] for p in params)
    assert set(counts) == {"relu", "tanh", "gelu"}
    assert max(counts.values()) - min(counts.values()) <= 1


def test_values_see_the_same_nuisance_points() -> None:
    params = QuasiRandomSampler(seed=0).params_at(SPACE, COMBOS, list(range(9)))
    for j in range(3):
        rows = params[3 * j: 3 * j + 3]
        assert len({(p["lr"], p["wd"]) for p in rows}) == 1
        assert [p["act"] for p in rows] == ["relu", "tanh", "gelu"]


def test_grid_covers_every_cell_once() -> None:
    space = Space(nuisance=(Dimension("lr", FloatDomain(1e-3, 1e-1, Scale.LOG)),
                            Dimension("opt", ChoiceDomain(("sgd", "adam")))))
    grid = GridSampler(grid_points=3)
    assert grid.size(space, []) == 6
    cells = grid.params_at(space, [], list(range(10)))
    assert len(cells) == 6
    assert sorted({round(c["lr"], 6) for c in cells}) == [0.001, 0.01, 0.1]
