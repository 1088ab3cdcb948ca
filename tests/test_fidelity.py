"""The fidelity suite: constructed studies with known answers, each checked over seeds.

Every case is a :class:`tests.fidelity.World` whose right answer follows from the
playbook's definitions (an optimum outside the range, training unstable above a learning
rate, a curve still falling at the end, ...). Each runs with ``SEEDS`` sampling and noise
seeds; a verdict must be right in every seed, and the clean study must raise no alarm.
"""

from __future__ import annotations

import os

import pytest

from tests.fidelity import WIDE, World, build, doubling_truth
from tunebook.analysis.findings import Finding, Verdict
from tunebook.analysis.report import StudyReport, study_report

SEEDS = range(int(os.environ.get("TUNEBOOK_FIDELITY_SEEDS", "6")))
SPACE = "Is the search space big enough?"
SAMPLING = "Were enough points sampled?"
INFEASIBLE = "How many trials are infeasible, and where?"
STABILITY = "Are there optimisation problems?"
CURVES = "What do the best trials' curves say?"


def report(world: World, seed: int) -> StudyReport:
    return study_report(build(world, seed), "world")


def finding(r: StudyReport, question: str) -> Finding:
    return next(f for f in r.findings if f.question == question)


def alarms(r: StudyReport, *questions: str) -> list[str]:
    """Warn or fail verdicts of the named checks (all checks when none is named)."""
    asked = questions or tuple(f.question for f in r.findings)
    return [f"{f.question} {f.verdict.value}: {f.summary}" for f in r.findings
            if f.question in asked and f.verdict in (Verdict.WARN, Verdict.FAIL)]


@pytest.mark.parametrize("seed", SEEDS)
def test_a_clean_study_raises_no_alarm(seed: int) -> None:
    r = report(World(), seed)
    assert alarms(r) == []
    assert all(f.verdict is Verdict.OK for f in r.findings)
    assert r.grad_norm.warning == "" and r.conclusion.supported


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(("lr_star", "edge"), [(3.0, "upper"), (3e-5, "lower")])
def test_an_optimum_outside_the_range_asks_to_widen_that_bound(lr_star: float, edge: str,
                                                               seed: int) -> None:
    r = report(World(lr_star=lr_star), seed)
    f = finding(r, SPACE)
    assert f.verdict in (Verdict.WARN, Verdict.FAIL)
    assert f"have learning_rate at its {edge} edge" in f.summary
    assert f"Widen learning_rate's {edge} bound" in f.next_step
    assert "dropout" not in f.summary
    assert f.numbers[f"learning_rate.{edge}.p"] < 0.05


@pytest.mark.parametrize("seed", SEEDS)
def test_every_best_trial_at_the_bound_fails(seed: int) -> None:
    r = report(World(lr_star=30.0, bowl=3.0, n=80), seed)  # 8 best trials at the bound
    f = finding(r, SPACE)
    assert f.verdict is Verdict.FAIL
    assert not r.conclusion.supported


@pytest.mark.parametrize("seed", SEEDS)
def test_infeasible_high_learning_rates_are_located_far_from_the_best(seed: int) -> None:
    world = World(unstable_above=0.1)
    r = report(world, seed)
    f = finding(r, INFEASIBLE)
    infeasible = sum(t.status.value == "infeasible" for t in r.data.trials)
    assert f"{infeasible} of 40 finished trials" in f.summary
    assert f.verdict is (Verdict.WARN if infeasible > 8 else Verdict.OK)  # 20 %: warn
    assert "Infeasible trials crowd high learning_rate" in f.next_step
    stability = finding(r, STABILITY)  # the best (lr 1e-2) is far below the edge: no alarm
    assert stability.verdict is Verdict.OK
    assert "unstable above learning_rate" in stability.summary


@pytest.mark.parametrize("seed", SEEDS)
def test_a_mostly_infeasible_study_fails(seed: int) -> None:
    r = report(World(unstable_above=1e-3, lr_star=3e-4), seed)  # 75 % of the range
    assert finding(r, INFEASIBLE).verdict is Verdict.FAIL
    assert not r.conclusion.supported


@pytest.mark.parametrize("seed", SEEDS)
def test_a_best_learning_rate_at_the_edge_of_instability_is_named(seed: int) -> None:
    r = report(World(lr_star=0.3, unstable_above=0.1, unstable_kind="mixed"), seed)
    f = finding(r, STABILITY)
    assert f.verdict in (Verdict.WARN, Verdict.FAIL)
    assert "instability caps learning_rate" in f.summary
    assert 0.05 < f.numbers["boundary"] < 0.2  # the true edge is 0.1
    assert "warmup" in f.next_step and "gradient clipping" in f.next_step


@pytest.mark.parametrize("seed", SEEDS)
def test_curves_still_falling_at_the_end_say_so_with_the_gain(seed: int) -> None:
    world = World(shape="improving")
    f = finding(report(world, seed), CURVES)
    assert f.verdict is Verdict.WARN and "still improve at the end" in f.summary
    truth = 0.3 * (1 - 2 ** -0.5)  # the power law's gain from 2x steps
    assert truth / 2 < f.numbers["(all).gain_2x_steps"] < truth * 2
    assert "compute-bound" in f.next_step
    assert "overfit" not in f.summary and "final val_loss by step" not in f.summary


@pytest.mark.parametrize("seed", SEEDS)
def test_an_early_plateau_says_fewer_steps_would_do(seed: int) -> None:
    f = finding(report(World(shape="early"), seed), CURVES)
    assert f.verdict is Verdict.WARN
    assert f.numbers["(all).plateau_step"] <= 400  # within 2 sigma by ~step 250
    assert "Fewer steps" in f.next_step
    assert "still improve" not in f.summary and "overfit" not in f.summary


@pytest.mark.parametrize("seed", SEEDS)
def test_overfitting_is_named_with_its_size(seed: int) -> None:
    f = finding(report(World(shape="overfit"), seed), CURVES)
    assert f.verdict is Verdict.WARN and "overfit" in f.summary
    assert 0.07 < f.numbers["(all).overfit_by"] < 0.2  # the curve ends ~0.14 above its best
    assert "still improve" not in f.summary


@pytest.mark.parametrize("seed", SEEDS)
def test_a_flat_noisy_curve_is_not_read_as_a_trend(seed: int) -> None:
    f = finding(report(World(shape="flat", sigma=0.05), seed), CURVES)
    assert "overfit" not in f.summary and "still improve" not in f.summary
    assert "final val_loss by step 50 " in f.summary  # flat from the first evaluation


@pytest.mark.parametrize("seed", SEEDS)
def test_too_few_trials_ask_for_a_budget_above_the_current_one(seed: int) -> None:
    r = report(World(n=8, nuisance=WIDE), seed)
    f = finding(r, SAMPLING)
    assert f.verdict is Verdict.WARN
    assert "want ≥ 15 for 3 nuisance dims" in f.summary
    assert "Raise the budget to at least 15 trials" in f.next_step


@pytest.mark.parametrize("seed", SEEDS)
def test_a_sharp_optimum_asks_for_more_trials_and_a_broad_one_does_not(seed: int) -> None:
    sharp, broad = World(needle=0.3, sigma=0.003), World()
    assert doubling_truth(sharp, 40) > 10 * sharp.sigma  # the truth, by simulation
    assert doubling_truth(broad, 40) < broad.sigma
    f = finding(report(sharp, seed), SAMPLING)
    assert f.verdict is Verdict.WARN and "Run more trials" in f.next_step
    assert "doubling to ~80 completed trials" in f.next_step
    assert finding(report(broad, seed), SAMPLING).verdict is Verdict.OK


@pytest.mark.parametrize("seed", SEEDS)
def test_late_loss_spikes_in_every_best_trial_fail(seed: int) -> None:
    f = finding(report(World(spikes_everywhere=True), seed), STABILITY)
    assert f.verdict is Verdict.FAIL and "4 of the 4 best trials are unstable" in f.summary


@pytest.mark.parametrize("seed", SEEDS)
def test_early_instability_that_recovers_asks_for_warmup(seed: int) -> None:
    f = finding(report(World(early_spike=True), seed), STABILITY)
    assert f.verdict is Verdict.WARN and "early instability that recovers" in f.summary
    assert "warmup" in f.next_step and "are unstable" not in f.summary


def test_the_clip_threshold_is_steady_across_seeds() -> None:
    world = World()
    truth = world.norm_median * 2.718281828 ** (1.2816 * world.norm_sigma)  # lognormal p90
    thresholds = []
    for seed in SEEDS:
        g = report(world, seed).grad_norm
        assert g.threshold is not None and g.would_clip is not None
        assert abs(g.threshold / truth - 1) < 0.15  # 400 pooled norms: p90's sd is ~4 %
        assert 0.02 < g.would_clip[0] <= g.would_clip[1] < 0.25 and g.warning == ""
        thresholds.append(g.threshold)
    assert max(thresholds) / min(thresholds) < 1.25


@pytest.mark.parametrize("seed", SEEDS)
def test_clipping_most_steps_is_called_a_learning_rate_cut(seed: int) -> None:
    g = report(World(clipped=0.7), seed).grad_norm
    assert g.clipped_share is not None and g.clipped_share > 0.5
    assert "lower the learning rate" in g.warning


@pytest.mark.parametrize("seed", SEEDS)
def test_a_real_scientific_difference_is_concluded(seed: int) -> None:
    r = report(World(act_gap=0.2), seed)
    assert r.conclusion.supported and r.conclusion.text.startswith("act=gelu is best")
    assert "the spread of the top trials" in r.conclusion.text
    assert alarms(r) == []


@pytest.mark.parametrize("seed", SEEDS)
def test_a_tie_judged_by_seed_reruns_is_not_concluded(seed: int) -> None:
    r = report(World(act_gap=0.0, reruns=3), seed)
    assert not r.conclusion.supported
    assert "spread over seeds" in r.conclusion.text
    assert {row.spread_source for row in r.isolation} == {"seeds"}
    assert "seed-to-seed noise" in finding(r, SAMPLING).summary


def test_the_statistics_agree_with_scipy_at_any_size() -> None:
    import random

    from scipy.stats import binom, spearmanr

    from tunebook.analysis.stats import binomial_tail, rank_trend

    for hits, n, p in ((3, 3, 0.1), (0, 5, 0.2), (2, 4, 0.1), (700, 10_000, 0.06)):
        assert binomial_tail(hits, n, p) == pytest.approx(binom.sf(hits - 1, n, p), rel=1e-9)
    rng = random.Random(0)
    for n in (5, 12, 60):
        x = [rng.choice([0.1, 0.2, rng.random()]) for _ in range(n)]
        y = [v + rng.gauss(0, 0.3) for v in x]
        assert rank_trend(x, y) == pytest.approx(
            spearmanr(x, y, alternative="greater").pvalue, abs=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_importance_names_the_parameter_that_matters(seed: int) -> None:
    rows = {r.key: r for r in report(World(), seed).importance.rows}
    assert set(rows) == {"learning_rate", "dropout"}
    assert rows["learning_rate"].low > 0.3  # the bowl over 4 decades: most of the variance
    assert rows["dropout"].median < 0.1 * rows["learning_rate"].median
