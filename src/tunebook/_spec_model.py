"""Pydantic models of the study file: the schema, field by field (`tunebook spec`).

Kept apart from :mod:`tunebook.spec`, which turns a validated file into a
:class:`~tunebook.space.Space` and checks what needs the file system (the trainer).
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tunebook.trainer import TrainerRef

Scalar = bool | int | float | str
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"


_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float:
    """``90s``, ``30m``, ``2h``, ``1d``, ``1h30m`` or plain seconds, as seconds."""
    import re

    parts = re.fullmatch(r"\s*(?:(\d+(?:\.\d+)?)\s*([smhd])\s*)+", text)
    if parts is None:
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a duration; write e.g. 90s, 30m, 2h or "
                             "1h30m") from None
    return sum(float(n) * _UNITS[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)\s*([smhd])", text))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ParamModel(_Strict):
    """One searched hyperparameter: a numeric range or a list of values."""

    type: Literal["float", "int", "categorical", "discrete"] | None = None
    low: float | None = None
    high: float | None = None
    scale: Literal["linear", "log"] = "linear"
    values: list[Scalar] | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, list):
            return {"values": data}
        if not isinstance(data, dict):
            raise ValueError(
                "expected a range such as {low: 0.001, high: 0.1, scale: log} "
                "or a list of values such as [relu, tanh]")
        return data

    @model_validator(mode="after")
    def _check(self) -> ParamModel:
        if self.values is not None:
            return self._check_values()
        return self._check_range()

    def _check_values(self) -> ParamModel:
        if self.low is not None or self.high is not None:
            raise ValueError("give either values or low/high, not both")
        if self.type in ("float", "int"):
            raise ValueError(f"type {self.type} takes low/high, not values")
        if not self.values:
            raise ValueError("values is empty; list at least one value")
        if len({repr(v) for v in self.values}) != len(self.values):
            raise ValueError("values has duplicates; list each value once")
        if self.type == "discrete" and not all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in self.values):
            raise ValueError("discrete values must be numbers; use type: categorical for names")
        return self

    def _check_range(self) -> ParamModel:
        if self.type in ("categorical", "discrete"):
            raise ValueError(f"type {self.type} needs values: [...]")
        if self.low is None or self.high is None:
            raise ValueError("a range needs both low and high (or give values: [...])")
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            raise ValueError("low and high must be finite numbers")
        if self.low >= self.high:
            raise ValueError(
                f"low ({self.low:g}) is not below high ({self.high:g}); swap the bounds, "
                "or move a single value to fixed")
        if self.scale == "log" and self.low <= 0:
            raise ValueError(
                f"a log range must be positive, but low is {self.low:g}; use a small positive "
                "low such as 1e-6, or scale: linear")
        if self.type == "int" and not (self.low.is_integer() and self.high.is_integer()):
            raise ValueError("an int range needs whole-number low and high")
        return self

    @property
    def kind(self) -> str:
        if self.values is not None:
            return self.type or "categorical"
        return self.type or "float"


class ObjectiveModel(_Strict):
    """The metric to optimise, its direction, and which evaluation counts."""

    metric: str = Field(min_length=1)
    goal: Literal["minimize", "maximize"] = "minimize"
    select: Literal["best", "last"] = "best"


class TrainerModel(_Strict):
    """What to run for a trial: a Python ``module:function`` or a shell command template."""

    train: str | None = None
    command: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> TrainerModel:
        if (self.train is None) == (self.command is None):
            raise ValueError(
                "give exactly one of train: module:function or command: \"python train.py ...\"")
        if self.train is not None:
            TrainerRef.parse(self.train)  # a ValueError names the expected shape
        return self

    @property
    def ref(self) -> TrainerRef | None:
        """The parsed ``module:function`` (None for a command trainer)."""
        return TrainerRef.parse(self.train) if self.train is not None else None


class BudgetModel(_Strict):
    """How many trials the study may run in total."""

    trials: int = Field(ge=1)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"trials": data} if isinstance(data, int) and not isinstance(data, bool) else data


#: The search algorithms a study file may name (the one list: errors and docs read it).
SamplerType = Literal["quasi_random", "random", "grid", "bayes", "custom"]
SAMPLER_TYPES: tuple[str, ...] = get_args(SamplerType)


class SamplerModel(_Strict):
    """The search algorithm and its seed (quasi-random search by default, §2.2)."""

    type: SamplerType = "quasi_random"
    seed: int = 0
    grid_points: int = Field(default=5, ge=1)
    #: ``module:function`` returning a sampler (``type: custom``), called with ``seed=``.
    factory: str | None = None
    #: ``type: bayes``: the study (or a list of studies) that searched the same nuisance
    #: parameters, whose trials inside this one's ranges the model learns from first.
    warm_start: str | list[str] | None = None

    @property
    def warm_sources(self) -> tuple[str, ...]:
        """The studies named by ``warm_start``, in order (none without one)."""
        if self.warm_start is None:
            return ()
        return (self.warm_start,) if isinstance(self.warm_start, str) else tuple(
            self.warm_start)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"type": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _factory_with_custom(self) -> SamplerModel:
        if (self.type == "custom") != (self.factory is not None):
            raise ValueError("type: custom takes factory: module:function (a function that "
                             "returns a sampler), and factory needs type: custom")
        if self.factory is not None:
            TrainerRef.parse(self.factory)
        if self.warm_start == []:
            raise ValueError("warm_start: name at least one study (or leave it out)")
        if self.warm_start is not None and self.type != "bayes":
            raise ValueError("warm_start needs type: bayes (the other samplers do not learn "
                             "from trials)")
        return self


class ResourcesModel(_Strict):
    """What one trial needs: CPUs and GPUs (locally, cards of its own through
    ``CUDA_VISIBLE_DEVICES``, see :mod:`tunebook.runner.devices`; on Ray, the task's
    resources)."""

    cpus: float = Field(default=1.0, ge=0)
    gpus: float = Field(default=0.0, ge=0)


class PruningModel(_Strict):
    """Opt-in early stopping of clearly worse trials (the playbook's default is none).

    ``percentile``: a trial is compared, at equal step, with the finished trials' best
    value up to that step, and stopped when it is worse than their ``percentile`` (50: the
    median), only after the ``grace`` share of ``max_steps`` and once ``min_trials`` trials
    have finished.

    ``asha`` (asynchronous successive halving): rungs at ``grace`` × ``max_steps`` × η^k
    (η = ``reduction_factor``); at each rung a trial goes on only if its best value so far
    is among the best ``n // η`` of the ``n`` trials (running, finished or pruned) that
    reached that rung, once ``min_trials`` have.
    """

    type: Literal["percentile", "asha"] = "percentile"
    percentile: float = Field(default=50.0, gt=0, lt=100)
    reduction_factor: int = Field(default=3, ge=2, le=10)
    grace: float = Field(default=1 / 3, ge=1 / 3, lt=1)
    min_trials: int = Field(default=5, ge=1)


ParamTable = dict[str, ParamModel]


class StudyModel(_Strict):
    """The whole study file."""

    name: Annotated[str, Field(pattern=NAME_PATTERN, max_length=200)]
    description: str = ""
    #: The question a series of studies answers together (rounds of one experiment).
    experiment: Annotated[str, Field(pattern=NAME_PATTERN, max_length=200)] | None = None
    objective: ObjectiveModel
    trainer: TrainerModel
    fixed: dict[str, Scalar] = {}
    scientific: ParamTable = {}
    nuisance: ParamTable = {}
    conditional: dict[str, dict[str, ParamTable]] = {}
    budget: BudgetModel
    sampler: SamplerModel = SamplerModel()
    mode: Literal["joint", "per_value"] = "joint"
    max_steps: int | None = Field(default=None, ge=1)
    eval_every: int | None = Field(default=None, ge=1)
    resources: ResourcesModel = ResourcesModel()
    #: Seconds a trial may run before it is killed and failed (``2h``, ``30m``, ``90s``).
    timeout: float | None = Field(default=None, gt=0)
    pruning: PruningModel | None = None

    @field_validator("timeout", mode="before")
    @classmethod
    def _duration(cls, data: Any) -> Any:
        if isinstance(data, bool):
            raise ValueError("timeout takes a duration such as 2h, 30m or 90s, not true/false")
        return parse_duration(data) if isinstance(data, str) else data

    @field_validator("fixed", mode="before")
    @classmethod
    def _scalars(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key, value in data.items():
                if isinstance(value, list | dict):
                    raise ValueError(
                        f"{key!r}: a fixed value is one number, text or true/false, not a "
                        f"{'list' if isinstance(value, list) else 'mapping'}; to compare or "
                        f"search values, move it under nuisance (or scientific) as a list")
        return data

    @model_validator(mode="after")
    def _pruning_needs_steps(self) -> StudyModel:
        if self.pruning is not None and (self.max_steps is None or self.eval_every is None):
            raise ValueError("pruning compares trials at equal steps: set max_steps and "
                             "eval_every (and report the objective every eval_every steps)")
        return self

    @model_validator(mode="after")
    def _eval_within_steps(self) -> StudyModel:
        if self.eval_every is not None and self.max_steps is not None \
                and self.eval_every > self.max_steps:
            raise ValueError(f"eval_every ({self.eval_every}) is above max_steps "
                             f"({self.max_steps}): no trial would ever evaluate; lower "
                             "eval_every or raise max_steps")
        return self

    @field_validator("conditional", mode="before")
    @classmethod
    def _stringify_values(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: {str(v): t for v, t in vals.items()} if isinstance(vals, dict) else vals
                    for k, vals in data.items()}
        return data

    @field_validator("scientific")
    @classmethod
    def _scientific_are_sets(cls, table: ParamTable) -> ParamTable:
        for name, param in table.items():
            if param.values is None:
                raise ValueError(
                    f"scientific parameter {name!r} needs a list of values to compare "
                    f"(e.g. {name}: [a, b, c]); a range belongs under nuisance")
        return table
