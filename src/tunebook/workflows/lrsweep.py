"""The learning-rate sweep (``tunebook lr-sweep``) and its early-instability check.

A constant-learning-rate sweep of a study file's configuration (playbook §5.8): every
other parameter held still (:mod:`tunebook.workflows._held`), the learning rate over
``points`` log-spaced values of ``low:high`` (a grid). The best point, and whether the
point right above it diverged or spiked, say whether instability caps the learning rate.
Then the early check (§5.8.1): one run at 2x the best learning rate, evaluated at every
step, which shows a loss spike in the first steps that recovers, the instability a sweep
evaluated every N steps misses.

    >>> result = lr_sweep(load_spec("study.yaml"), open_store("tunebook.db"))
    >>> result.sweep.best.x, result.sweep.capped, result.early.statement
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tunebook._spec_model import ParamModel
from tunebook.analysis.lrsweep import EarlyCheck, SweepResult, early_result, sweep_result
from tunebook.errors import SpecError
from tunebook.spec import StudySpec
from tunebook.store import Store
from tunebook.workflows._held import held_still, known
from tunebook.workflows._run import RunOptions, run


def parse_range(text: str) -> tuple[float, float]:
    """``1e-5:10`` → (1e-05, 10.0), checked."""
    low_text, sep, high_text = text.partition(":")
    try:
        low, high = float(low_text), float(high_text)
    except ValueError:
        low = high = math.nan
    if not sep or not (math.isfinite(low) and math.isfinite(high)):
        raise SpecError(f"--range {text!r}: write LOW:HIGH, e.g. 1e-5:10", field="--range")
    if low <= 0 or high <= low:
        raise SpecError(f"--range {text!r}: a learning-rate range needs 0 < LOW < HIGH",
                        field="--range")
    return low, high


def sweep_spec(spec: StudySpec, key: str, low: float, high: float, points: int) -> StudySpec:
    """The learning-rate sweep study derived from ``spec`` (see the module docstring)."""
    if points < 3:
        raise SpecError("--points must be at least 3", field="--points")
    known(spec, key, "--key")
    return held_still(spec, {key: ParamModel(low=low, high=high, scale="log")},
                      suffix="lr-sweep", points=points,
                      description=f"constant-lr sweep of {key} over {low:g}..{high:g} for "
                                  f"{spec.name}")


def early_spec(spec: StudySpec, best_lr: float, *, key: str = "learning_rate",
               steps: int = 500) -> StudySpec:
    """The early-instability check (§5.8.1): one run at 2x the best learning rate,
    evaluated at every step for its first ``steps`` steps (at most the study's length), so
    that a loss spike in the first steps is seen even where the sweep evaluated too rarely.
    """
    if best_lr <= 0 or not math.isfinite(best_lr):
        raise SpecError("the early check needs a positive best learning rate", field="--lr")
    if steps < 10:
        raise SpecError("--early-steps must be at least 10", field="--early-steps")
    known(spec, key, "--key")
    length = min(steps, spec.model.max_steps or steps)
    return held_still(spec, {key: ParamModel(values=[2 * best_lr])}, suffix="early-check",
                      points=1, max_steps=length, eval_every=1,
                      description=f"early-instability check: {key} = {2 * best_lr:g} (2x the "
                                  f"best {best_lr:g}), evaluated every step for {length} "
                                  f"steps, for {spec.name}")


@dataclass(frozen=True)
class LrSweep:
    """What ``lr_sweep`` found.

    Attributes:
        sweep: the sweep's points, the best one, whether instability caps it.
        early: the early check's answer (None when skipped, interrupted, or no best).
        studies: the names of the studies it ran (the sweep, then the early check).
        stopped_by: Ctrl-C or SIGTERM, when the run was interrupted (run again to resume).
    """

    sweep: SweepResult
    early: EarlyCheck | None
    studies: tuple[str, ...]
    stopped_by: str | None = None


def lr_sweep(spec: StudySpec, store: Store, *, key: str = "learning_rate",
             low: float = 1e-5, high: float = 10.0, points: int = 12,
             early_check: bool = True, early_steps: int = 500,
             options: RunOptions | None = None) -> LrSweep:
    """Run (or resume) the sweep of ``spec``'s learning rate, then the early check.

    Raises:
        SpecError: ``key`` is not a parameter of the study, or a bad range or count.
    """
    options = options or RunOptions()
    sweep_study = sweep_spec(spec, key, low, high, points)
    done = run(sweep_study, store, options)
    sweep = sweep_result(store, sweep_study.name, key)
    if not early_check or sweep.best is None or done.stopped_by is not None:
        return LrSweep(sweep, None, (sweep_study.name,), done.stopped_by)
    check = early_spec(spec, sweep.best.x, key=key, steps=early_steps)
    checked = run(check, store, options, workers=1)
    early = early_result(store, check.name, key) if checked.stopped_by is None else None
    return LrSweep(sweep, early, (sweep_study.name, check.name), checked.stopped_by)
