"""More small real trainings, differing in what makes tuning hard (issue 23).

The four workloads of ``_workloads.py`` are all plain SGD with momentum in 5 dimensions
with one diverging region; a sampler tuned on them alone learns that one shape. These add:
Adam-family optimisers, a categorical optimizer choice whose momentum or beta1 matters
only under one of its values (a flat space: both are always sampled), normalisation
placement, integer depth and width, 2 to 10 dimensions, regression, classification and
language modelling, noisy objectives (tiny validation sets), and workloads with and without
a diverging region. Each returns the validation loss, or ``None`` when training diverged.
"""

from __future__ import annotations

import math
import sysconfig
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from benchmarks._workloads import DIVERGED, Params, Workload, _activation, _data
from tunebook.space import ChoiceDomain, Dimension, FloatDomain, IntDomain, Scale, Space


def _float(name: str, low: float, high: float, log: bool = False) -> Dimension:
    return Dimension(name, FloatDomain(low, high, Scale.LOG if log else Scale.LINEAR))


def _int(name: str, low: int, high: int, log: bool = False) -> Dimension:
    return Dimension(name, IntDomain(low, high, Scale.LOG if log else Scale.LINEAR))


def _choice(name: str, *values: str) -> Dimension:
    return Dimension(name, ChoiceDomain(values))


def _optimizer(model: Any, params: Params) -> Any:
    """SGD or Adam(W) from the trial's values; absent values take common defaults."""
    import torch

    kind = params.get("optimizer", "adam")
    lr, wd = params["lr"], params.get("weight_decay", 0.0)
    if kind == "sgd":
        return torch.optim.SGD(model.parameters(), lr=lr, momentum=params.get("momentum", 0.9),
                               weight_decay=wd)
    betas = (params.get("beta1", 0.9), 1.0 - params.get("one_minus_beta2", 1e-3))
    return torch.optim.AdamW(model.parameters(), lr=lr, betas=betas, weight_decay=wd)


def _train(model: Any, params: Params, seed: int, steps: int,
           batch: Callable[[Any], tuple[Any, Any]], loss_fn: Callable[[Any, Any], Any],
           validate: Callable[[], float]) -> float | None:
    """The shared loop: optimizer, linear warmup, optional clipping, divergence check."""
    import torch

    opt = _optimizer(model, params)
    warmup = int(params.get("warmup", 0.0) * steps)
    clip = params.get("clip")
    gen = torch.Generator().manual_seed(seed)
    first = None
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = params["lr"] * min(1.0, (step + 1) / (warmup + 1))
        x, y = batch(gen)
        loss = loss_fn(model(x), y)
        first = first or loss.item()
        if not torch.isfinite(loss) or loss.item() > DIVERGED * first:
            return None
        opt.zero_grad()
        loss.backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
    model.eval()
    with torch.no_grad():
        value = validate()
    return value if math.isfinite(value) else None


def _tabular(data: str, model: Any, params: Params, seed: int, steps: int,
             regression: bool = False, batch_size: int = 64) -> float | None:
    import torch

    xt, yt, xv, yv = _data(data)
    loss_fn: Callable[[Any, Any], Any]
    if regression:
        def loss_fn(out: Any, y: Any) -> Any:
            return torch.nn.functional.mse_loss(out.squeeze(-1), y)
    else:
        loss_fn = torch.nn.functional.cross_entropy

    def batch(gen: Any) -> tuple[Any, Any]:
        rows = torch.randint(0, len(xt), (batch_size,), generator=gen)
        return xt[rows], yt[rows]

    return _train(model, params, seed, steps, batch, loss_fn,
                  lambda: float(loss_fn(model(xv), yv)))


def _mlp(inputs: int, outputs: int, width: int, depth: int, act: str,
         dropout: float = 0.0) -> Any:
    import torch

    layers: list[Any] = []
    for i in range(depth):
        layers += [torch.nn.Linear(inputs if i == 0 else width, width), _activation(act)]
        if dropout:
            layers.append(torch.nn.Dropout(dropout))
    return torch.nn.Sequential(*layers, torch.nn.Linear(width if depth else inputs, outputs))


def _opt_mlp(data: str, inputs: int, outputs: int, steps: int) -> Callable[..., float | None]:
    """An MLP whose optimizer is a categorical choice (momentum: SGD only; beta1: Adam)."""

    def train(params: Params, seed: int, monitor: Any = None) -> float | None:
        import torch

        torch.manual_seed(seed)
        model = _mlp(inputs, outputs, int(params["hidden"]), 2, params["act"])
        return _tabular(data, model, params, seed, steps)

    return train


OPT_SPACE = Space(nuisance=(
    _choice("optimizer", "sgd", "adam"), _float("lr", 1e-4, 1.0, log=True),
    _float("momentum", 0.0, 0.99), _float("beta1", 0.5, 0.99),
    _float("weight_decay", 1e-6, 1e-1, log=True), _int("hidden", 8, 256, log=True),
    _choice("act", "relu", "tanh", "gelu")))


def deep_regression(params: Params, seed: int, monitor: Any = None) -> float | None:
    """10 dimensions: AdamW with warmup and clipping, integer depth/width/batch, dropout."""
    import torch

    torch.manual_seed(seed)
    model = _mlp(10, 1, int(params["width"]), int(params["depth"]), "relu",
                 params["dropout"])
    return _tabular("diabetes", model, params, seed, 150, regression=True,
                    batch_size=int(params["batch_size"]))


DEEP_SPACE = Space(nuisance=(
    _float("lr", 1e-4, 0.3, log=True), _float("beta1", 0.5, 0.99),
    _float("one_minus_beta2", 1e-4, 0.1, log=True), _float("weight_decay", 1e-6, 1.0, log=True),
    _int("depth", 1, 4), _int("width", 8, 256, log=True), _float("dropout", 0.0, 0.5),
    _int("batch_size", 8, 128, log=True), _float("clip", 0.1, 10.0, log=True),
    _float("warmup", 0.0, 0.5)))


def cancer_linear(params: Params, seed: int, monitor: Any = None) -> float | None:
    """2 dimensions, no diverging region: Adam on a linear classifier, a noisy objective
    (small batches, 60 steps, 143 validation rows)."""
    import torch

    torch.manual_seed(seed)
    return _tabular("breast_cancer", torch.nn.Linear(30, 2), params, seed, 60, batch_size=8)


CANCER_SPACE = Space(nuisance=(_float("lr", 1e-4, 0.1, log=True),
                               _float("weight_decay", 1e-6, 1.0, log=True)))


def norm_cnn(params: Params, seed: int, monitor: Any = None) -> float | None:
    """A digits CNN with the normalisation a categorical choice (none, batch, group)."""
    import torch

    torch.manual_seed(seed)
    c, norm = int(params["channels"]), params["norm"]

    def normed() -> Any:
        return {"none": torch.nn.Identity(), "batch": torch.nn.BatchNorm2d(c),
                "group": torch.nn.GroupNorm(1, c)}[norm]

    model = torch.nn.Sequential(
        torch.nn.Unflatten(1, (1, 8, 8)), torch.nn.Conv2d(1, c, 3, padding=1), normed(),
        torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Conv2d(c, c, 3, padding=1), normed(),
        torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Dropout(params["dropout"]),
        torch.nn.Linear(c * 16, 10))
    return _tabular("digits", model, params, seed, 100)


NORM_SPACE = Space(nuisance=(
    _choice("norm", "none", "batch", "group"), _float("lr", 1e-4, 0.3, log=True),
    _float("beta1", 0.5, 0.99), _float("weight_decay", 1e-6, 1e-1, log=True),
    _int("channels", 2, 16), _float("dropout", 0.0, 0.5)))


@cache
def _corpus() -> Any:
    import torch

    root = Path(sysconfig.get_paths()["stdlib"])
    data = b"".join(p.read_bytes() for p in sorted(root.glob("*.py"))[:40])[:400_000]
    return torch.frombuffer(bytearray(data), dtype=torch.uint8).long()


CONTEXT = 32


def charlm(params: Params, seed: int, monitor: Any = None) -> float | None:
    """Language modelling: a one-block byte-level Transformer on the standard library's
    sources, pre- or post-norm (post-norm diverges at learning rates pre-norm survives)."""
    import torch

    torch.manual_seed(seed)
    text = _corpus()
    cut = int(0.9 * len(text))
    d = int(params["d_model"])
    block = torch.nn.TransformerEncoderLayer(d, 1, 2 * d, dropout=0.0, batch_first=True,
                                             norm_first=params["norm"] == "pre")
    embed, head = torch.nn.Embedding(256, d), torch.nn.Linear(d, 256)
    position = torch.nn.Parameter(torch.randn(CONTEXT, d) * 0.02)
    mask = torch.nn.Transformer.generate_square_subsequent_mask(CONTEXT)

    class Model(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed, self.block, self.head, self.position = embed, block, head, position

        def forward(self, tokens: Any) -> Any:
            h = self.block(self.embed(tokens) + self.position, src_mask=mask, is_causal=True)
            return self.head(h)

    model = Model()

    def windows(starts: Any, source: Any) -> tuple[Any, Any]:
        chunk = source[starts[:, None] + torch.arange(CONTEXT + 1)]
        return chunk[:, :-1], chunk[:, 1:]

    def loss_fn(out: Any, y: Any) -> Any:
        return torch.nn.functional.cross_entropy(out.reshape(-1, 256), y.reshape(-1))

    def batch(gen: Any) -> tuple[Any, Any]:
        return windows(torch.randint(0, cut - CONTEXT - 1, (32,), generator=gen), text)

    held = torch.arange(cut, len(text) - CONTEXT - 1, (len(text) - cut) // 128)[:128]

    def validate() -> float:
        x, y = windows(held, text)
        return float(loss_fn(model(x), y))

    return _train(model, params, seed, 120, batch, loss_fn, validate)


LM_SPACE = Space(nuisance=(
    _choice("norm", "pre", "post"), _float("lr", 1e-4, 0.1, log=True),
    _float("beta1", 0.5, 0.99), _float("weight_decay", 1e-6, 1e-1, log=True),
    _int("d_model", 16, 64), _float("warmup", 0.0, 0.5)))


WIDE = {
    "wine-opt": Workload("wine-opt", OPT_SPACE, _opt_mlp("wine", 13, 3, 100), 100),
    "digits-norm": Workload("digits-norm", NORM_SPACE, norm_cnn, 100),
    "digits-opt": Workload("digits-opt", OPT_SPACE, _opt_mlp("digits", 64, 10, 150), 150),
    "diabetes-deep": Workload("diabetes-deep", DEEP_SPACE, deep_regression, 150),
    "cancer-linear": Workload("cancer-linear", CANCER_SPACE, cancer_linear, 60),
    "charlm": Workload("charlm", LM_SPACE, charlm, 120),
}
