"""One typed derivation: how every workflow makes a new study from an old one.

A sweep, a probe, a seed re-run, round 2 and ``next`` all start from a study the user
wrote (or one already stored) and change a few things: hold some parameters at a value,
search another over a new range, move a bound, train longer, drop pruning, rename. They
all do it here, on the typed :class:`~tunebook._spec_model.StudyModel`, never on the text
of the file: a value keeps its type (``1e-4`` stays a float), a conditional parameter is
addressed by its :class:`~tunebook.space.ParamRef` (the scientific value whose block
declares it), and the result is validated by the same model as ``tunebook run``'s
(:meth:`tunebook.spec.StudySpec.derive`).

``next``'s edits are :class:`Change` records: data (what, where, the new value, why, the
statistic behind it) that become a :class:`Derivation` here and, for the file the user
reads, a round-trip edit of their YAML (:mod:`tunebook._spec_yaml`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal, assert_never

from pydantic import ValidationError

from tunebook._spec_model import ParamModel, PruningModel, SamplerModel, Scalar, StudyModel
from tunebook.errors import SpecError
from tunebook.space import ParamRef

Edge = Literal["low", "high"]


class _Keep(Enum):
    KEEP = "keep"


#: The default of a :class:`Derivation` field whose value may also be ``None``: keep it.
KEEP = _Keep.KEEP

ParamTable = dict[str, ParamModel]


@dataclass(frozen=True)
class Derivation:
    """What a derived study changes; a field left at its default keeps the old value.

    Attributes:
        name, description, experiment: the new study's words.
        scientific_at: hold these scientific parameters at one of their values: each
            becomes a fixed value, its conditional block for that value becomes plain
            nuisance parameters, and its other blocks go.
        fixed: set fixed values. A plain name searched under ``nuisance`` (or in any
            conditional block) stops being searched; a conditional :class:`ParamRef` is
            held at the value inside its own block (the other values' blocks keep theirs).
        search: search these parameters over a new range or list (a fixed value of that
            name stops being fixed); a conditional ref is searched inside its block.
        bounds: move ``low``/``high`` of a searched range.
        max_steps, eval_every, pruning, timeout: the training length and its reading;
            ``None`` removes an optional one.
        sampler, budget, mode: how the new study searches.
    """

    name: str | None = None
    description: str | None = None
    experiment: str | _Keep | None = KEEP
    scientific_at: Mapping[str, Scalar] = field(default_factory=dict)
    fixed: Mapping[str | ParamRef, Scalar] = field(default_factory=dict)
    search: Mapping[str | ParamRef, ParamModel] = field(default_factory=dict)
    bounds: Mapping[ParamRef, Mapping[Edge, float]] = field(default_factory=dict)
    max_steps: int | _Keep | None = KEEP
    eval_every: int | _Keep | None = KEEP
    pruning: PruningModel | _Keep | None = KEEP
    timeout: float | _Keep | None = KEEP
    sampler: SamplerModel | None = None
    budget: int | None = None
    mode: Literal["joint", "per_value"] | None = None


class ChangeKind(str, Enum):
    """What ``next`` (and the autopilot) may change in a study (persisted by value)."""

    WIDEN = "widen"        # move a bound outward: the best trials crowd it
    CUT = "cut"            # move a bound inward: trials beyond it are infeasible
    FIX = "fix"            # stop searching a parameter: it shows no effect worth keeping
    BUDGET = "budget"      # more trials
    STEPS = "steps"        # train longer (or shorter)
    SAMPLER = "sampler"    # switch the search algorithm (exploit with bayes)


@dataclass(frozen=True)
class Change:
    """One typed edit of a study, with the reason and the statistic behind it.

    Attributes:
        kind: what kind of edit.
        value: the new value: a bound (``widen``/``cut``), the fixed value (``fix``), the
            trial count (``budget``), ``max_steps`` (``steps``), a :class:`SamplerModel`
            (``sampler``).
        reason: one line a person can check against :attr:`statistic`.
        target: the parameter (``widen``/``cut``/``fix``).
        edge: which bound (``widen``/``cut``).
        statistic: the numbers behind the decision, by name.
        thin: (``budget``) more trials because the study sampled its space too thinly to
            be read (the sampling check), not because the search still pays off.
    """

    kind: ChangeKind
    value: Any
    reason: str
    target: ParamRef | None = None
    edge: Edge | None = None
    statistic: Mapping[str, float] = field(default_factory=dict)
    thin: bool = False

    @property
    def searching(self) -> bool:
        """More trials asked because the search still pays off: that is exploitation's
        work, not a fault of the space."""
        return self.kind is ChangeKind.BUDGET and not self.thin

    @property
    def where(self) -> str:
        """The field the change edits, as the study file names it (for messages)."""
        if self.kind in (ChangeKind.WIDEN, ChangeKind.CUT) and self.target is not None:
            return f"{_section(self.target)}.{self.target.name}.{self.edge}"
        if self.kind is ChangeKind.FIX and self.target is not None:
            if self.target.condition is not None:
                return f"{_section(self.target)}.{self.target.name}"
            return f"fixed.{self.target.name}"
        return {ChangeKind.BUDGET: "budget", ChangeKind.STEPS: "max_steps",
                ChangeKind.SAMPLER: "sampler"}.get(self.kind, self.kind.value)


def _section(ref: ParamRef) -> str:
    if ref.condition is None:
        return "nuisance"
    return f"conditional.{ref.condition[0]}.{ref.condition[1]}"


def from_changes(changes: Iterable[Change], **words: Any) -> Derivation:
    """The one :class:`Derivation` that makes ``changes`` (plus ``name=`` and the like)."""
    bounds: dict[ParamRef, dict[Edge, float]] = {}
    fixed: dict[str | ParamRef, Scalar] = {}
    scalars: dict[str, Any] = {}
    for change in changes:
        if change.kind is ChangeKind.WIDEN or change.kind is ChangeKind.CUT:
            if change.target is None or change.edge is None:
                raise ValueError(f"a {change.kind.value} change needs a target and an edge")
            bounds.setdefault(change.target, {})[change.edge] = float(change.value)
        elif change.kind is ChangeKind.FIX:
            if change.target is None:
                raise ValueError("a fix change needs a target")
            fixed[change.target if change.target.condition else change.target.name] = \
                change.value
        elif change.kind is ChangeKind.BUDGET:
            scalars["budget"] = int(change.value)
        elif change.kind is ChangeKind.STEPS:
            scalars["max_steps"] = int(change.value)
        elif change.kind is ChangeKind.SAMPLER:
            scalars["sampler"] = change.value
        else:
            assert_never(change.kind)
    return Derivation(fixed=fixed, bounds=bounds, **scalars, **words)


def derived_fields(model: StudyModel, change: Derivation, where: str) -> dict[str, Any]:
    """The fields of the study ``change`` makes from ``model``, ready to validate.

    Raises:
        SpecError: a change names a parameter the study does not have (``where`` names
            the study it was derived from).
    """
    tables = _Tables.of(model)
    for name, value in change.scientific_at.items():
        tables.hold_scientific(name, value, where)
    for target, value in change.fixed.items():
        tables.fix(_ref(target), value, where)
    for target, param in change.search.items():
        tables.search(_ref(target), param)
    for ref, edges in change.bounds.items():
        tables.move(ref, edges, where)
    fields = {name: getattr(model, name) for name in type(model).model_fields}
    fields |= tables.fields()
    if not tables.scientific and fields["mode"] == "per_value":
        fields["mode"] = "joint"  # nothing left to split by
    for name in ("name", "description", "sampler", "budget", "mode"):
        if (value := getattr(change, name)) is not None:
            fields[name] = value
    for name in ("experiment", "max_steps", "eval_every", "pruning", "timeout"):
        if (value := getattr(change, name)) is not KEEP:
            fields[name] = value
    return fields


def _ref(target: str | ParamRef) -> ParamRef:
    return ParamRef(target) if isinstance(target, str) else target


@dataclass
class _Tables:
    """The study's parameter tables as mutable copies, edited by the derivation."""

    fixed: dict[str, Scalar]
    scientific: ParamTable
    nuisance: ParamTable
    conditional: dict[str, dict[str, ParamTable]]

    @classmethod
    def of(cls, model: StudyModel) -> _Tables:
        return cls(dict(model.fixed), dict(model.scientific), dict(model.nuisance),
                   {k: {v: dict(t) for v, t in blocks.items()}
                    for k, blocks in model.conditional.items()})

    def fields(self) -> dict[str, Any]:
        return {"fixed": self.fixed, "scientific": self.scientific, "nuisance": self.nuisance,
                "conditional": {k: v for k, v in self.conditional.items() if v}}

    def hold_scientific(self, name: str, value: Scalar, where: str) -> None:
        param = self.scientific.pop(name, None)
        if param is None:
            raise SpecError(f"{name!r} is not a scientific parameter of this study",
                            path=where, field=f"scientific.{name}")
        typed = next((v for v in param.values or () if str(v) == str(value)), None)
        if typed is None:
            raise SpecError(f"{value!r} is not a value of {name!r}; use one of "
                            f"{param.values}", path=where, field=f"scientific.{name}")
        self.fixed[name] = typed
        blocks = self.conditional.pop(name, {})
        self.nuisance.update(blocks.get(str(typed), {}))

    def _block(self, ref: ParamRef, where: str, *, create: bool = False) -> ParamTable:
        if ref.condition is None:
            return self.nuisance
        sci, value = ref.condition
        blocks = self.conditional.get(sci)
        if blocks is None or (str(value) not in blocks and not create):
            raise SpecError(f"no conditional block for {sci} = {value}", path=where,
                            field=f"conditional.{sci}")
        return blocks.setdefault(str(value), {})

    def fix(self, ref: ParamRef, value: Scalar, where: str) -> None:
        if ref.condition is not None:
            block = self._block(ref, where)
            if ref.name not in block:
                raise SpecError(f"{ref.name!r} is not declared under {_section(ref)}",
                                path=where, field=f"{_section(ref)}.{ref.name}")
            block[ref.name] = ParamModel(values=[value])
            return
        if ref.name in self.scientific:
            raise SpecError(f"{ref.name!r} is scientific: hold it with scientific_at, not "
                            "as a fixed value", path=where, field=f"scientific.{ref.name}")
        self.nuisance.pop(ref.name, None)
        for blocks in self.conditional.values():
            for table in blocks.values():
                table.pop(ref.name, None)
        self.fixed[ref.name] = value

    def search(self, ref: ParamRef, param: ParamModel) -> None:
        if ref.condition is None:
            self.fixed.pop(ref.name, None)
        self._block(ref, "", create=True)[ref.name] = param

    def move(self, ref: ParamRef, edges: Mapping[Edge, float], where: str) -> None:
        block = self._block(ref, where)
        param = block.get(ref.name)
        field_name = f"{_section(ref)}.{ref.name}"
        if param is None or param.values is not None:
            raise SpecError(f"{ref.name!r} is not a searched range of this study, so it has "
                            "no bound to move", path=where, field=field_name)
        data = param.model_dump() | dict(edges)
        try:
            block[ref.name] = ParamModel.model_validate(data)
        except ValidationError as exc:
            why = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
            raise SpecError(f"moving a bound gives an invalid range: {why}", path=where,
                            field=field_name) from None


def middle(param: ParamModel) -> Scalar:
    """One representative value of a searched parameter: the middle of a range (geometric
    on a log scale, to 4 significant digits; rounded for an int), else the first listed."""
    import math

    if param.values is not None:
        return param.values[0]
    low, high = float(param.low or 0.0), float(param.high or 0.0)
    mid = math.sqrt(low * high) if param.scale == "log" else (low + high) / 2
    return round(mid) if param.kind == "int" else float(f"{mid:.4g}")


def searched(model: StudyModel, scientific_at: Mapping[str, Scalar]) -> dict[str, ParamModel]:
    """The nuisance parameters a study searches once its scientific parameters are held at
    ``scientific_at``: the plain ones and those of the matching conditional blocks."""
    out = dict(model.nuisance)
    for name, blocks in model.conditional.items():
        if name in scientific_at:
            out |= blocks.get(str(scientific_at[name]), {})
    return out


def first_values(model: StudyModel) -> dict[str, Scalar]:
    """Each scientific parameter at its first listed value."""
    return {name: (param.values or [""])[0] for name, param in model.scientific.items()}

