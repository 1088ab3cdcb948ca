"""tunebook round2: the best round-1 configurations trained longer, under the playbook's
schedule transfer rule, and the two rounds' rankings compared."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tests.conftest import tunebook_cli, write_study
from tunebook import SpecError, TrialStatus, load_spec, open_store, run_study
from tunebook.analysis.data import load_study
from tunebook.analysis.rounds import compare_rounds
from tunebook.torch.schedules import Schedule, round2_transfer
from tunebook.workflows import round2_study, transfer

#: Reports the lr its schedule gives at every step (built by the toolkit from the params
#: and t.max_steps), and a loss that prefers lr near 1e-2 and the cosine schedule.
SCHEDULED = """
    import math, random
    import tunebook
    from tunebook.torch import schedule_for

    def main(t):
        rng = random.Random(t.seed)
        s = schedule_for(t.params, t.max_steps)
        base = (math.log10(s.base_lr) + 2) ** 2 + (0.0 if s.kind == "cosine" else 0.2)
        for step in range(t.max_steps):
            t.report(step + 1, lr=s.lr(step),
                     loss=base + 1.0 / (step + 1) + rng.gauss(0, 0.002))
"""


def _round1(tmp_path: Path, db: str, **fields: object) -> None:
    data: dict[str, object] = {
        "scientific": {"schedule": ["linear", "cosine"]},
        "nuisance": {"learning_rate": {"low": 1e-3, "high": 1e-1, "scale": "log"},
                     "warmup_steps": {"type": "int", "low": 0, "high": 5}},
        "objective": {"metric": "loss", "goal": "minimize", "select": "last"},
        "budget": 10, "max_steps": 20, **fields}
    run_study(load_spec(write_study(tmp_path / "r1", SCHEDULED, **data)), open_store(db),
              workers=2)


def test_the_transfer_rule_per_schedule() -> None:
    assert transfer({"schedule": "linear", "warmup_steps": 4}, {}, 100) == {
        "schedule": "linear", "warmup_steps": 4, "decay_steps": 96}
    assert transfer({"schedule": "cosine", "warmup_steps": 4}, {}, 100) == {
        "schedule": "cosine", "warmup_steps": 4}
    assert transfer({"lr": 0.1}, {"schedule": "linear"}, 100) == {"lr": 0.1,
                                                                  "decay_steps": 100}
    kept = {"schedule": "linear", "decay_steps": 30}
    assert transfer(kept, {}, 100) == kept  # an explicit decay length carries as it was


def test_round2_trains_longer_with_exactly_the_transferred_schedules(
        tmp_path: Path, db_path: str) -> None:
    _round1(tmp_path, db_path)
    store = open_store(db_path)
    made = round2_study(store, "toy", steps_factor=3, top=2)
    assert made.max_steps == 60 and made.round1_steps == 20
    run_study(made.spec, store, workers=2)
    trials = store.trials([made.study.id])
    assert len(trials) == 4 and {t.status for t in trials} == {TrialStatus.COMPLETED}
    round1 = {repr(sorted(t.params.items())): t for t in store.trials(
        [store.get_study("toy").id])}
    for t in trials:
        p = t.params
        original = {k: v for k, v in p.items() if k != "decay_steps"}
        assert repr(sorted(original.items())) in round1  # a round-1 configuration
        r1 = Schedule(p["schedule"], p["learning_rate"], 20,  # type: ignore[arg-type]
                      warmup_steps=int(p["warmup_steps"]))
        want = round2_transfer(r1, 60)
        lrs = [pt.value for pt in store.metric_history(t.id, "lr")]
        assert len(lrs) == 60
        assert lrs == pytest.approx([want.lr(s) for s in range(60)], abs=1e-12)
        if p["schedule"] == "linear":  # the decay keeps its length; the constant phase grows
            assert p["decay_steps"] == 20 - p["warmup_steps"]
            assert lrs[59 - int(p["decay_steps"])] == pytest.approx(p["learning_rate"])
        else:  # cosine stretches over all 60 steps
            assert "decay_steps" not in p and lrs[30] < p["learning_rate"]


def test_the_rounds_rankings_are_compared(tmp_path: Path, db_path: str) -> None:
    _round1(tmp_path, db_path)
    store = open_store(db_path)
    made = round2_study(store, "toy", steps_factor=2, top=2)
    run_study(made.spec, store, workers=2)
    rounds = compare_rounds(store, load_study(store, made.study.name))
    assert rounds is not None and len(rounds.rows) == 4
    assert sorted(r.rank1 for r in rounds.rows) == [1, 2, 3, 4]
    assert sorted(r.rank2 or 0 for r in rounds.rows) == [1, 2, 3, 4]
    assert rounds.winner1 == rounds.winner2 == "schedule=cosine"
    assert rounds.rho is not None and rounds.rho > 0  # 0.2 between schedules survives
    assert "schedule=cosine, stayed best" in rounds.text
    assert compare_rounds(store, load_study(store, "toy")) is None  # round 1 has no parent


def test_round2_refuses_what_it_cannot_do(tmp_path: Path, db_path: str) -> None:
    _round1(tmp_path, db_path)
    store = open_store(db_path)
    for factor in (1.0, math.nan, math.inf):
        with pytest.raises(SpecError, match="must be above 1"):
            round2_study(store, "toy", steps_factor=factor)
    toy = store.get_study("toy")
    done = len(store.trials([toy.id]))
    store.update_study(toy.id, budget=done + 4)  # 4 trials not created yet: unfinished too
    with pytest.raises(SpecError, match=rf"unfinished \({done} of {done + 4} trials finished\)"):
        round2_study(store, "toy", steps_factor=2)
    store.update_study(toy.id, budget=done)
    store.enqueue(toy.id, [(99, {"schedule": "linear"}, 1)])
    with pytest.raises(SpecError, match=rf"unfinished \({done} of {done + 1} trials finished\)"):
        round2_study(store, "toy", steps_factor=2)
    spec = load_spec(write_study(tmp_path / "n", SCHEDULED, name="nosteps"))
    store.create_study("nosteps", spec.snapshot(), spec.identity_hash())
    with pytest.raises(SpecError, match="has no max_steps"):
        round2_study(store, "nosteps", steps_factor=2)


def test_the_round2_command_runs_and_compares(tmp_path: Path, db_path: str) -> None:
    _round1(tmp_path, db_path)
    out = tunebook_cli("round2", "toy", "--steps-factor", "2", "--db", db_path,
                       "--no-progress", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "round 2 of toy: 2 configuration(s), 20 → 40 steps, as toy-x2" in out.stdout
    assert "1 linear decay(s) keep their decay length" in out.stdout
    assert "toy → toy-x2" in out.stdout and "stayed best" in out.stdout
    report = tmp_path / "r2.html"
    assert tunebook_cli("report", "toy-x2", "-o", str(report), "--db", db_path,
                        cwd=tmp_path).returncode == 0
    assert "toy → toy-x2" in report.read_text()
