"""Opt-in pruning: the documented rule, and a real run where bad trials stop early."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import write_study
from tunebook import SpecError, TrialStatus, load_spec, open_store, run_study
from tunebook._spec_model import PruningModel
from tunebook.records import Objective
from tunebook.runner.pruning import decide

MIN, MAX = Objective("loss"), Objective("acc", goal="maximize")
RULE = PruningModel(percentile=50, grace=0.4, min_trials=3)


def _curve(values: list[float], every: int = 10) -> list[tuple[int, float]]:
    return [((i + 1) * every, v) for i, v in enumerate(values)]


FINISHED = [_curve([5, 4, 3, 2, 1, 1, 1, 1, 1, 1]),
            _curve([6, 5, 4, 3, 2, 2, 2, 2, 2, 2]),
            _curve([7, 6, 5, 4, 3, 3, 3, 3, 3, 3])]


def test_the_rule_prunes_exactly_what_it_documents() -> None:
    # at step 40 the finished trials' best so far are 2, 3, 4: the median is 3
    assert decide(_curve([9, 8, 7, 3.5]), FINISHED, RULE, 100, MIN).threshold == 3.0
    assert decide(_curve([9, 8, 7, 3.0]), FINISHED, RULE, 100, MIN) is None  # not worse
    assert decide(_curve([9, 8, 7]), FINISHED, RULE, 100, MIN) is None  # inside the grace
    assert decide(_curve([9, 8, 7, 9]), FINISHED[:2], RULE, 100, MIN) is None  # too few
    best_so_far = _curve([9, 2.5, 7, 9])  # its best by step 40 is 2.5: kept
    assert decide(best_so_far, FINISHED, RULE, 100, MIN) is None
    flipped = [[(s, -v) for s, v in c] for c in FINISHED]
    pruned = decide(_curve([-9, -8, -7, -3.5]), flipped, RULE, 100, MAX)
    assert pruned is not None and pruned.threshold == -3.0 and pruned.step == 40


def test_pruning_needs_steps(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="pruning compares trials at equal steps"):
        load_spec(write_study(tmp_path, "def main(t):\n    pass\n", pruning={}))


SLOW_CURVES = """
    import math, time

    def main(t):
        quality = (math.log10(t.params["lr"]) + 2) ** 2
        for step in range(10, t.max_steps + 1, t.eval_every):
            time.sleep(0.25)
            t.report(step, loss=quality + 10.0 / step)
            t.flush()
"""


def test_a_run_prunes_bad_trials_and_keeps_their_curves(tmp_path: Path, db_path: str) -> None:
    spec = load_spec(write_study(tmp_path, SLOW_CURVES, budget=14, max_steps=100,
                                 eval_every=10, pruning={"min_trials": 3}))
    run_study(spec, open_store(db_path), workers=2)
    store = open_store(db_path)
    trials = store.trials([store.get_study("toy").id])
    pruned = [t for t in trials if t.status is TrialStatus.PRUNED]
    completed = [t for t in trials if t.status is TrialStatus.COMPLETED]
    assert pruned and len(completed) >= 3
    best = min(t.value for t in completed if t.value is not None)
    for t in pruned:
        steps = [p.step for p in store.metric_history(t.id, "loss")]
        assert 40 <= max(steps) < 100  # after the grace (a third), before the end
        assert t.value is not None and t.value > best  # never the study's best
        assert (t.reason or "").startswith("pruned at step")
        assert min(p.value for p in store.metric_history(t.id, "loss")) > t.value
    assert store.best_value([store.get_study("toy").id], "minimize") == best


ASHA = PruningModel(type="asha", reduction_factor=2, grace=0.34, min_trials=3)


def test_asha_rungs_and_promotion_follow_the_documented_rule() -> None:
    from tunebook.runner.pruning import decide_asha, rungs

    assert rungs(ASHA, 100) == [34, 68]
    assert rungs(PruningModel(type="asha"), 90) == [30]  # 30 × 3 = 90 is the end
    others = [_curve([5, 4, 3, 2.0]), _curve([6, 5, 4, 3.0]), _curve([7, 6, 5, 4.0])]
    # at the rung at step 34 (values up to step 30): rivals 3, 4, 5 and mine; 4 // 2 = 2
    # go on, so the threshold is the second best value
    pruned = decide_asha(_curve([9, 8, 4.5, 1.0]), others, ASHA, 100, MIN)
    assert pruned is not None and pruned.step == 34 and pruned.threshold == 4.0
    assert pruned.value == 4.5 and pruned.compared == 4
    assert decide_asha(_curve([9, 8, 3.5, 9]), others, ASHA, 100, MIN) is None  # 2nd best
    assert decide_asha(_curve([9, 8, 7]), others, ASHA, 100, MIN) is None  # before a rung
    assert decide_asha(_curve([9, 8, 9, 9]), others[:1], ASHA, 100, MIN) is None  # too few
    short = [_curve([1.0, 1.0])]  # a rival that has not reached the rung does not count
    assert decide_asha(_curve([9, 8, 9, 9]), others[:1] + short, ASHA, 100, MIN) is None
    flipped = [[(s, -v) for s, v in c] for c in others]
    up = decide_asha(_curve([-9, -8, -4.5, -1.0]), flipped, ASHA, 100, MAX)
    assert up is not None and up.threshold == -4.0


def test_an_asha_run_prunes_at_rungs_and_never_records_a_pruned_best(
        tmp_path: Path, db_path: str) -> None:
    spec = load_spec(write_study(tmp_path, SLOW_CURVES, budget=14, max_steps=100,
                                 eval_every=10, pruning={"type": "asha", "min_trials": 3}))
    run_study(spec, open_store(db_path), workers=2)
    store = open_store(db_path)
    trials = store.trials([store.get_study("toy").id])
    pruned = [t for t in trials if t.status is TrialStatus.PRUNED]
    completed = [t for t in trials if t.status is TrialStatus.COMPLETED]
    assert pruned and completed
    best = min(t.value for t in completed if t.value is not None)
    for t in pruned:
        assert (t.reason or "").startswith("pruned at the rung at step 34")
        assert t.value is not None and t.value >= best
        assert max(p.step for p in store.metric_history(t.id, "loss")) < 100
