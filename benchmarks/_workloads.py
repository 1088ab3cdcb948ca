"""Small, real PyTorch trainings on bundled data, for the sampler benchmark.

Each workload has a 5-dimensional nuisance space with log scales, an int, a categorical and
a region where training diverges (a learning rate too high for plain SGD with momentum),
and returns the validation loss, or ``None`` when training diverged (infeasible).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from tunebook.space import ChoiceDomain, Dimension, FloatDomain, IntDomain, Scale, Space

Params = dict[str, Any]
#: A training loss this many times its first value counts as diverged.
DIVERGED = 3.0


#: Called with (step, validation loss) at each evaluation; False stops the training.
Monitor = Callable[[int, float], bool]
#: How many evaluations a monitored training makes (one every steps // EVALS steps).
EVALS = 6


@dataclass(frozen=True)
class Workload:
    name: str
    space: Space
    train: Callable[..., float | None]  # (params, seed, monitor=None) -> value or None
    steps: int


def _nuisance(*extra: Dimension) -> Space:
    return Space(nuisance=(Dimension("lr", FloatDomain(1e-3, 3.0, Scale.LOG)),
                           Dimension("momentum", FloatDomain(0.0, 0.99)),
                           Dimension("weight_decay", FloatDomain(1e-6, 1e-1, Scale.LOG)),
                           *extra))


@cache
def _data(name: str) -> tuple[Any, Any, Any, Any]:
    import torch
    from sklearn import datasets

    if name == "diabetes":
        x, y = datasets.load_diabetes(return_X_y=True)
        y = (y - y.mean()) / y.std()
    else:
        loader = {"digits": datasets.load_digits, "wine": datasets.load_wine,
                  "breast_cancer": datasets.load_breast_cancer}[name]
        x, y = loader(return_X_y=True)
    x = (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-8)
    order = np.random.default_rng(0).permutation(len(x))
    cut = int(0.75 * len(x))
    tr, va = order[:cut], order[cut:]
    as_y = torch.float32 if name == "diabetes" else torch.long
    return (torch.tensor(x[tr], dtype=torch.float32), torch.tensor(y[tr], dtype=as_y),
            torch.tensor(x[va], dtype=torch.float32), torch.tensor(y[va], dtype=as_y))


def _activation(name: str) -> Any:
    import torch

    return {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh, "gelu": torch.nn.GELU}[name]()


def _fit(build: Callable[[], Any], data: str, params: Params, seed: int, steps: int,
         regression: bool = False, image: bool = False,
         monitor: Monitor | None = None) -> float | None:
    """Build the model from ``seed`` and train it; the final validation loss, None when
    diverged. With ``monitor``, the validation loss is also measured every
    ``steps // EVALS`` steps and passed to it; a False answer stops the run (pruned) and
    returns its last value. Seeding before the model is built makes a training a pure
    function of (params, seed), whatever ran before it in the process."""
    import torch

    torch.manual_seed(seed)
    model = build()
    xt, yt, xv, yv = _data(data)
    if image:
        xt, xv = xt.view(-1, 1, 8, 8), xv.view(-1, 1, 8, 8)
    opt = torch.optim.SGD(model.parameters(), lr=params["lr"], momentum=params["momentum"],
                          weight_decay=params["weight_decay"])
    loss_fn = torch.nn.MSELoss() if regression else torch.nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(seed)
    first = None

    def validate() -> float | None:
        with torch.no_grad():
            out = model(xv)
            value = float(loss_fn(out.squeeze(-1) if regression else out, yv))
        return value if math.isfinite(value) else None

    every = max(1, steps // EVALS)
    for step in range(1, steps + 1):
        batch = torch.randint(0, len(xt), (64,), generator=gen)
        out = model(xt[batch])
        loss = loss_fn(out.squeeze(-1) if regression else out, yt[batch])
        first = first or loss.item()
        if not torch.isfinite(loss) or loss.item() > DIVERGED * first:
            return None  # diverged: the training loss blew up (the playbook's infeasible)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if monitor is not None and step % every == 0 and step < steps:
            value = validate()
            if value is None:
                return None
            if not monitor(step, value):
                return value
    return validate()


def _mlp(inputs: int, outputs: int, params: Params) -> Any:
    import torch

    width = int(params["hidden"])
    return torch.nn.Sequential(torch.nn.Linear(inputs, width), _activation(params["act"]),
                               torch.nn.Linear(width, width), _activation(params["act"]),
                               torch.nn.Linear(width, outputs))


def digits_mlp(params: Params, seed: int, monitor: Monitor | None = None) -> float | None:
    return _fit(lambda: _mlp(64, 10, params), "digits", params, seed, steps=150,
                monitor=monitor)


def diabetes_mlp(params: Params, seed: int, monitor: Monitor | None = None) -> float | None:
    return _fit(lambda: _mlp(10, 1, params), "diabetes", params, seed, steps=150,
                regression=True, monitor=monitor)


def wine_mlp(params: Params, seed: int, monitor: Monitor | None = None) -> float | None:
    return _fit(lambda: _mlp(13, 3, params), "wine", params, seed, steps=100,
                monitor=monitor)


def digits_cnn(params: Params, seed: int, monitor: Monitor | None = None) -> float | None:
    import torch

    c = int(params["channels"])

    def build() -> Any:
        return torch.nn.Sequential(
            torch.nn.Conv2d(1, c, 3, padding=1), _activation(params["act"]),
            torch.nn.MaxPool2d(2), torch.nn.Conv2d(c, c, 3, padding=1),
            _activation(params["act"]), torch.nn.Flatten(), torch.nn.Linear(c * 16, 10))

    return _fit(build, "digits", params, seed, steps=120, image=True, monitor=monitor)


ACT = Dimension("act", ChoiceDomain(("relu", "tanh", "gelu")))
WORKLOADS = {
    "digits-mlp": Workload("digits-mlp", _nuisance(Dimension("hidden", IntDomain(8, 256,
                                                                                 Scale.LOG)),
                                                   ACT), digits_mlp, 150),
    "diabetes-mlp": Workload("diabetes-mlp", _nuisance(Dimension("hidden", IntDomain(
        8, 256, Scale.LOG)), ACT), diabetes_mlp, 150),
    "wine-mlp": Workload("wine-mlp", _nuisance(Dimension("hidden", IntDomain(4, 128,
                                                                             Scale.LOG)),
                                               ACT), wine_mlp, 100),
    "digits-cnn": Workload("digits-cnn", _nuisance(Dimension("channels", IntDomain(2, 16)),
                                                   ACT), digits_cnn, 120),
}
