"""Constructed studies whose right checklist answers are known (the fidelity suite's worlds).

A :class:`World` is a synthetic training problem: a loss surface over the learning rate
and dropout with a known optimum, a known evaluation noise, a known curve shape, a known
region where training is unstable and known gradient norms. :func:`build` samples a study
of it with one seed, as random search would, and stores it in a MemoryStore.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

from tests.synthetic import Fake, make_study
from tunebook import MemoryStore, TrialStatus

STEPS, EVERY, NORM_EVERY = 1000, 50, 10
LR = {"low": 1e-4, "high": 1.0, "scale": "log"}
NUISANCE = {"learning_rate": LR, "dropout": {"low": 0.0, "high": 0.5}}
WIDE = {**NUISANCE, "weight_decay": {"low": 1e-6, "high": 1e-2, "scale": "log"}}


@dataclass
class World:
    """A training problem with known answers (see the module docstring)."""

    lr_star: float = 1e-2          # the optimum learning rate (may lie outside the range)
    bowl: float = 1.0              # loss per squared decade away from lr_star
    floor: float = 0.3
    sigma: float = 0.01            # one evaluation's noise
    shape: str = "converged"       # converged | improving | early | overfit | flat
    unstable_above: float | None = None
    unstable_kind: str = "diverge"  # diverge | spike | mixed
    spikes_everywhere: bool = False
    early_spike: bool = False
    norm_median: float = 1.0
    norm_sigma: float = 0.5        # log-normal spread of the grad norm
    clipped: float | None = None   # share of steps reported clipped
    n: int = 40
    nuisance: dict[str, Any] = field(default_factory=lambda: NUISANCE)
    needle: float | None = None    # a narrow optimum of this width (decades) instead of a bowl
    act_gap: float | None = None   # two scientific values, gelu better by this much
    reruns: int = 0                # re-runs of each value's best configuration

    def final(self, params: dict[str, Any]) -> float:
        d = math.log10(params["learning_rate"]) - math.log10(self.lr_star)
        if self.needle is not None:
            value = self.floor + 1.0 - math.exp(-((d / self.needle) ** 2))
        else:
            value = self.floor + self.bowl * d * d
        value += 0.2 * (params["dropout"] - 0.2) ** 2
        if self.act_gap is not None and params.get("act") == "relu":
            value += self.act_gap
        return value

    def unstable(self, params: dict[str, Any]) -> bool:
        return self.unstable_above is not None and params["learning_rate"] > self.unstable_above


def _shape(world: World, final: float, step: int) -> float:
    x = step / STEPS
    if world.shape == "improving":     # a power law: 2x steps gain 0.3 * (1 - 2^-0.5)
        return final - 0.3 + 0.3 * x ** -0.5
    if world.shape == "early":         # converged by ~15 % of the run
        return final + 1.5 * math.exp(-25 * x)
    if world.shape == "overfit":       # best at mid-run, then 0.15 worse by the end
        return final + 1.5 * math.exp(-10 * x) + 0.3 * max(0.0, x - 0.5)
    if world.shape == "flat":
        return final
    return final + 1.5 * math.exp(-7 * x)   # converged: within 0.02 of final at ~60 %


def _train(world: World, final: float, rng: random.Random, spiky: bool) -> list[tuple[int, float]]:
    points = []
    for i in range(1, STEPS // EVERY + 1):
        step = i * EVERY
        value = 0.8 * final + 2.0 * math.exp(-7 * step / STEPS) - 0.1 * step / STEPS
        if world.early_spike and i == 3:
            value *= 4
        if spiky and i == 15:
            value *= 6
        points.append((step, value + rng.gauss(0, 0.003)))
    return points


def _norms(world: World, rng: random.Random, spiky: bool) -> list[tuple[int, float]]:
    norms = [(s, world.norm_median * math.exp(rng.gauss(0, world.norm_sigma)))
             for s in range(NORM_EVERY, STEPS + 1, NORM_EVERY)]
    if spiky:
        norms[75] = (norms[75][0], world.norm_median * 200)
    return norms


def trial(world: World, params: dict[str, Any], rng: random.Random) -> Fake:
    """One trial of ``world`` at ``params``: its outcome and curves."""
    final = world.final(params)
    kind = world.unstable_kind
    if kind == "mixed":
        kind = rng.choice(["diverge", "spike"])
    if world.unstable(params) and kind == "diverge":
        train = [(EVERY, 3.0), (2 * EVERY, 40.0), (3 * EVERY, math.nan)]
        return Fake(params, None, TrialStatus.INFEASIBLE, {"train_loss": train},
                    reason="diverged: train_loss is NaN at step 150")
    spiky = world.spikes_everywhere or world.unstable(params)
    if world.unstable(params):
        final += 0.3  # an unstable run that completes ends worse than it would have
    ev = [(i * EVERY, _shape(world, final, i * EVERY) + rng.gauss(0, world.sigma))
          for i in range(1, STEPS // EVERY + 1)]
    curves = {"val_loss": ev, "train_loss": _train(world, final, rng, spiky),
              "grad_norm": _norms(world, rng, spiky)}
    if world.clipped is not None:
        curves["clipped"] = [(s, 1.0 if rng.random() < world.clipped else 0.0)
                             for s, _ in curves["grad_norm"]]
    return Fake(params, min(v for _, v in ev), curves=curves)


def _params(world: World, rng: random.Random) -> dict[str, Any]:
    params: dict[str, Any] = {"learning_rate": 10 ** rng.uniform(-4, 0),
                              "dropout": rng.uniform(0, 0.5)}
    if "weight_decay" in world.nuisance:
        params["weight_decay"] = 10 ** rng.uniform(-6, -2)
    return params


def build(world: World, seed: int, name: str = "world", **fields: Any) -> MemoryStore:
    """A study of ``world`` sampled with ``seed``, in a fresh MemoryStore (``fields``: more
    study-file fields, e.g. ``max_steps``)."""
    rng = random.Random(seed)
    values = ["relu", "gelu"] if world.act_gap is not None else [None]
    fakes = []
    for act in values:
        for _ in range(world.n):
            params = _params(world, rng) | ({"act": act} if act else {})
            fakes.append(trial(world, params, rng))
        if world.reruns:
            mine = [f for f in fakes if f.params.get("act") == act and f.value is not None]
            best = min(mine, key=lambda f: f.value or 0.0)
            fakes += [trial(world, dict(best.params), rng) for _ in range(world.reruns)]
    store = MemoryStore()
    make_study(store, name, fakes, nuisance=world.nuisance,
               scientific={"act": values} if world.act_gap is not None else None, **fields)
    return store


def doubling_truth(world: World, n: int, reps: int = 400, seed: int = 0) -> float:
    """The true expected gain of the best value from ``n`` to ``2n`` random trials."""
    rng = random.Random(seed)
    gains = []
    for _ in range(reps):
        values = [world.final(_params(world, rng)) for _ in range(2 * n)]
        gains.append(min(values[:n]) - min(values))
    return sum(gains) / reps
