"""Default search spaces, in the study file's own format (no torch needed).

Each function returns a ``nuisance`` table: paste it into a study file or merge it into the
dict given to :func:`tunebook.spec.spec_from_dict`.
"""

from __future__ import annotations

from typing import Any

ParamTable = dict[str, dict[str, Any]]

LEARNING_RATE: dict[str, Any] = {"low": 1e-5, "high": 1e-1, "scale": "log"}
BETA1: dict[str, Any] = {"low": 0.5, "high": 0.99}
EPSILON: dict[str, Any] = {"low": 1e-10, "high": 1e-3, "scale": "log"}
BETA2: dict[str, Any] = {"low": 0.9, "high": 0.9999}
MOMENTUM: dict[str, Any] = {"low": 0.5, "high": 0.99}
WEIGHT_DECAY: dict[str, Any] = {"low": 1e-6, "high": 1e-1, "scale": "log"}

#: Trial budgets at which the Adam rule adds a hyperparameter (playbook §5.4).
ADAM_RULE = ((10, "beta1"), (26, "epsilon"), (51, "beta2"))


def adam(budget: int) -> ParamTable:
    """Which Adam hyperparameters a budget of ``budget`` trials can afford to tune.

    The playbook's rule (§5.4): fewer than 10 trials, tune only the learning rate; 10 to 25,
    also beta1; more than 25, also epsilon; with many more (here: over 50), also beta2.
    Tuning more than the budget supports spreads the trials too thin to learn anything.
    """
    if budget < 1:
        raise ValueError(f"budget must be at least 1 trial, got {budget}")
    table: ParamTable = {"learning_rate": dict(LEARNING_RATE)}
    ranges = {"beta1": BETA1, "epsilon": EPSILON, "beta2": BETA2}
    for threshold, name in ADAM_RULE:
        if budget >= threshold:
            table[name] = dict(ranges[name])
    return table


def default_space(optimizer: str, budget: int = 25) -> ParamTable:
    """A reasonable nuisance space for ``optimizer`` (adam-family ones follow :func:`adam`)."""
    name = optimizer.lower()
    if name in ("adam", "adamw", "nadam"):
        table = adam(budget)
        if name == "adamw":
            table["weight_decay"] = dict(WEIGHT_DECAY)
        return table
    if name == "sgd":
        return {"learning_rate": dict(LEARNING_RATE)}
    if name in ("momentum", "nesterov"):
        return {"learning_rate": dict(LEARNING_RATE), "momentum": dict(MOMENTUM)}
    raise ValueError(f"unknown optimizer {optimizer!r}; use one of sgd, momentum, nesterov, "
                     "adam, adamw, nadam")
