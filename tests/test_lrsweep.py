"""tunebook lr-sweep: the best learning rate, and whether instability caps it."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tests.conftest import tunebook_cli, write_study
from tunebook import SpecError, load_spec
from tunebook.workflows.lrsweep import parse_range, sweep_spec

# The loss is lowest at lr = 0.1 in log distance, but training diverges above lr = 0.3:
# a stable lr of 0.1 is the best and 0.316 (the next half-decade point) blows up.
CAPPED = """
    import math
    import tunebook

    def main(t):
        lr = t.params["learning_rate"]
        assert t.params["schedule"] == "constant" and t.params["dropout"] == 0.25
        for step in range(1, 11):
            if lr > 0.3 and step > 3:
                t.report(step, train_loss=float("nan"))
                raise tunebook.Infeasible(f"diverged at step {step}")
            loss = (math.log10(lr) + 1) ** 2 + 1.0 / step
            t.report(step, train_loss=loss, val_loss=loss)
"""


def _study(tmp_path: Path, source: str = CAPPED) -> Path:
    return write_study(tmp_path / "s", source, name="capped", budget=30,
                       objective={"metric": "val_loss", "goal": "minimize"},
                       fixed={"schedule": "cosine"}, scientific={"act": ["relu", "gelu"]},
                       nuisance={"learning_rate": {"low": 1e-4, "high": 1e-1, "scale": "log"},
                                 "dropout": {"low": 0.0, "high": 0.5}})


def test_the_sweep_finds_the_best_lr_and_flags_the_instability_cap(tmp_path: Path,
                                                                   db_path: str) -> None:
    out = tunebook_cli("lr-sweep", str(_study(tmp_path)), "--range", "1e-4:10", "--points",
                       "11", "--db", db_path, "-w", "2", "--no-progress", "-o",
                       str(tmp_path / "sweep.html"), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    text = " ".join(out.stdout.split())
    assert "Instability caps the usable learning rate" in text
    assert "scientific act held at relu" in text  # which value the sweep held
    assert "learning_rate = 0.1 " in text and "the next point, 0.316, is unstable" in text
    assert "early check: learning_rate = 0.2" in text  # 2x the best, stable in CAPPED
    assert "No early instability: at 2x the best learning rate (0.2)" in text
    page = (tmp_path / "sweep.html").read_text()
    assert "Learning-rate sweep" in page and page.count('class="figure"') == 3
    assert "Early instability" in page


def test_the_sweep_spec_holds_everything_else_still(tmp_path: Path) -> None:
    spec = sweep_spec(load_spec(_study(tmp_path)), "learning_rate", 1e-5, 1.0, 6)
    assert spec.name == "capped-lr-sweep" and spec.model.budget.trials == 6
    assert spec.space.fixed["schedule"] == "constant" and spec.space.fixed["act"] == "relu"
    assert spec.space.fixed["dropout"] == 0.25 and not spec.space.scientific
    [lr] = spec.space.nuisance
    grid = lr.domain.grid(6)
    assert grid[0] == pytest.approx(1e-5) and grid[-1] == pytest.approx(1.0)
    assert math.log10(grid[1]) - math.log10(grid[0]) == pytest.approx(1.0)


@pytest.mark.parametrize("bad", ["1:1", "0:1", "-1:3", "a:b", "5"])
def test_a_bad_range_is_a_clear_error(bad: str, tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="range"):
        parse_range(bad)
    out = tunebook_cli("lr-sweep", str(_study(tmp_path)), "--range", bad, cwd=tmp_path)
    assert out.returncode != 0 and "--range" in out.stderr and "Traceback" not in out.stderr


# Diverges at a learning rate above 0.3 unless warmed up for at least 9 steps: the sweep
# at 10x the unstable 0.316 (3.16) must find 9 the shortest stable warmup of 0, 1, 3, 9, 30.
WARMED = """
    import math
    import tunebook

    def main(t):
        lr, warmup = t.params["learning_rate"], int(t.params["warmup_steps"])
        assert t.params["schedule"] == "cosine"  # the warmup sweep keeps the schedule
        for step in range(1, 31):
            if lr > 0.3 and warmup < 9 and step > 2:
                t.report(step, train_loss=float("nan"))
                raise tunebook.Infeasible(f"diverged at step {step}")
            loss = 1.0 + 1.0 / step + 0.01 * warmup
            t.report(step, train_loss=loss, val_loss=loss)
"""


def test_the_warmup_sweep_finds_the_shortest_stable_warmup(tmp_path: Path,
                                                           db_path: str) -> None:
    study = write_study(tmp_path / "w", WARMED, name="warm", budget=10, max_steps=300,
                        objective={"metric": "val_loss", "goal": "minimize"},
                        fixed={"schedule": "cosine"},
                        nuisance={"learning_rate": {"low": 1e-4, "high": 1e-1, "scale": "log"},
                                  "warmup_steps": {"low": 0, "high": 50, "type": "int"}})
    out = tunebook_cli("warmup-sweep", str(study), "--unstable-lr", "0.316", "--db", db_path,
                       "-w", "2", "--no-progress", "-o", str(tmp_path / "w.html"),
                       cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    text = " ".join(out.stdout.split())
    assert "Warmup makes 3.16 stable: warmup_steps = 9 is the shortest that works" in text
    assert "sweep the learning rate again" in text
    assert (tmp_path / "w.html").read_text().count('class="figure"') == 2
    bad = tunebook_cli("warmup-sweep", str(study), "--unstable-lr", "-1", "--db", db_path,
                       cwd=tmp_path)
    assert bad.returncode != 0 and "--unstable-lr must be a positive" in bad.stderr


# Above lr 0.15 the loss jumps 6x at steps 3-4 and then trains on as if nothing happened:
# evaluated every 10 steps (the sweep) nothing shows; every step (the early check) does.
EARLY = """
    import math
    import tunebook

    def main(t):
        lr, every = t.params["learning_rate"], t.eval_every
        for step in range(1, t.max_steps + 1):
            loss = (math.log10(lr) + 1) ** 2 + 1.0 / step
            if lr > 0.15 and step in (3, 4):
                loss *= 6
            if step % every == 0:
                t.report(step, train_loss=loss, val_loss=loss)
"""


def test_the_early_check_finds_a_spike_that_recovers(tmp_path: Path, db_path: str) -> None:
    study = write_study(tmp_path / "e", EARLY, name="early", max_steps=40, eval_every=10,
                        objective={"metric": "val_loss", "goal": "minimize"},
                        nuisance={"learning_rate": {"low": 1e-4, "high": 1e-1,
                                                    "scale": "log"}})
    out = tunebook_cli("lr-sweep", str(study), "--range", "1e-4:10", "--points", "11",
                       "--early-steps", "30", "--db", db_path, "--no-progress", "-o",
                       str(tmp_path / "sweep.html"), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    text = " ".join(out.stdout.split())
    assert "no learning rate in the range was unstable" in text  # the sweep cannot see it
    assert "early check: learning_rate = 0.2, every step for 30 steps" in text
    assert ("Early instability that recovers: at 2x the best learning rate (0.2) the loss "
            "spikes at step 3 and then recovers") in text
    assert "warmup-sweep --unstable-lr 0.2" in text


def test_the_early_check_refuses_a_bad_request(tmp_path: Path) -> None:
    from tunebook.workflows.lrsweep import early_spec

    spec = load_spec(_study(tmp_path))
    with pytest.raises(SpecError, match="positive best learning rate"):
        early_spec(spec, 0.0)
    with pytest.raises(SpecError, match="at least 10"):
        early_spec(spec, 0.1, steps=3)
    check = early_spec(spec, 0.1, steps=50)
    assert check.model.eval_every == 1 and check.model.budget.trials == 1
    assert [d.domain.values for d in check.space.nuisance] == [(0.2,)]  # type: ignore[attr-defined]


def test_a_sweep_without_training_curves_says_what_it_cannot_see(tmp_path: Path,
                                                                 db_path: str) -> None:
    only_val = CAPPED.replace("t.report(step, train_loss=float(\"nan\"))",
                              "pass").replace("train_loss=loss, val_loss=loss", "val_loss=loss")
    out = tunebook_cli("lr-sweep", str(_study(tmp_path, only_val)), "--range", "1e-4:10",
                       "--points", "6", "--no-early-check", "--db", db_path, "--no-progress",
                       "-o", str(tmp_path / "sweep.html"), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    text = " ".join(out.stdout.split())
    assert "No trial reported train_loss (or loss) or grad_norm" in text
    assert "early check" not in text  # --no-early-check
