"""The loop's own advice, measured: ``next``'s decisions on constructed studies over seeds.

Each world of :mod:`tests.fidelity` has a known right answer for the next study. The
thresholds of :mod:`tunebook.analysis.effects` were chosen on seeds 0-9; these tests use
the held-out seeds 10-14. A harmful change (fixing a parameter that matters, widening into
an infeasible region, cutting a range that holds the optimum, training longer when the
curves have converged) must never be made; a right one in at least 4 of 5 seeds. The real
CLI over more seeds and the sweeps: ``python -m benchmarks.advice`` (docs/advice.md).
"""

from __future__ import annotations

from collections import Counter

import pytest

from tests.fidelity import STEPS, WIDE, World, build
from tunebook.analysis.nextstudy import Plan, plan_next
from tunebook.analysis.report import study_report

SEEDS = range(10, 15)


def plans(world: World) -> list[Plan]:
    out = []
    for seed in SEEDS:
        report = study_report(build(world, seed, max_steps=STEPS), "world")
        out.append(plan_next(report.data, report.findings, report.noise))
    return out


def made(plan: Plan) -> set[tuple[str, str, str]]:
    return {(c.kind.value, c.target.name if c.target else "", c.edge or "")
            for c in plan.changes}


def tally(found: list[Plan]) -> Counter[tuple[str, str, str]]:
    return Counter(change for plan in found for change in made(plan))


def test_an_inert_parameter_is_fixed_and_one_with_a_small_real_effect_never_is() -> None:
    # weight_decay does nothing; dropout moves the objective by ~0.018, ~2x the noise
    found = plans(World(nuisance=WIDE, n=100))
    counts = tally(found)
    assert counts["fix", "weight_decay", ""] >= 4
    assert counts["fix", "dropout", ""] == 0 and counts["fix", "learning_rate", ""] == 0
    fixes = [c for plan in found for c in plan.changes if c.kind.value == "fix"]
    for change in fixes:  # the reason states the statistic that supports it
        assert change.statistic["upper"] < change.statistic["noise"]
        assert "below the noise" in change.reason and "median of the top trials" in change.reason
        assert 1e-6 <= change.value <= 1e-2


def test_too_few_trials_hold_the_fix_back_and_say_what_would_settle_it() -> None:
    found = plans(World(nuisance=WIDE, n=40))
    assert tally(found)["fix", "dropout", ""] == 0
    held = [h for plan in found for h in plan.held if h.kind.value == "fix"]
    for h in held:
        assert h.statistic["upper"] >= h.statistic["noise"] > h.statistic["effect"]
        assert "kept searched" in h.reason


def test_an_optimum_beyond_the_bound_widens_it_and_never_cuts_it() -> None:
    counts = tally(plans(World(lr_star=3.0, n=40)))
    assert counts["widen", "learning_rate", "high"] == len(SEEDS)
    assert counts["cut", "learning_rate", "high"] == 0


def test_an_infeasible_edge_is_cut_above_the_optimum_and_never_widened() -> None:
    world = World(unstable_above=0.1, lr_star=1e-2, n=40)
    found = plans(world)
    counts = tally(found)
    assert counts["cut", "learning_rate", "high"] == len(SEEDS)
    assert counts["widen", "learning_rate", "high"] == 0
    cuts = [c.value for p in found for c in p.changes if c.kind.value == "cut"]
    assert all(world.lr_star < bound for bound in cuts)  # the optimum stays in range


def test_curves_still_improving_train_longer_and_converged_ones_do_not() -> None:
    assert tally(plans(World(shape="improving", n=40)))["steps", "", ""] >= 4
    assert tally(plans(World(shape="early", n=40)))["steps", "", ""] == 0
    assert tally(plans(World(n=40)))["steps", "", ""] == 0


def test_a_clean_study_switches_to_bayes_and_changes_nothing_else() -> None:
    found = plans(World(n=40))
    for plan in found:
        assert made(plan) <= {("sampler", "", ""), ("fix", "weight_decay", "")}
    assert tally(found)["sampler", "", ""] == len(SEEDS)


@pytest.mark.parametrize("world", [World(lr_star=3.0, n=40), World(shape="improving", n=40)])
def test_no_sampler_switch_while_a_check_asks_for_more(world: World) -> None:
    for plan in plans(world):
        if any(k != "sampler" and k != "fix" for k, _, _ in made(plan)):
            assert ("sampler", "", "") not in made(plan)


def _noisy(blip_at: tuple[int, ...]) -> list[tuple[int, float]]:
    """A converged, noisy training loss (one reading per 10 steps), up 20x at ``blip_at``."""
    import random

    rng = random.Random(0)
    out = []
    for i in range(1, 41):
        value = 0.05 + 2.0 * 0.8 ** i + abs(rng.gauss(0, 0.01))
        out.append((10 * i, value * (20 if i in blip_at else 1)))
    return out


def test_one_bad_reading_of_a_noisy_loss_is_not_instability_and_a_burst_is() -> None:
    from tunebook.analysis.stability import unstable

    assert unstable({"train_loss": _noisy((30,))}) == ""
    assert unstable({"train_loss": _noisy((30, 31))}).startswith("loss spike at step")
    assert unstable({"train_loss": _noisy((26, 34))}).startswith("loss spike at step")
