"""tunebook next: the next study file from the checklist, which runs as is."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest
import yaml

from tests.conftest import tunebook_cli, write_study
from tests.synthetic import Fake, make_study
from tunebook import MemoryStore, SpecError, TrialStatus, load_spec, open_store, run_study
from tunebook.analysis.nextstudy import Change, Held, _mostly_diverged, next_name, plan_next
from tunebook.analysis.report import study_report
from tunebook.space import ParamRef
from tunebook.workflows import ChangeKind

EDGE = """
    import math
    import tunebook

    def main(t):
        lr, noise = t.params["lr"], t.params["noise"]
        for step in range(1, 9):   # best lr beyond the range's upper bound; noise is inert
            t.report(step, loss=(math.log10(lr) - 0.5) ** 2 + 0.5 ** step)
"""


def test_next_widens_the_crowded_bound_fixes_the_inert_parameter_and_runs(
        tmp_path: Path, db_path: str) -> None:
    study = write_study(tmp_path / "s", EDGE, name="edge", budget=24, max_steps=8,
                        nuisance={"lr": {"low": 1e-4, "high": 1.0, "scale": "log"},
                                  "noise": {"low": 0.0, "high": 1.0}})
    run_study(load_spec(study), open_store(db_path), workers=2)
    out = tunebook_cli("next", "edge", "--db", db_path, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    written = tmp_path / "s" / "edge-r2.yaml"
    text = written.read_text()
    doc = yaml.safe_load(text)
    assert doc["name"] == "edge-r2"
    assert doc["nuisance"]["lr"]["high"] == pytest.approx(10.0)  # a decade: a learning rate
    assert "noise" not in doc["nuisance"] and "noise" in doc["fixed"]
    assert "best trials sit at the upper edge" in text and "below the noise" in text
    run_study(load_spec(written), open_store(db_path), workers=2)  # runs as is
    store = open_store(db_path)
    done = store.trials([store.get_study("edge-r2").id], TrialStatus.COMPLETED)
    assert len(done) == doc["budget"] and max(t.params["lr"] for t in done) > 1.0
    away = tmp_path / "elsewhere"  # no trainer there: refused, and no broken file is left
    away.mkdir()
    out = tunebook_cli("next", "edge", "-o", str(away / "n.yaml"), "--db", db_path,
                       cwd=tmp_path)
    assert out.returncode == 1 and "would not run where it was to be written" in out.stderr
    assert "cannot find module 'trainer'" in out.stderr and not (away / "n.yaml").exists()
    written.write_text(text + "# my own edit\n")  # the file the user edited and ran
    out = tunebook_cli("next", "edge", "--db", db_path, cwd=tmp_path)
    assert out.returncode == 1 and "exists" in out.stderr and "--force" in out.stderr
    assert written.read_text().endswith("# my own edit\n")  # never overwritten unasked
    out = tunebook_cli("next", "edge", "--force", "--db", db_path, cwd=tmp_path)
    assert out.returncode == 0 and written.read_text() == text


def test_next_names_rounds_and_refuses_a_study_without_results(tmp_path: Path,
                                                               db_path: str) -> None:
    assert next_name("edge") == "edge-r2" and next_name("edge-r2") == "edge-r3"
    spec = load_spec(write_study(tmp_path / "s", EDGE, name="idle", budget=1,
                                 nuisance={"lr": {"low": 1e-4, "high": 1.0, "scale": "log"},
                                           "noise": {"low": 0.0, "high": 1.0}}))
    store = open_store(db_path)
    store.create_study("idle", spec.snapshot(), spec.identity_hash())
    report = study_report(store, "idle")
    with pytest.raises(SpecError, match="no completed trial"):
        plan_next(report.data, report.findings)
    out = tunebook_cli("next", "idle", "--db", db_path, cwd=tmp_path)
    assert out.returncode != 0 and "no completed trial" in out.stderr
    assert "Traceback" not in out.stderr


DIVERGES = """
    import math
    import tunebook

    def main(t):
        lr = t.params["lr"]
        if lr > 0.05:
            raise tunebook.Infeasible(f"the loss blew up at lr {lr:.3g}")
        for step in range(1, 5):
            t.report(step, loss=(math.log10(lr) + 2) ** 2 + 0.5 ** step)
"""


def test_a_study_where_every_trial_diverged_moves_the_learning_rate_below_it(
        tmp_path: Path, db_path: str) -> None:
    study = write_study(tmp_path / "s", DIVERGES, name="hot", budget=8, max_steps=4,
                        nuisance={"lr": {"low": 0.1, "high": 100.0, "scale": "log"},
                                  "act": {"values": ["relu", "tanh"]}})
    run_study(load_spec(study), open_store(db_path), workers=2)
    out = tunebook_cli("next", "hot", "--db", db_path, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    written = tmp_path / "s" / "hot-r2.yaml"
    doc = yaml.safe_load(written.read_text())
    store = open_store(db_path)
    lowest = min(t.params["lr"] for t in store.trials([store.get_study("hot").id]))
    assert doc["nuisance"]["lr"]["high"] == pytest.approx(lowest, rel=1e-2)
    assert doc["nuisance"]["lr"]["low"] == pytest.approx(lowest / 1000, rel=1e-2)
    assert "all 8 trials diverged" in written.read_text()
    run_study(load_spec(written), store, workers=2)  # the moved range trains
    done = store.trials([store.get_study("hot-r2").id], TrialStatus.COMPLETED)
    assert done and min(t.params["lr"] for t in done) < 0.05


def test_a_learning_rate_range_that_mostly_diverges_moves_down_and_holds_other_walls(
        ) -> None:
    rng = random.Random(0)  # lr over [1, 1000]: diverges above 3, trains best near 0.3
    trials = []
    for _ in range(30):
        params = {"lr": 10 ** rng.uniform(0, 3), "momentum": rng.uniform(0, 0.99)}
        if params["lr"] > 3 or (params["lr"] > 2 and params["momentum"] > 0.5):
            trials.append(Fake(params, None, TrialStatus.INFEASIBLE, reason="diverged"))
        else:
            trials.append(Fake(params, (math.log10(params["lr"]) + 0.5) ** 2))
    store = MemoryStore()
    make_study(store, "hot", trials, nuisance={"lr": {"low": 1.0, "high": 1000.0,
                                                      "scale": "log"},
                                               "momentum": {"low": 0.0, "high": 0.99}})
    report = study_report(store, "hot")
    plan = plan_next(report.data, report.findings, report.noise)
    moved = {c.where: c.value for c in plan.changes if c.target is not None}
    top = moved["nuisance.lr.high"]
    assert 2 < top < 10 and moved["nuisance.lr.low"] == pytest.approx(top / 1000, rel=0.01)
    best = min((t for t in trials if t.value is not None), key=lambda t: t.value)
    assert moved["nuisance.lr.low"] <= best.params["lr"] <= top  # the best stays inside
    wall = Change(ChangeKind.CUT, 0.3, "trials beyond ~0.3 are infeasible",
                  ParamRef("momentum"), "high")  # read while most trials diverged
    held: list[Held] = []
    kept = _mostly_diverged([*plan.changes, wall], report.data, held)
    assert wall not in kept and [h.target for h in held] == ["nuisance.momentum.high"]
    assert "read again in the moved range" in held[0].reason


def test_the_report_and_next_agree_on_a_best_crowding_an_edge_beyond_which_all_diverged(
        ) -> None:
    rng = random.Random(1)  # trains best at 0.25; every trial above 0.3 diverges
    trials = []
    for _ in range(60):
        lr = 10 ** rng.uniform(-4, 0)
        trials.append(Fake({"lr": lr}, None, TrialStatus.INFEASIBLE, reason="diverged")
                      if lr > 0.3 else Fake({"lr": lr}, (math.log10(lr / 0.25)) ** 2))
    store = MemoryStore()
    make_study(store, "walled", trials, nuisance={"lr": {"low": 1e-4, "high": 1.0,
                                                         "scale": "log"}})
    report = study_report(store, "walled")
    space = next(f for f in report.findings if f.check.name == "SEARCH_SPACE")
    assert space.verdict.name != "OK" and "widen" not in space.next_step.lower()
    assert "keep lr's upper bound" in space.next_step.lower() and "warmup" in space.next_step
    plan = plan_next(report.data, report.findings, report.noise)
    [cut] = [c for c in plan.changes if c.target is not None]
    assert cut.kind is ChangeKind.CUT and cut.edge == "high" and 0.25 < cut.value < 1.0


def test_a_wall_that_holds_under_one_optimizer_only_never_cuts_the_best_trial() -> None:
    rng = random.Random(0)  # SGD diverges above 0.14; Adam trains best near 0.6
    fakes = []
    for i in range(40):
        opt, lr = ("sgd" if i % 4 else "adam"), 10 ** rng.uniform(-4, 0)
        if opt == "sgd" and lr > 0.14:
            fakes.append(Fake({"learning_rate": lr, "optimizer": opt}, None,
                              TrialStatus.INFEASIBLE, reason="diverged"))
            continue
        d = math.log10(lr) - math.log10(0.6 if opt == "adam" else 0.01)
        fakes.append(Fake({"learning_rate": lr, "optimizer": opt},
                          (0.5 if opt == "adam" else 1.0) + d * d))
    store = MemoryStore()
    make_study(store, "two", fakes, nuisance={
        "learning_rate": {"low": 1e-4, "high": 1.0, "scale": "log"},
        "optimizer": {"values": ["sgd", "adam"]}})
    report = study_report(store, "two")
    assert any(f.verdict.value != "ok" for f in report.findings
               if f.check.value == "infeasible")  # the wall is seen ...
    plan = plan_next(report.data, report.findings, report.noise)
    assert not [c for c in plan.changes if c.kind is ChangeKind.CUT]  # ... and not cut
    kept = [h for h in plan.held if h.kind is ChangeKind.CUT]
    assert kept and "the best trial" in kept[0].reason and kept[0].statistic["best_at"] > 0.14


@pytest.mark.parametrize("short", [True, False])
def test_more_trials_are_a_fault_of_the_space_only_when_it_is_too_thin_to_read(
        short: bool) -> None:
    from tunebook.analysis.findings import Check, Finding, MoreTrials, Verdict

    store = MemoryStore()
    make_study(store, "s", [Fake({"learning_rate": 10 ** (-4 + 0.4 * i)}, 1.0 + i % 3)
                            for i in range(10)])
    report = study_report(store, "s")
    asked = Finding(Check.SAMPLING, Verdict.WARN, "thin" if short else "still paying off",
                    "Run more trials", "sampling", subjects=(MoreTrials(40, short),))
    plan = plan_next(report.data, [asked])
    more = [c for c in plan.changes if c.kind is ChangeKind.BUDGET]
    assert len(more) == 1 and more[0].value == 40
    assert more[0].thin is short and more[0].searching is not short


def test_a_conditional_range_keeps_its_best_trial_too() -> None:
    rng = random.Random(0)  # lr exists per optimizer; under adam it trains best near 0.6,
    fakes = []              # and a few adam trials diverge at the top of its range
    for i in range(40):
        lr, wd = 10 ** rng.uniform(-4, 0), rng.uniform(0, 1)
        params = {"opt": "adam", "lr[opt=adam]": lr, "wd": wd}
        if lr > 0.14 and i % 4:
            fakes.append(Fake(params, None, TrialStatus.INFEASIBLE, reason="diverged"))
            continue
        d = math.log10(lr) - math.log10(0.6)
        fakes.append(Fake(params, 0.5 + d * d))
    store = MemoryStore()
    make_study(store, "c", fakes, scientific={"opt": {"values": ["adam"]}},
               conditional={"opt": {"adam": {"lr": {"low": 1e-4, "high": 1.0,
                                                    "scale": "log"}}}},
               nuisance={"wd": {"low": 0.0, "high": 1.0}})
    report = study_report(store, "c")
    plan = plan_next(report.data, report.findings, report.noise)
    assert not [c for c in plan.changes if c.kind is ChangeKind.CUT]
    kept = [h for h in plan.held if h.kind is ChangeKind.CUT]
    assert kept and kept[0].statistic["best_at"] > 0.14


def test_a_crowded_momentum_moves_toward_1_and_never_past_it() -> None:
    rng = random.Random(2)  # momentum in [0, 0.99] trains best as high as it goes
    trials = [Fake({"momentum": m, "lr": 10 ** rng.uniform(-3, -1)}, (1 - m) ** 2 + 0.01)
              for m in (rng.uniform(0, 0.99) for _ in range(30))]
    store = MemoryStore()
    make_study(store, "heavy", trials, nuisance={
        "momentum": {"low": 0.0, "high": 0.99},
        "lr": {"low": 1e-3, "high": 1e-1, "scale": "log"}})
    report = study_report(store, "heavy")
    plan = plan_next(report.data, report.findings, report.noise)
    [widen] = [c for c in plan.changes if c.where == "nuisance.momentum.high"]
    assert widen.kind is ChangeKind.WIDEN and widen.value == pytest.approx(0.999)
