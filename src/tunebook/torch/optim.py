"""Optimizers with every hyperparameter named as the playbook names it (§1.2).

``learning_rate``, ``momentum``, ``beta1``, ``beta2``, ``epsilon``, ``weight_decay``: the
same names in the study file, in ``t.params`` and here, so a study's nuisance table maps
straight onto the optimizer. Names that belong to no optimizer are left alone (they are
the model's); a name that belongs to another optimizer, or looks like a typo of one, is an
error, because silently ignoring ``momentum`` for Adam hides a broken study.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

import torch

from tunebook.errors import TunebookError

DEFAULTS: dict[str, float] = {"momentum": 0.9, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8,
                              "weight_decay": 0.0}
ADAM_NAMES = frozenset({"learning_rate", "beta1", "beta2", "epsilon", "weight_decay"})
HYPERPARAMETERS: dict[str, frozenset[str]] = {
    "sgd": frozenset({"learning_rate", "weight_decay"}),
    "momentum": frozenset({"learning_rate", "momentum", "weight_decay"}),
    "nesterov": frozenset({"learning_rate", "momentum", "weight_decay"}),
    "adam": ADAM_NAMES,
    "adamw": ADAM_NAMES,
    "nadam": ADAM_NAMES,
}
ALL_NAMES = frozenset().union(*HYPERPARAMETERS.values())


class OptimizerConfigError(TunebookError, ValueError):
    """An unknown optimizer, a misplaced or misspelt hyperparameter, a missing learning rate."""


def optimizer_hparams(name: str, hp: Mapping[str, Any]) -> dict[str, float]:
    """The hyperparameters of optimizer ``name`` found in ``hp``, defaults filled in.

    Raises:
        OptimizerConfigError: naming the value and the fix.
    """
    key = name.lower()
    if key not in HYPERPARAMETERS:
        raise OptimizerConfigError(f"unknown optimizer {name!r}; use one of "
                                   f"{', '.join(HYPERPARAMETERS)}")
    allowed = HYPERPARAMETERS[key]
    for given in hp:
        if given in allowed or given == "optimizer":
            continue
        if given in ALL_NAMES:
            raise OptimizerConfigError(f"{given!r} is not a hyperparameter of {key}; its "
                                       f"hyperparameters are {sorted(allowed)}")
        close = difflib.get_close_matches(given, sorted(ALL_NAMES), n=1, cutoff=0.8)
        if close:
            raise OptimizerConfigError(f"unknown hyperparameter {given!r}; did you mean "
                                       f"{close[0]!r}?")
    if "learning_rate" not in hp:
        raise OptimizerConfigError(f"{key} needs a learning_rate")
    return {n: float(hp[n]) if n in hp else DEFAULTS[n] for n in sorted(allowed)
            if n in hp or n in DEFAULTS}


def make_optimizer(hp: Mapping[str, Any], params: Iterable[Any],
                   name: str | None = None) -> torch.optim.Optimizer:
    """Build the optimizer ``name`` (default: ``hp["optimizer"]``) from named hyperparameters.

    Args:
        hp: e.g. ``t.params``; keys that belong to no optimizer are ignored.
        params: the model's parameters (or parameter groups).
        name: sgd, momentum, nesterov, adam, adamw or nadam.
    """
    chosen = name or hp.get("optimizer")
    if not chosen:
        raise OptimizerConfigError("no optimizer named: pass name= or set hp['optimizer']")
    key = str(chosen).lower()
    h = optimizer_hparams(key, hp)
    lr, wd = h["learning_rate"], h.get("weight_decay", 0.0)
    if key in ("sgd", "momentum", "nesterov"):
        return torch.optim.SGD(params, lr=lr, momentum=h.get("momentum", 0.0),
                               nesterov=key == "nesterov", weight_decay=wd)
    betas = (h["beta1"], h["beta2"])
    eps = h["epsilon"]
    if key == "adam":
        return torch.optim.Adam(params, lr=lr, betas=betas, eps=eps, weight_decay=wd)
    if key == "adamw":
        return torch.optim.AdamW(params, lr=lr, betas=betas, eps=eps, weight_decay=wd)
    return torch.optim.NAdam(params, lr=lr, betas=betas, eps=eps, weight_decay=wd)
