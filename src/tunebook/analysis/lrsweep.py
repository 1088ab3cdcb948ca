"""What a learning-rate sweep shows (§5.8: is instability what caps the learning rate?).

A sweep trains the same configuration at log-spaced learning rates. The answer: the best
learning rate, and whether the grid point right above it is unstable (diverged, NaN,
loss or grad-norm spikes): then instability, not the optimisation landscape, caps the
usable learning rate, and warmup or clipping may lift it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tunebook.analysis import stability
from tunebook.analysis.curves import blip, early_spikes, recovers, train_of
from tunebook.analysis.data import StudyData, load_study
from tunebook.errors import StudyNotFound
from tunebook.records import TrialRecord, TrialStatus
from tunebook.store import Store


@dataclass(frozen=True)
class SweepPoint:
    x: float               # the swept value (a learning rate, a warmup length)
    value: float | None
    status: str
    unstable: str          # why it counts as unstable ("" when it does not)
    trial: TrialRecord


@dataclass(frozen=True)
class SweepResult:
    key: str
    metric: str
    points: list[SweepPoint]
    best: SweepPoint | None
    capped: bool
    statement: str


BLIND = (" No trial reported train_loss (or loss) or grad_norm, so only divergence and "
         "failures count as unstable here: report them every t.eval_every steps to see "
         "spikes.")


def _blind(store: Store, data: StudyData) -> bool:
    """True when no completed trial reported a curve instability could be read from."""
    done = [t.id for t in data.trials if t.status is TrialStatus.COMPLETED]
    return bool(done) and not store.metric_points(done, ["train_loss", "loss", "grad_norm"])


def _noted(result: SweepResult, store: Store, data: StudyData) -> SweepResult:
    if not _blind(store, data):
        return result
    return SweepResult(result.key, result.metric, result.points, result.best, result.capped,
                       result.statement + BLIND)


def sweep_result(store: Store, name: str, key: str) -> SweepResult:
    """Read a finished sweep study: the best learning rate and whether instability caps it."""
    data = load_study(store, name)
    return _noted(_judge(data, key, _points(store, data, key)), store, data)


def _value(t: TrialRecord) -> float | None:
    ok = t.status is TrialStatus.COMPLETED and t.value is not None and math.isfinite(t.value)
    return float(t.value) if ok and t.value is not None else None


def _judge(data: StudyData, key: str, points: list[SweepPoint]) -> SweepResult:
    sign = data.objective.sign()
    stable = [p for p in points if p.value is not None and not p.unstable]
    if not stable:
        return SweepResult(key, data.metric, points, None, False, "No learning rate trained "
                           "stably: lower the range (or fix the trainer) and sweep again.")
    best = min(stable, key=lambda p: sign * (p.value or 0.0))
    above = [p for p in points if p.x > best.x]
    unstable_above = [p for p in above if p.unstable or p.value is None]
    fmt = f"{key} = {best.x:.3g} ({data.metric} {best.value:.4g})"
    if above and (above[0].unstable or above[0].value is None):
        why = above[0].unstable or above[0].status
        return SweepResult(key, data.metric, points, best, True,
                           f"Instability caps the usable learning rate: the best is {fmt}, "
                           f"and the next point, {above[0].x:.3g}, is unstable ({why}). "
                           "Learning-rate warmup, gradient clipping or another "
                           "optimizer may make higher learning rates usable.")
    if unstable_above:
        return SweepResult(key, data.metric, points, best, False,
                           f"The best is {fmt}; training becomes unstable only from "
                           f"{unstable_above[0].x:.3g}, so instability is not what limits "
                           "the learning rate here.")
    edge = " It is the top of the range: sweep higher." if not above else ""
    return SweepResult(key, data.metric, points, best, False,
                       f"The best is {fmt}; no learning rate in the range was unstable."
                       + edge)


def _points(store: Store, data: StudyData, key: str) -> list[SweepPoint]:
    flagged = stability.scan(store, data)
    return sorted((SweepPoint(float(t.params[key]), _value(t), t.status.value,
                              flagged.get(t.id, ""), t)
                   for t in data.trials if t.status.finished and key in t.params),
                  key=lambda p: p.x)


def warmup_result(store: Store, name: str, key: str, lr: float) -> SweepResult:
    """Read a finished warmup sweep: the shortest warmup that makes ``lr`` train stably."""
    data = load_study(store, name)
    return _noted(_warmup(data, _points(store, data, key), key, lr), store, data)


def _warmup(data: StudyData, points: list[SweepPoint], key: str, lr: float) -> SweepResult:
    stable = [p for p in points if p.value is not None and not p.unstable]
    if not stable:
        return SweepResult(key, data.metric, points, None, True,
                           f"No warmup up to {points[-1].x:g} steps made {lr:g} stable: "
                           "warmup is not enough here; try gradient clipping or a "
                           "different optimizer (or a lower learning rate).")
    first = stable[0]
    cured = any(p.value is None or p.unstable for p in points if p.x < first.x)
    if not cured:
        return SweepResult(key, data.metric, points, first, False,
                           f"The learning rate {lr:g} trains stably even without warmup: "
                           "it was not unstable in this configuration; re-check the "
                           "lr-sweep.")
    return SweepResult(key, data.metric, points, first, True,
                       f"Warmup makes {lr:g} stable: {key} = {first.x:g} is the shortest "
                       f"that works ({data.metric} {first.value:.4g}). Next, as the "
                       f"playbook says: adopt {key} = {first.x:g} and sweep the learning "
                       "rate again with it; a higher stable learning rate may now be best.")


@dataclass(frozen=True)
class EarlyCheck:
    """The early-instability check's answer: where the loss spiked, whether it recovered."""

    lr: float
    trial_id: int
    steps: int
    spikes: list[int]
    recovered: bool
    status: str
    statement: str


def early_result(store: Store, name: str, key: str) -> EarlyCheck:
    """Read a finished early-check study (one run at 2x the best lr, every step read).

    Early instability that recovers (playbook §5.8.1) is the case a sweep misses: the run
    ends fine, but its first steps spiked, so training was slowed and the learning rate
    sits near the edge; warmup is the fix made for it.
    """
    data = load_study(store, name)
    trial = data.trials[0] if data.trials else None
    if trial is None or not trial.status.finished:
        raise StudyNotFound(f"the early check {name!r} has no finished run yet")
    lr = float(trial.params[key])
    # every step: a downsampled curve could hide the one-step spike this check looks for
    loss = train_of({name: s for (_, name), s in
                     store.metric_points([trial.id], ["train_loss", "loss"]).items()})
    # a spike the loss is still up from at the next step: one bad minibatch is not one
    early = [s for s in early_spikes(loss) if not blip(loss, s)]
    done = trial.status is TrialStatus.COMPLETED
    back = done and recovers(loss)
    return EarlyCheck(lr, trial.id, len(loss), early, back, trial.status.value,
                      _early_statement(lr, len(loss), early, back, trial))


def _early_statement(lr: float, steps: int, early: list[int], back: bool,
                     trial: TrialRecord) -> str:
    if steps < 10:
        return (f"The early check at {lr:g} reported {steps} training-loss points: report "
                "train_loss every step (t.eval_every is 1 here) to see the first steps.")
    if trial.status is not TrialStatus.COMPLETED:
        return (f"At 2x the best learning rate ({lr:g}) training fails outright "
                f"({trial.reason or trial.status.value}): the best learning rate is close "
                "to the instability edge. Warmup may lift it: tunebook warmup-sweep "
                f"--unstable-lr {lr:g}.")
    if early and back:
        return (f"Early instability that recovers: at 2x the best learning rate ({lr:g}) "
                f"the loss spikes at step {early[0]} and then recovers. Such runs train "
                "slowly but look fine at the end; learning-rate warmup is the fix "
                f"(tunebook warmup-sweep --unstable-lr {lr:g}).")
    if early:
        return (f"At 2x the best learning rate ({lr:g}) the loss spikes at step {early[0]} "
                "and does not recover: the best learning rate is close to the instability "
                f"edge; warmup or clipping may lift it (tunebook warmup-sweep --unstable-lr "
                f"{lr:g}).")
    return (f"No early instability: at 2x the best learning rate ({lr:g}) the loss has no "
            f"spike in its first {steps} steps.")
