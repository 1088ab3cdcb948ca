"""The checklist's pruning-safety item: do early values predict final ones here?"""

from __future__ import annotations

import random

from tests.synthetic import Fake, make_study
from tunebook import MemoryStore
from tunebook.analysis.data import load_study
from tunebook.analysis.findings import Verdict
from tunebook.analysis.pruningcheck import pruning_safety

PRUNING = {"max_steps": 1000, "eval_every": 50, "pruning": {"type": "percentile"}}


def _curve(early: float, final: float) -> list[tuple[int, float]]:
    """Straight from 3.0 to ``early`` at step 350, then to ``final`` at 1000."""
    out = []
    for step in range(50, 1001, 50):
        if step <= 350:
            out.append((step, 3.0 + (early - 3.0) * step / 350))
        else:
            out.append((step, early + (final - early) * (step - 350) / 650))
    return out


def _study(crossing: bool, n: int = 16, **fields: object) -> tuple[Verdict, dict]:
    rng = random.Random(1)
    finals = [1.0 + rng.random() for _ in range(n)]
    fakes = []
    for f in finals:
        early = (4.0 - f) if crossing else f + 0.5  # fast starters finish worst if crossing
        fakes.append(Fake({"learning_rate": 10 ** rng.uniform(-4, 0)}, f,
                          curves={"val_loss": _curve(early, f)}))
    store = MemoryStore()
    make_study(store, "s", fakes, **fields)
    finding = pruning_safety(store, load_study(store, "s"))
    return finding.verdict, {"summary": finding.summary, **finding.numbers}


def test_early_values_that_predict_final_ones_make_pruning_safe() -> None:
    verdict, seen = _study(crossing=False, **PRUNING)
    assert verdict is Verdict.OK and seen["rho"] > 0.99 and seen["top_stopped"] == 0
    assert seen["step"] == 334 and "pruning would save compute" in seen["summary"]


def test_slow_starters_that_finish_best_make_pruning_unsafe() -> None:
    verdict, seen = _study(crossing=True, **PRUNING)
    assert verdict is Verdict.WARN and seen["rho"] < -0.9
    assert seen["top_stopped"] == 3 and "would have stopped 3 of the 3 best" in seen["summary"]
    plain, said = _study(crossing=True)  # not pruning: a note, not a warning
    assert plain is Verdict.OK and "Short runs would mislead here" in said["summary"]


def test_too_few_trials_cannot_tell() -> None:
    verdict, _ = _study(crossing=False, n=5, **PRUNING)
    assert verdict is Verdict.UNKNOWN
