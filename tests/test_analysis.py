"""Checklist verdicts on studies built to trigger them, and not to; isolation values."""

from __future__ import annotations

import math
import random

import pytest

from tests.synthetic import Fake, make_study, smooth
from tunebook import MemoryStore, TrialStatus
from tunebook.analysis import checklist, stability
from tunebook.analysis.checklist import Verdict
from tunebook.analysis.curvecheck import curves_say, read_all
from tunebook.analysis.curves import best_curves
from tunebook.analysis.data import downsample, load_study
from tunebook.analysis.gradnorm import advise
from tunebook.analysis.isolation import isolation
from tunebook.analysis.report import study_report
from tunebook.analysis.sampling import sampling

LR = {"learning_rate": {"low": 1e-4, "high": 1.0, "scale": "log"},
      "dropout": {"low": 0.0, "high": 0.5}}


def _bowl(center: float, n: int = 30, seed: int = 0) -> list[Fake]:
    """Trials whose loss is lowest at learning_rate = ``center`` (log distance)."""
    rng = random.Random(seed)
    fakes = []
    for _ in range(n):
        lr = 10 ** rng.uniform(-4, 0)
        value = (math.log10(lr) - math.log10(center)) ** 2 + 0.1
        fakes.append(Fake({"learning_rate": lr, "dropout": rng.uniform(0.05, 0.45)}, value))
    return fakes


def test_best_at_the_edge_asks_to_widen_that_bound() -> None:
    store = MemoryStore()
    make_study(store, "edge", _bowl(center=3.0), nuisance=LR)
    finding = checklist.search_space(load_study(store, "edge"))
    assert finding.verdict is Verdict.FAIL  # 3 of the 3 best: p = 0.001 by chance
    assert "3 of the 3 best trials have learning_rate at its upper edge" in finding.summary
    assert finding.next_step.startswith("Widen learning_rate's upper bound from 1 to ~3")


def test_best_in_the_middle_is_fine() -> None:
    store = MemoryStore()
    make_study(store, "middle", _bowl(center=1e-2), nuisance=LR)
    assert checklist.search_space(load_study(store, "middle")).verdict is Verdict.OK


def _with_infeasible(share: float, n: int = 40) -> list[Fake]:
    fakes = _bowl(center=1e-2, n=n)
    ranked = sorted(fakes, key=lambda f: -f.params["learning_rate"])
    for fake in ranked[: round(share * n)]:
        fake.status, fake.value, fake.reason = TrialStatus.INFEASIBLE, None, "diverged"
    return fakes


def test_sixty_percent_infeasible_at_high_lr_fails_with_a_fix() -> None:
    store = MemoryStore()
    make_study(store, "bad", _with_infeasible(0.6), nuisance=LR)
    finding = checklist.infeasible(load_study(store, "bad"))
    assert finding.verdict is Verdict.FAIL and "(60%)" in finding.summary
    assert "Infeasible trials crowd high learning_rate" in finding.next_step
    assert "or add warmup" in finding.next_step


def test_five_percent_infeasible_is_fine() -> None:
    store = MemoryStore()
    make_study(store, "good", _with_infeasible(0.05), nuisance=LR)
    assert checklist.infeasible(load_study(store, "good")).verdict is Verdict.OK


def _curved(train: list[tuple[int, float]], val: list[tuple[int, float]]) -> list[Fake]:
    fakes = _bowl(center=1e-2, n=12)
    for f in fakes:
        f.curves = {"train_loss": train, "val_loss": val}
    return fakes


def test_diverging_curve_is_an_optimisation_problem() -> None:
    store = MemoryStore()
    train = smooth(2.0, 0.2)
    train[15] = (train[15][0], 5.0)  # a late spike
    make_study(store, "spiky", _curved(train, smooth(2.0, 0.3)), nuisance=LR)
    data = load_study(store, "spiky")
    finding = stability.optimisation(data, best_curves(store, data), stability.scan(store, data))
    assert finding.verdict is Verdict.FAIL  # every one of the best trials spikes
    assert "3 of the 3 best trials are unstable" in finding.summary
    assert "loss spike at step 800" in finding.summary


def _settles(start: float, end: float) -> list[tuple[int, float]]:
    """Falls steadily for 12 of 20 evaluations, then stays flat: converged in budget."""
    return [(50 * (i + 1), start - (start - end) * min(i, 11) / 11) for i in range(20)]


def test_smooth_curves_are_stable_and_converged() -> None:
    store = MemoryStore()
    make_study(store, "calm", _curved(_settles(2.0, 0.2), _settles(2.0, 0.3)), nuisance=LR)
    data = load_study(store, "calm")
    curves = best_curves(store, data)
    assert stability.optimisation(data, curves, stability.scan(store, data)).verdict is (
        Verdict.OK)
    assert curves_say(data, read_all(data, curves)).verdict is Verdict.OK


def test_overfitting_is_named() -> None:
    store = MemoryStore()
    val = smooth(2.0, 0.3, steps=10) + [(550 + 50 * i, 0.35 + 0.1 * i) for i in range(6)]
    make_study(store, "overfit", _curved(smooth(2.0, 0.1, steps=16), val), nuisance=LR)
    data = load_study(store, "overfit")
    finding = curves_say(data, read_all(data, best_curves(store, data)))
    assert finding.verdict is Verdict.WARN and "3 of the 3 best trials overfit" in (
        finding.summary)


def test_still_improving_at_the_end_is_named() -> None:
    store = MemoryStore()
    line = [(50 * i, 2.0 - 0.1 * i) for i in range(1, 16)]
    make_study(store, "longer", _curved(line, line), nuisance=LR)
    data = load_study(store, "longer")
    finding = curves_say(data, read_all(data, best_curves(store, data)))
    assert "3 of the 3 best trials still improve at the end" in finding.summary
    assert "compute-bound" in finding.next_step


def test_isolation_equals_a_direct_computation() -> None:
    store = MemoryStore()
    rng = random.Random(4)
    fakes = [Fake({"act": act, "learning_rate": 10 ** rng.uniform(-4, 0)}, rng.random())
             for act in ("relu", "tanh", "gelu") for _ in range(7)]
    fakes[3].status, fakes[3].value = TrialStatus.INFEASIBLE, None
    make_study(store, "iso", fakes, scientific={"act": ["relu", "tanh", "gelu"]})
    rows = isolation(load_study(store, "iso"))
    for row in rows:
        values = sorted(f.value for f in fakes if f.params["act"] == row.combo["act"]
                        and f.value is not None)
        assert row.best is not None and row.best.value == values[0]
        assert row.top_values == tuple(values[:3]) and row.spread == values[2] - values[0]
    assert [r.combo["act"] for r in rows] == ["relu", "tanh", "gelu"]
    assert rows[0].infeasible == 1 and rows[0].completed == 6


def test_sampling_counts_per_value() -> None:
    store = MemoryStore()
    make_study(store, "few", _bowl(1e-2, n=6), nuisance=LR)
    assert sampling(load_study(store, "few"), None).verdict is Verdict.WARN
    store2 = store  # a second study beside the first
    make_study(store2, "many", _bowl(1e-2, n=60, seed=3), nuisance=LR)
    finding = sampling(load_study(store2, "many"), None)
    assert "60 completed (want ≥ 10" in finding.summary


def test_clipping_advice() -> None:
    values = [float(v) for v in range(1, 101)]
    data = advise([], values, [1.0] * 70 + [0.0] * 30)
    assert data.threshold == pytest.approx(90.1)
    assert "~90.1" in data.advice and "70% of steps were clipped" in data.warning
    assert advise([], values, [0.0] * 100).warning == ""
    assert advise([], [], []).threshold is None


def test_downsampling_keeps_extremes() -> None:
    series = [(i, math.sin(i / 50)) for i in range(10_000)]
    series[5_000] = (5_000, 9.0)
    series[7_000] = (7_000, float("nan"))
    small = downsample(series, 200)
    assert len(small) <= 220 and (5_000, 9.0) in small
    assert any(s == 7_000 for s, _ in small) and small[0] == series[0] and small[-1] == series[-1]


@pytest.mark.parametrize("case", ["empty", "infeasible-only", "single", "no-metrics"])
def test_degenerate_studies_still_report(case: str) -> None:
    store = MemoryStore()
    trials = {
        "empty": [],
        "infeasible-only": [Fake({"learning_rate": 0.5}, None, TrialStatus.INFEASIBLE)] * 3,
        "single": [Fake({"learning_rate": 0.01}, 0.3, curves={"val_loss": smooth(1, 0.3)})],
        "no-metrics": _bowl(1e-2, n=5),
    }[case]
    make_study(store, case, trials, nuisance=LR)
    report = study_report(store, case)
    assert report.conclusion.text and len(report.findings) == 6
    if case in ("empty", "infeasible-only"):
        assert not report.conclusion.supported
        assert {"empty": "no trial has finished",  # nothing to look at yet
                "infeasible-only": "no trial completed. Look at the failures"}[case] in (
            report.conclusion.text)
    if case != "single":  # no curves: the curve questions say they cannot be answered
        verdicts = {f.question: f.verdict for f in report.findings}
        assert verdicts["Are there optimisation problems?"] is Verdict.UNKNOWN
