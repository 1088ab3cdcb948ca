"""Bayesian optimisation: determinism, feasibility, pending trials, conditionals, warm start."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import QUADRATIC, write_study
from tunebook import SpecError, TrialStatus, load_spec, open_store, run_study
from tunebook.records import Objective, TrialRecord
from tunebook.samplers import Ask, QuasiRandomSampler
from tunebook.samplers.bayes import BayesSampler, start_size
from tunebook.space import (
    ChoiceDomain,
    Dimension,
    FloatDomain,
    IntDomain,
    Params,
    Role,
    Scale,
    Space,
)

SPACE = Space(nuisance=(Dimension("lr", FloatDomain(1e-4, 1.0, Scale.LOG)),
                        Dimension("wd", FloatDomain(0.0, 0.1)),
                        Dimension("act", ChoiceDomain(("relu", "tanh")))))
MIN = Objective("loss")

Outcome = tuple[TrialStatus, float | None]


def bowl(params: Params) -> Outcome:
    """Best at lr = 1e-2, wd = 0.03, tanh; every lr above 0.1 diverges."""
    lr = float(params["lr"])
    if lr > 0.1:
        return TrialStatus.INFEASIBLE, None
    loss = (math.log10(lr) + 2) ** 2 + 30 * (float(params["wd"]) - 0.03) ** 2
    return TrialStatus.COMPLETED, loss + (0.0 if params["act"] == "tanh" else 0.3)


def _record(index: int, params: Params, outcome: Outcome) -> TrialRecord:
    status, value = outcome
    return TrialRecord(id=index + 1, study_id=1, index=index, params=params, seed=index,
                       status=status, value=value)


def _run(sampler: Callable[[Ask], Params], trials: int, space: Space = SPACE,
         objective: Callable[[Params], Outcome] = bowl) -> list[TrialRecord]:
    history: list[TrialRecord] = []
    for index in range(trials):
        params = sampler(Ask(space, space.combos(), index, MIN, history=list(history)))
        history.append(_record(index, params, objective(params)))
    return history


def test_same_seed_and_history_give_the_same_suggestion() -> None:
    history = _run(BayesSampler(seed=1).suggest, 12)
    ask = Ask(SPACE, [], 12, MIN, history=history)
    assert BayesSampler(seed=1).suggest(ask) == BayesSampler(seed=1).suggest(ask)
    assert BayesSampler(seed=1).suggest(ask) != BayesSampler(seed=2).suggest(ask)


def test_the_start_is_the_quasi_random_sequence() -> None:
    start = _run(BayesSampler(seed=4).suggest, start_size(SPACE))
    expected = QuasiRandomSampler(seed=4).params_at(SPACE, [], range(start_size(SPACE)))
    assert [t.params for t in start] == expected


def _infeasible_shares(objective: Callable[[Params], Outcome], seeds: int = 6) -> list[float]:
    """Share of infeasible trials after the quasi-random start, per seed (40 trials)."""
    shares = []
    for seed in range(seeds):
        after = _run(BayesSampler(seed=seed).suggest, 40, objective=objective)[
            start_size(SPACE):]
        shares.append(sum(t.status is TrialStatus.INFEASIBLE for t in after) / len(after))
    return shares


def test_it_learns_where_training_fails() -> None:
    shares = _infeasible_shares(bowl)  # the diverging quarter, with the best at its edge
    assert np.mean(shares) < 0.10 and max(shares) < 0.15, shares


def test_it_beats_quasi_random_search_at_equal_trials() -> None:
    def best(trials: list[TrialRecord]) -> float:
        return min(t.value for t in trials if t.value is not None)

    bo = [best(_run(BayesSampler(seed=s).suggest, 30)) for s in range(4)]
    qr = [best(_run(lambda a, s=s: QuasiRandomSampler(seed=s).suggest(a), 30))
          for s in range(4)]
    assert np.mean(bo) < 0.5 * np.mean(qr)


@pytest.mark.parametrize("seed", range(4))
def test_concurrent_suggestions_do_not_collapse(seed: int) -> None:
    history = _run(BayesSampler(seed=seed).suggest, 16)
    pending: list[TrialRecord] = []
    for index in range(16, 20):  # four workers ask before any of these finishes
        params = BayesSampler(seed=seed).suggest(Ask(SPACE, [], index, MIN, history=history,
                                                  pending=list(pending)))
        pending.append(_record(index, params, (TrialStatus.RUNNING, None)))
    units = np.array([[*(SPACE.unit_from_params({k: v for k, v in t.params.items()
                                                 if k != "act"})[k] for k in ("lr", "wd")),
                       float(t.params["act"] == "tanh")] for t in pending])
    gaps = [np.linalg.norm(units[i] - units[j]) for i in range(4) for j in range(i)]
    assert min(gaps) > 0.01


CONDITIONAL = Space(
    scientific=(Dimension("opt", ChoiceDomain(("sgd", "adam")), Role.SCIENTIFIC),),
    nuisance=(Dimension("lr", FloatDomain(1e-4, 1.0, Scale.LOG)),
              Dimension("beta1", FloatDomain(0.5, 0.99), condition=("opt", "adam")),
              Dimension("momentum", FloatDomain(0.0, 0.99), condition=("opt", "sgd"))))


def test_conditional_parameters_only_under_their_parent_value() -> None:
    def objective(params: Params) -> Outcome:
        extra = float(params.get("beta1[opt=adam]", params.get("momentum[opt=sgd]", 0.0)))
        return TrialStatus.COMPLETED, (math.log10(float(params["lr"])) + 2) ** 2 + extra

    trials = _run(BayesSampler(seed=0).suggest, 24, CONDITIONAL, objective)
    for t in trials:
        other = "momentum[opt=sgd]" if t.params["opt"] == "adam" else "beta1[opt=adam]"
        mine = "beta1[opt=adam]" if t.params["opt"] == "adam" else "momentum[opt=sgd]"
        assert mine in t.params and other not in t.params
    assert [t.params["opt"] for t in trials[:4]] == ["sgd", "adam", "sgd", "adam"]  # shares


def test_warm_start_skips_the_random_start() -> None:
    exploration = _run(lambda a: QuasiRandomSampler(seed=9).suggest(a), 20)
    ask = Ask(SPACE, [], 0, MIN, warm=exploration)
    first = BayesSampler(seed=0).suggest(ask)
    assert first != QuasiRandomSampler(seed=0).params_at(SPACE, [], [0])[0]
    assert bowl(first)[0] is TrialStatus.COMPLETED
    assert abs(math.log10(float(first["lr"])) + 2) < 1.0  # near the good region already


def test_bad_bayes_specs_name_the_field(tmp_path: Path, db_path: str) -> None:
    with pytest.raises(SpecError, match=r"sampler\.type: bayes optimises"):
        load_spec(write_study(tmp_path, QUADRATIC, nuisance={}, sampler="bayes",
                              fixed={"lr": 0.1}))
    with pytest.raises(SpecError, match="warm_start needs type: bayes"):
        load_spec(write_study(tmp_path, QUADRATIC, sampler={"warm_start": "x"}))
    store = open_store(db_path)
    missing = load_spec(write_study(tmp_path, QUADRATIC, name="b",
                                    sampler={"type": "bayes", "warm_start": "nope"}))
    with pytest.raises(SpecError, match=r"sampler\.warm_start: no study named 'nope'"):
        run_study(missing, store)
    run_study(load_spec(write_study(tmp_path, QUADRATIC, name="explore", budget=2)), store)
    other = load_spec(write_study(tmp_path, QUADRATIC, name="c",
                                  nuisance={"lr": {"low": 1e-3, "high": 1.0}},
                                  sampler={"type": "bayes", "warm_start": "explore"}))
    with pytest.raises(SpecError, match="different nuisance space"):
        run_study(other, store)
    assert store.find_study("b") is None and store.find_study("c") is None


def test_a_bayes_study_runs_end_to_end_with_a_warm_start(tmp_path: Path, db_path: str) -> None:
    store = open_store(db_path)
    run_study(load_spec(write_study(tmp_path, QUADRATIC, name="explore", budget=10)), store,
              workers=2)
    spec = load_spec(write_study(tmp_path, QUADRATIC, name="exploit", budget=6,
                                 sampler={"type": "bayes", "warm_start": "explore"}))
    result = run_study(spec, store, workers=2)
    assert result.counts[TrialStatus.COMPLETED] == 6
    explore_best = store.best_value([store.get_study("explore").id], "minimize")
    assert result.best is not None and explore_best is not None
    assert result.best <= explore_best + 0.05  # it starts from what exploration learned


def half_infeasible(params: Params) -> Outcome:
    """Every learning rate in the upper half of the (log) range diverges; the best one is
    a decade below that edge."""
    lr = float(params["lr"])
    if lr > 1e-2:
        return TrialStatus.INFEASIBLE, None
    loss = (math.log10(lr) + 3) ** 2 + 30 * (float(params["wd"]) - 0.03) ** 2
    return TrialStatus.COMPLETED, loss + (0.0 if params["act"] == "tanh" else 0.3)


def test_it_stays_out_of_an_infeasible_half() -> None:
    shares = _infeasible_shares(half_infeasible)
    assert np.mean(shares) < 0.10 and max(shares) < 0.15, shares


def test_a_narrowed_space_warm_starts_from_the_trials_inside_it(tmp_path: Path,
                                                                 db_path: str) -> None:
    from tunebook.runner.suggest import warm_trials

    store = open_store(db_path)
    run_study(load_spec(write_study(tmp_path, QUADRATIC, name="explore", budget=12)), store,
              workers=2)
    narrowed = load_spec(write_study(tmp_path, QUADRATIC, name="cut", budget=4,
                                     nuisance={"lr": {"low": 1e-3, "high": 0.1,
                                                      "scale": "log"}},
                                     sampler={"type": "bayes", "warm_start": "explore"}))
    inside = [t for t in store.trials([store.get_study("explore").id])
              if 1e-3 <= t.params["lr"] <= 0.1]
    warm = warm_trials(store, narrowed)
    assert 0 < len(warm) < 12 and {t.id for t in warm} == {t.id for t in inside}
    assert run_study(narrowed, store).counts[TrialStatus.COMPLETED] == 4
    wider = load_spec(write_study(tmp_path, QUADRATIC, name="wide", budget=2,
                                  nuisance={"lr": {"low": 1e-5, "high": 10.0, "scale": "log"}},
                                  sampler={"type": "bayes", "warm_start": ["explore", "cut"]}))
    warm = warm_trials(store, wider)  # a widened space learns from every trial inside it
    assert len(warm) == 16 and {t.study_id for t in warm} == {
        store.get_study("explore").id, store.get_study("cut").id}
    assert run_study(wider, store).counts[TrialStatus.COMPLETED] == 2
    linear = load_spec(write_study(tmp_path, QUADRATIC, name="linear", budget=2,
                                   nuisance={"lr": {"low": 1e-5, "high": 1.0}},
                                   sampler={"type": "bayes", "warm_start": ["cut"]}))
    with pytest.raises(SpecError, match="on the same scales"):
        run_study(linear, store)  # a log axis read as a linear one would mislead the model


def _best(trials: list[TrialRecord]) -> float:
    return min(t.value for t in trials if t.value is not None)


def _quasi(seed: int) -> Callable[[Ask], Params]:
    return lambda a: QuasiRandomSampler(seed=seed).suggest(a)


FLAT_OPTIMIZER = Space(nuisance=(Dimension("opt", ChoiceDomain(("sgd", "adam"))),
                                 Dimension("lr", FloatDomain(1e-4, 1.0, Scale.LOG)),
                                 Dimension("momentum", FloatDomain(0.0, 1.0)),
                                 Dimension("beta1", FloatDomain(0.0, 1.0))))


def optimizer_choice(params: Params) -> Outcome:
    """Adam is better; momentum matters only under SGD, beta1 only under Adam (a flat space
    samples both whatever the optimizer, as a study file without conditionals does)."""
    lr = math.log10(float(params["lr"]))
    if params["opt"] == "sgd":
        return TrialStatus.COMPLETED, 1.0 + (lr + 2) ** 2 + 4 * (params["momentum"] - 0.9) ** 2
    return TrialStatus.COMPLETED, (lr + 3) ** 2 + 4 * (params["beta1"] - 0.8) ** 2


def test_it_learns_the_better_category_and_tunes_what_matters_there() -> None:
    late: list[TrialRecord] = []
    for seed in range(4):
        trials = _run(BayesSampler(seed=seed).suggest, 36, FLAT_OPTIMIZER, optimizer_choice)
        late += trials[20:]
        best = min(trials, key=lambda t: t.value or 0.0)
        assert best.params["opt"] == "adam" and abs(best.params["beta1"] - 0.8) < 0.15
    adam = [t for t in late if t.params["opt"] == "adam"]
    assert len(adam) > 0.7 * len(late)
    # beta1 is tuned where it matters (uniform draws would sit 0.34 from 0.8 on average)
    assert np.mean([abs(t.params["beta1"] - 0.8) for t in adam]) < 0.15


INT_SPACE = Space(nuisance=(Dimension("width", IntDomain(1, 64)),
                            Dimension("lr", FloatDomain(1e-4, 1.0, Scale.LOG))))


def width_bowl(params: Params) -> Outcome:
    return TrialStatus.COMPLETED, ((params["width"] - 17) / 8) ** 2 + (
        math.log10(float(params["lr"])) + 2) ** 2


def test_an_integer_dimension_gets_integers_and_its_optimum() -> None:
    runs = [_run(BayesSampler(seed=s).suggest, 25, INT_SPACE, width_bowl) for s in range(4)]
    widths = [t.params["width"] for run in runs for t in run]
    assert all(isinstance(w, int) and 1 <= w <= 64 for w in widths)
    near = [abs(min(run, key=lambda t: t.value or 0.0).params["width"] - 17) <= 3
            for run in runs]
    assert sum(near) >= 3, near
    quasi = [_best(_run(_quasi(s), 25, INT_SPACE, width_bowl)) for s in range(4)]
    assert np.mean([_best(r) for r in runs]) < 0.5 * np.mean(quasi)


TEN = Space(nuisance=tuple(Dimension(f"x{i}", FloatDomain(0.0, 1.0)) for i in range(10)))


def ten_dims(params: Params) -> Outcome:
    """Three inputs matter a lot, the other seven a little."""
    x = np.array([params[f"x{i}"] for i in range(10)])
    return TrialStatus.COMPLETED, float(np.sum((x[:3] - 0.3) ** 2)
                                        + 0.05 * np.sum((x[3:] - 0.6) ** 2))


def test_ten_dimensions_beat_quasi_random_at_equal_trials() -> None:
    bo = [_best(_run(BayesSampler(seed=s).suggest, 36, TEN, ten_dims)) for s in range(4)]
    qr = [_best(_run(_quasi(s), 36, TEN, ten_dims)) for s in range(4)]
    assert np.mean(bo) < 0.6 * np.mean(qr), (bo, qr)
    assert sum(b < q for b, q in zip(bo, qr, strict=True)) >= 3
