"""Build stored studies with chosen params, outcomes and curves (for analysis tests)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tunebook import Store, TrialStatus
from tunebook.spec import spec_from_dict

Curve = Sequence[tuple[int, float]]


@dataclass
class Fake:
    """One trial to store: its params, outcome, and metric curves."""

    params: dict[str, Any]
    value: float | None = None
    status: TrialStatus = TrialStatus.COMPLETED
    curves: dict[str, Curve] = field(default_factory=dict)
    reason: str | None = None


def make_study(store: Store, name: str, trials: Sequence[Fake], *,
               nuisance: dict[str, Any] | None = None, scientific: dict[str, Any] | None = None,
               metric: str = "val_loss", goal: str = "minimize",
               description: str = "synthetic", **fields: Any) -> None:
    spec = spec_from_dict({**fields,
        "name": "placeholder", "description": description,
        "objective": {"metric": metric, "goal": goal}, "trainer": {"train": "m:f"},
        "budget": max(len(trials), 1), "scientific": scientific or {},
        "nuisance": nuisance or {"learning_rate": {"low": 1e-4, "high": 1.0, "scale": "log"}}})
    snapshot = {**spec.snapshot(), "name": name}
    study = store.create_study(name, snapshot, spec.identity_hash())
    store.enqueue(study.id, [(i, t.params, i) for i, t in enumerate(trials)])
    for fake in trials:
        claimed = store.claim("synthetic", [study.id])
        assert claimed is not None
        points = [(s, n, v, 0.0) for n, curve in fake.curves.items() for s, v in curve]
        store.report_metrics(claimed.id, points)
        store.finish(claimed.id, claimed.attempts, fake.status, value=fake.value,
                     reason=fake.reason)


def smooth(start: float, end: float, steps: int = 20, every: int = 50) -> list[tuple[int, float]]:
    """A smoothly decaying curve from ``start`` to ``end``."""
    return [((i + 1) * every, end + (start - end) * 0.8 ** i) for i in range(steps)]


EVIL = "<script>alert(1)</script>"


def report_study(store: Store, name: str, description: str = "a study") -> None:
    """24 trials over three activations (one named EVIL) with loss, grad-norm and clipped
    curves; learning rates above 0.3 are infeasible."""
    rng = random.Random(0)
    fakes = []
    for i in range(24):
        act = ("relu", "tanh", EVIL)[i % 3]
        lr = 10 ** rng.uniform(-4, 0)
        curves = {"train_loss": smooth(2.0, 0.1 + lr), "val_loss": smooth(2.0, 0.2 + lr),
                  "grad_norm": [(s, 1.0 + rng.random()) for s in range(1, 1001, 10)],
                  "clipped": [(s, float(rng.random() < 0.2)) for s in range(1, 1001, 10)]}
        status = TrialStatus.INFEASIBLE if lr > 0.3 else TrialStatus.COMPLETED
        fakes.append(Fake({"act": act, "learning_rate": lr}, None if lr > 0.3 else 0.2 + lr,
                          status, curves))
    make_study(store, name, fakes, scientific={"act": ["relu", "tanh", EVIL]},
               description=description)


