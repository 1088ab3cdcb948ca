"""tunebook rerun: the best configurations again with new seeds, in a child study."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import tunebook_cli, write_study
from tunebook import SpecError, TrialStatus, load_spec, open_store, run_study
from tunebook.analysis.data import StudyData, load_study
from tunebook.analysis.isolation import best_config, isolation
from tunebook.analysis.report import study_report
from tunebook.analysis.summary import conclude, margin
from tunebook.records import TrialRecord
from tunebook.workflows import rerun_study

NOISY = """
    import math, random
    import tunebook

    def main(t):
        rng = random.Random(t.seed)
        lr, act = t.params["lr"], t.params["act"]
        base = (math.log10(lr) + 2) ** 2 + (0.0 if act == "gelu" else 0.3)
        for step in range(1, 4):
            t.report(step, loss=base + 1.0 / step + rng.gauss(0, 0.01))
"""


def _parent(tmp_path: Path, db: str) -> None:
    spec = load_spec(write_study(tmp_path / "p", NOISY, scientific={"act": ["relu", "gelu"]},
                                 budget=12))
    run_study(spec, open_store(db), workers=2)


def test_rerun_trains_each_values_best_config_with_new_seeds(tmp_path: Path,
                                                             db_path: str) -> None:
    _parent(tmp_path, db_path)
    store = open_store(db_path)
    parent = store.get_study("toy")
    made = rerun_study(store, "toy", top=1, seeds=3)
    run_study(made.spec, store, workers=2)
    child = store.get_study("toy-seeds")
    assert child.parent_id == parent.id and child.round == 2
    trials = store.trials([child.id])
    assert len(trials) == 6 and {t.status for t in trials} == {TrialStatus.COMPLETED}
    parent_trials = store.trials([parent.id], TrialStatus.COMPLETED)
    for act in ("relu", "gelu"):
        best = min((t for t in parent_trials if t.params["act"] == act),
                   key=lambda t: t.value or 0.0)
        mine = [t for t in trials if t.params["act"] == act]
        assert [t.params for t in mine] == [best.params] * 3
    seeds = [t.seed for t in trials]
    assert len(set(seeds)) == 6 and not set(seeds) & {t.seed for t in parent_trials}
    rows = isolation(load_study(store, "toy-seeds"))
    assert {r.spread_source for r in rows} == {"seeds"} and all(len(r.seed_values) == 3
                                                                for r in rows)
    again = rerun_study(store, "toy", top=1, seeds=3)  # the same child: nothing duplicated
    run_study(again.spec, store)
    assert len(store.trials([child.id])) == 6


def test_more_seeds_extend_the_seeds_study_with_the_same_configurations(
        tmp_path: Path, db_path: str) -> None:
    _parent(tmp_path, db_path)
    store = open_store(db_path)
    run_study(rerun_study(store, "toy", seeds=3).spec, store, workers=2)
    child = store.get_study("toy-seeds")
    before = {t.id: (t.params, t.seed, t.value) for t in store.trials([child.id])}
    out = tunebook_cli("rerun", "toy", "--seeds", "5", "--db", db_path, "--no-progress",
                       cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "× 5 seeds as toy-seeds (4 new training(s))" in out.stdout
    trials = store.trials([child.id])
    assert len(trials) == 10 and {t.status for t in trials} == {TrialStatus.COMPLETED}
    assert {t.id: (t.params, t.seed, t.value) for t in trials if t.id in before} == before
    configs = [t.params for t in trials]
    assert sorted(configs.count(c) for c in {repr(c): c for c in configs}.values()) == [5, 5]
    assert len({t.seed for t in trials}) == 10  # never a seed twice
    assert "mean of 5 seeds" in out.stdout
    wider = tunebook_cli("rerun", "toy", "--top", "2", "--db", db_path, "--no-progress",
                         cwd=tmp_path)  # other configurations: refused, nothing added
    assert wider.returncode == 1 and "--name" in wider.stderr, wider.stderr
    assert "Traceback" not in wider.stderr and len(store.trials([child.id])) == 10
    named = tunebook_cli("rerun", "toy", "--top", "2", "--name", "toy-top2", "--db", db_path,
                         "--no-progress", cwd=tmp_path)
    assert named.returncode == 0 and len(store.trials([store.get_study("toy-top2").id])) == 12


def test_rerun_refuses_what_it_cannot_do(tmp_path: Path, db_path: str) -> None:
    spec = load_spec(write_study(tmp_path / "p", NOISY, scientific={"act": ["relu"]},
                                 budget=1))
    store = open_store(db_path)
    store.create_study("empty", spec.snapshot(), spec.identity_hash())
    with pytest.raises(SpecError, match="no completed trial to re-run"):
        rerun_study(store, "empty")
    with pytest.raises(SpecError, match="--seeds ≥ 2"):
        rerun_study(store, "empty", seeds=1)


def test_the_rerun_command_concludes_from_the_seeds(tmp_path: Path, db_path: str) -> None:
    _parent(tmp_path, db_path)
    out = tunebook_cli("rerun", "toy", "--seeds", "3", "--db", db_path, "--no-progress",
                       cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "re-ran 2 configuration(s) of toy × 3 seeds as toy-seeds (6 new" in out.stdout
    assert "act=gelu is best" in out.stdout and "mean of 3 seeds" in out.stdout
    assert "spread over seeds" in out.stdout
    assert "(3 seeds)" in out.stdout  # the isolation table's mean over seeds
    html = tmp_path / "seeds.html"
    report = tunebook_cli("report", "toy-seeds", "--db", db_path, "-o", str(html),
                          cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    assert "<th>mean loss over seeds</th>" in html.read_text()


def test_a_rerun_child_is_its_own_study_beside_its_parent(tmp_path: Path,
                                                          db_path: str) -> None:
    _parent(tmp_path, db_path)
    store = open_store(db_path)
    made = rerun_study(store, "toy", seeds=2)
    assert [leaf.name for leaf in store.tree("toy").leaves] == ["toy"]  # still 12 trials
    assert len(store.trials(store.tree("toy").ids)) == 12
    assert {t.root.name for t in store.trees()} == {"toy", "toy-seeds"}
    worker = tunebook_cli("worker", "--db", db_path, "--max-trials", "4",  # every study
                          cwd=tmp_path)
    assert worker.returncode == 0, worker.stderr
    assert {t.status for t in store.trials([made.study.id])} == {TrialStatus.COMPLETED}


def _trial(i: int, lr: float, value: float) -> TrialRecord:
    return TrialRecord(id=i, study_id=1, index=i, params={"lr": lr}, seed=i,
                       status=TrialStatus.COMPLETED, value=value)


def test_re_runs_are_compared_by_their_mean_not_their_luckiest_draw() -> None:
    # rerun --top 2 --seeds 3: lr 0.1 holds the single best draw, lr 0.01 the best mean
    trials = [_trial(0, 0.1, 1.0), _trial(1, 0.1, 5.0), _trial(2, 0.1, 5.0),
              _trial(3, 0.01, 2.0), _trial(4, 0.01, 2.1), _trial(5, 0.01, 1.9)]
    ranked = sorted(trials, key=lambda t: t.value or 0.0)
    chosen = best_config(ranked, sign=1.0)
    assert {t.params["lr"] for t in chosen} == {0.01} and len(chosen) == 3
    assert chosen[0].value == 1.9  # best first within the configuration
    assert {t.params["lr"] for t in best_config(ranked[::-1], sign=-1.0)} == {0.1}


def test_a_sampled_study_stands_for_a_value_by_its_best_trial() -> None:
    # one configuration happens to repeat; the others ran once: not a study of re-runs
    trials = [_trial(0, 0.1, 1.0), _trial(1, 0.01, 2.0), _trial(2, 0.01, 2.0),
              _trial(3, 0.3, 3.0), _trial(4, 0.5, 4.0)]
    chosen = best_config(sorted(trials, key=lambda t: t.value or 0.0), sign=1.0)
    assert [t.params["lr"] for t in chosen] == [0.1]
    assert best_config([], sign=1.0) == []


def test_without_scientific_values_it_re_runs_the_best_three(tmp_path: Path,
                                                              db_path: str) -> None:
    # re-running only the best configuration could confirm it, never change the pick
    trainer = NOISY.replace('params["act"]', 'params.get("act", "gelu")')
    run_study(load_spec(write_study(tmp_path / "p", trainer, budget=8)), open_store(db_path))
    store = open_store(db_path)
    made = rerun_study(store, "toy", seeds=2)
    assert len(made.configs) == 3 and len({str(c) for c in made.configs}) == 3
    run_study(made.spec, store)
    [row] = isolation(load_study(store, "toy-seeds"))
    means = {str(c): sum(t.value or 0.0 for t in store.trials([made.study.id])
                         if t.params == c) / 2 for c in made.configs}
    assert row.center == pytest.approx(min(means.values()))
    assert row.best is not None and means[str(row.best.params)] == row.center
    text = study_report(store, "toy-seeds").conclusion.text
    assert "the best mean over seeds of the 3 configurations re-run" in text


def test_means_equal_but_for_rounding_are_a_tie() -> None:
    # 4 errors in 360 both ways, in float32 as a training loop reports them: a real re-run
    # printed "its margin over activation=tanh (2.33e-10)"
    f32 = [float(np.float32(k / 180)) for k in (1, 3, 1.5, 2.5)]
    assert margin((f32[0] + f32[1]) / 2, (f32[2] + f32[3]) / 2) == 0.0
    assert margin((0.1 + 0.2) + 0.3, 0.1 + (0.2 + 0.3)) == 0.0
    assert margin(0.010, 0.011) == pytest.approx(0.001)
    assert margin(1e-7, 2e-7) == pytest.approx(1e-7)  # small values, a real gap


def test_a_tie_over_seeds_is_called_a_tie(tmp_path: Path, db_path: str) -> None:
    spec = load_spec(write_study(tmp_path / "p", NOISY, scientific={"act": ["relu", "tanh"]}))
    record = open_store(db_path).create_study("toy", spec.snapshot(), spec.identity_hash())
    f32 = [float(np.float32(k / 180)) for k in (1, 3, 1.5, 2.5)]
    trials = [TrialRecord(id=i, study_id=record.id, index=i, seed=i, value=v,
                          params={"act": act, "lr": 0.01}, status=TrialStatus.COMPLETED)
              for i, (act, v) in enumerate(zip(["relu"] * 2 + ["tanh"] * 2, f32,
                                               strict=True))]
    data = StudyData(record, spec, trials)
    text = conclude(data, isolation(data), []).text
    assert "act=relu and act=tanh tie at loss = 0.01111 (mean of 2 seeds" in text \
        or "act=tanh and act=relu tie at loss = 0.01111 (mean of 2 seeds" in text
    assert "margin" not in text
