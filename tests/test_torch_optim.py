"""Optimizers by playbook names, default spaces and the Adam budget rule, schedules."""

from __future__ import annotations

import math

import pytest
import torch

from tunebook import spaces
from tunebook.torch import (
    OptimizerConfigError,
    Schedule,
    ScheduleError,
    lr_factor,
    make_optimizer,
    make_schedule,
    round2_transfer,
)


def _params() -> list[torch.nn.Parameter]:
    return list(torch.nn.Linear(3, 2).parameters())


@pytest.mark.parametrize(("name", "cls"), [
    ("sgd", torch.optim.SGD), ("momentum", torch.optim.SGD), ("nesterov", torch.optim.SGD),
    ("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW), ("nadam", torch.optim.NAdam)])
def test_every_optimizer_takes_playbook_names(name: str, cls: type) -> None:
    hp: dict[str, object] = {"optimizer": name, "learning_rate": 0.01, "weight_decay": 0.1,
                             "activation": "relu"}  # a model hyperparameter: ignored
    if name in ("momentum", "nesterov"):
        hp["momentum"] = 0.8
    if name.startswith(("adam", "nadam")):
        hp.update(beta1=0.7, beta2=0.95, epsilon=1e-6)
    opt = make_optimizer(hp, _params())
    group = opt.param_groups[0]
    assert type(opt) is cls and group["lr"] == 0.01 and group["weight_decay"] == 0.1
    if name in ("momentum", "nesterov"):
        assert group["momentum"] == 0.8 and group["nesterov"] == (name == "nesterov")
    if cls is not torch.optim.SGD:
        assert group["betas"] == (0.7, 0.95) and group["eps"] == 1e-6


@pytest.mark.parametrize(("hp", "words"), [
    ({"optimizer": "adagrad", "learning_rate": 0.1}, "unknown optimizer 'adagrad'"),
    ({"optimizer": "adam", "learning_rate": 0.1, "momentum": 0.9},
     "'momentum' is not a hyperparameter of adam"),
    ({"optimizer": "sgd", "learnig_rate": 0.1}, "did you mean 'learning_rate'"),
    ({"optimizer": "adam"}, "needs a learning_rate"),
    ({"learning_rate": 0.1}, "no optimizer named"),
])
def test_bad_optimizer_config_names_the_value(hp: dict[str, object], words: str) -> None:
    with pytest.raises(OptimizerConfigError, match=words):
        make_optimizer(hp, _params())


@pytest.mark.parametrize(("budget", "names"), [
    (5, {"learning_rate"}), (9, {"learning_rate"}), (10, {"learning_rate", "beta1"}),
    (25, {"learning_rate", "beta1"}), (26, {"learning_rate", "beta1", "epsilon"}),
    (50, {"learning_rate", "beta1", "epsilon"}),
    (51, {"learning_rate", "beta1", "epsilon", "beta2"})])
def test_adam_budget_rule(budget: int, names: set[str]) -> None:
    assert set(spaces.adam(budget)) == names


def test_default_spaces_are_valid_study_tables() -> None:
    from tunebook.spec import spec_from_dict

    for optimizer in ("sgd", "momentum", "nesterov", "adam", "adamw", "nadam"):
        table = spaces.default_space(optimizer, budget=60)
        spec = spec_from_dict({"name": "x", "objective": {"metric": "loss"},
                               "trainer": {"train": "m:f"}, "budget": 1, "nuisance": table})
        assert {d.name for d in spec.space.nuisance} == set(table)
    with pytest.raises(ValueError, match="unknown optimizer"):
        spaces.default_space("rmsprop")


def _closed_form(kind: str, step: int, total: int, warmup: int) -> float:
    if step < warmup:
        return step / warmup
    if kind == "constant":
        return 1.0
    progress = (step - warmup) / (total - warmup)
    return 1 - progress if kind == "linear" else 0.5 * (1 + math.cos(math.pi * progress))


@pytest.mark.parametrize("kind", ["constant", "linear", "cosine"])
@pytest.mark.parametrize("warmup", [0, 100])
def test_schedule_lr_matches_the_closed_form(kind: str, warmup: int) -> None:
    total, base = 1000, 0.4
    opt = make_optimizer({"optimizer": "sgd", "learning_rate": base}, _params())
    schedule = Schedule(kind, base, total, warmup_steps=warmup)  # type: ignore[arg-type]
    scheduler = make_schedule(opt, schedule)
    seen = {}
    for step in range(total + 1):
        seen[step] = opt.param_groups[0]["lr"]
        opt.step()
        scheduler.step()
    for step in (0, warmup, (warmup + total) // 2, total - 1, total):
        expected = base * _closed_form(kind, step, total, warmup)
        assert seen[step] == pytest.approx(expected, abs=1e-12)
        assert schedule.lr(step) == pytest.approx(expected, abs=1e-12)
    assert seen[0] == (0.0 if warmup else base)


def test_bad_schedules_are_clear() -> None:
    with pytest.raises(ScheduleError, match=r"warmup_steps \(100\) must be below max_train"):
        Schedule("cosine", 0.1, 100, warmup_steps=100)
    with pytest.raises(ScheduleError, match="unknown schedule 'step'"):
        Schedule("step", 0.1, 100)  # type: ignore[arg-type]


def test_round2_linear_keeps_decay_length_and_extends_constant_phase() -> None:
    r1 = Schedule("linear", 0.1, 1000, warmup_steps=100)
    r2 = round2_transfer(r1, 4000)
    assert r2.max_train_steps == 4000 and r2.decay_steps == 900 and r2.base_lr == 0.1
    assert lr_factor(r2, 100) == 1.0 and lr_factor(r2, 3100) == 1.0  # constant phase
    assert lr_factor(r2, 3550) == pytest.approx(lr_factor(r1, 550))  # same decay shape
    assert lr_factor(r2, 4000) == 0.0


def test_round2_cosine_keeps_base_lr_and_stretches() -> None:
    r1 = Schedule("cosine", 0.1, 1000, warmup_steps=50)
    r2 = round2_transfer(r1, 3000)
    assert (r2.base_lr, r2.max_train_steps, r2.warmup_steps) == (0.1, 3000, 50)
    assert lr_factor(r2, 1525) == pytest.approx(0.5)  # midpoint of the longer decay
    with pytest.raises(ScheduleError, match="shorter"):
        round2_transfer(r1, 500)
