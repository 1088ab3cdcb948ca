"""Search spaces with the playbook's roles: scientific, nuisance, fixed, conditional.

The playbook (§2.4.1) splits hyperparameters into *scientific* ones (whose effect we want
to measure), *nuisance* ones (which must be optimised away for a fair comparison) and
*fixed* ones. A nuisance parameter may exist only for some scientific values (``beta1``
only when ``optimizer`` is ``adam``); two such parameters with the same name under two
scientific values are different parameters with their own ranges, so they are stored
under distinct keys (``beta1[optimizer=adam]``) while training code sees the plain name.

Every searched dimension maps to and from the unit interval, which is how samplers
(quasi-random, random, grid) stay independent of the parameter types.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import TypeAlias

ParamValue: TypeAlias = float | int | str | bool
Params: TypeAlias = dict[str, ParamValue]


class Role(str, Enum):
    """Why a hyperparameter is in the study (persisted by value; add-only)."""

    SCIENTIFIC = "scientific"
    NUISANCE = "nuisance"
    FIXED = "fixed"


class Scale(str, Enum):
    """How a numeric range is spread over the unit interval."""

    LINEAR = "linear"
    LOG = "log"


def _lerp(low: float, high: float, u: float, scale: Scale) -> float:
    if scale is Scale.LOG:
        return math.exp(math.log(low) + u * (math.log(high) - math.log(low)))
    return low + u * (high - low)


def _unlerp(low: float, high: float, x: float, scale: Scale) -> float:
    if scale is Scale.LOG:
        return (math.log(x) - math.log(low)) / (math.log(high) - math.log(low))
    return (x - low) / (high - low)


def _clip01(u: float) -> float:
    return min(max(u, 0.0), math.nextafter(1.0, 0.0))


@dataclass(frozen=True)
class FloatDomain:
    """A real interval ``[low, high]``, linear or log scaled."""

    low: float
    high: float
    scale: Scale = Scale.LINEAR

    def from_unit(self, u: float) -> float:
        return min(max(_lerp(self.low, self.high, _clip01(u), self.scale), self.low), self.high)

    def to_unit(self, value: ParamValue) -> float:
        return _unlerp(self.low, self.high, float(value), self.scale)

    def grid(self, n: int) -> list[ParamValue]:
        if n == 1:
            return [self.from_unit(0.5)]
        return [self.from_unit(i / (n - 1)) for i in range(n)]

    def contains(self, value: ParamValue) -> bool:
        return isinstance(value, int | float) and self.low <= float(value) <= self.high


@dataclass(frozen=True)
class IntDomain:
    """An integer interval ``[low, high]`` (both included), linear or log scaled.

    Each integer owns an equal slice of the unit interval (equal in log space for a log
    scale), so a uniform point lands on every integer with its fair share.
    """

    low: int
    high: int
    scale: Scale = Scale.LINEAR

    def _edges(self) -> tuple[float, float]:
        if self.scale is Scale.LOG:
            return math.log(self.low), math.log(self.high + 1)
        return float(self.low), float(self.high + 1)

    def from_unit(self, u: float) -> int:
        lo, hi = self._edges()
        x = lo + _clip01(u) * (hi - lo)
        value = math.floor(math.exp(x) if self.scale is Scale.LOG else x)
        return min(max(value, self.low), self.high)

    def to_unit(self, value: ParamValue) -> float:
        lo, hi = self._edges()
        centre = float(value) + 0.5
        x = math.log(centre) if self.scale is Scale.LOG else centre
        return _clip01((x - lo) / (hi - lo))

    def grid(self, n: int) -> list[ParamValue]:
        values = sorted({self.from_unit(i / (n - 1)) if n > 1 else self.from_unit(0.5)
                         for i in range(n)})
        return list(values)

    def contains(self, value: ParamValue) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and (
            self.low <= value <= self.high)


@dataclass(frozen=True)
class ChoiceDomain:
    """A finite set of values: unordered (categorical) or ordered numbers (discrete).

    The unit interval is cut into equal bins, one per value, so quasi-random points
    cover every value evenly.
    """

    values: tuple[ParamValue, ...]
    ordered: bool = False

    def from_unit(self, u: float) -> ParamValue:
        return self.values[min(int(_clip01(u) * len(self.values)), len(self.values) - 1)]

    def to_unit(self, value: ParamValue) -> float:
        return (self.index(value) + 0.5) / len(self.values)

    def index(self, value: ParamValue) -> int:
        for i, candidate in enumerate(self.values):
            if candidate == value and type(candidate) is type(value):
                return i
        for i, candidate in enumerate(self.values):
            if candidate == value:
                return i
        raise ValueError(f"{value!r} is not one of {list(self.values)}")

    def grid(self, n: int) -> list[ParamValue]:
        return list(self.values)

    def contains(self, value: ParamValue) -> bool:
        return any(candidate == value for candidate in self.values)


Domain: TypeAlias = FloatDomain | IntDomain | ChoiceDomain


@dataclass(frozen=True)
class ParamRef:
    """How a study file names one hyperparameter: its plain name, and for a conditional
    one the ``(scientific name, value)`` whose block declares it.

    Workflows and findings address parameters with this, never with the storage key
    (``beta1[optimizer=adam]``), which is not a name the study file knows.
    """

    name: str
    condition: tuple[str, ParamValue] | None = None

    @property
    def key(self) -> str:
        """The storage key: the name, qualified by its condition when it has one."""
        if self.condition is None:
            return self.name
        return f"{self.name}[{self.condition[0]}={self.condition[1]}]"

    def __str__(self) -> str:
        return self.key


@dataclass(frozen=True)
class Dimension:
    """One searched hyperparameter.

    Attributes:
        name: the plain name training code sees (``beta1``).
        domain: the values it may take.
        role: scientific or nuisance.
        condition: for a conditional nuisance parameter, the ``(scientific name, value)``
            under which it exists; ``None`` when it always exists.
    """

    name: str
    domain: Domain
    role: Role = Role.NUISANCE
    condition: tuple[str, ParamValue] | None = None

    @property
    def ref(self) -> ParamRef:
        """How the study file names this dimension (see :class:`ParamRef`)."""
        return ParamRef(self.name, self.condition)

    @property
    def key(self) -> str:
        """The storage key: the name, qualified by its condition when it has one."""
        return self.ref.key

    @property
    def is_log(self) -> bool:
        return getattr(self.domain, "scale", Scale.LINEAR) is Scale.LOG

    def active_for(self, combo: Mapping[str, ParamValue]) -> bool:
        if self.condition is None:
            return True
        name, value = self.condition
        return combo.get(name) == value


@dataclass(frozen=True)
class Space:
    """Fixed values, scientific dimensions (finite sets) and nuisance dimensions.

    Conditional nuisance dimensions sit in ``nuisance`` with their ``condition`` set.
    """

    scientific: tuple[Dimension, ...] = ()
    nuisance: tuple[Dimension, ...] = ()
    fixed: Mapping[str, ParamValue] = field(default_factory=dict)

    def combos(self) -> list[Params]:
        """Every combination of scientific values, in declaration order."""
        names = [d.name for d in self.scientific]
        value_lists = [list(d.domain.values) if isinstance(d.domain, ChoiceDomain)
                       else d.domain.grid(5) for d in self.scientific]
        return [dict(zip(names, values, strict=True))
                for values in itertools.product(*value_lists)]

    def active(self, combo: Mapping[str, ParamValue]) -> list[Dimension]:
        """The nuisance dimensions that exist for this scientific combination."""
        return [d for d in self.nuisance if d.active_for(combo)]

    def dimension(self, key: str) -> Dimension:
        for dim in (*self.scientific, *self.nuisance):
            if dim.key == key:
                return dim
        raise KeyError(key)

    def params_from_unit(self, combo: Mapping[str, ParamValue], u: Sequence[float]) -> Params:
        """Stored params for a scientific combination and a point of the nuisance cube.

        ``u`` has one coordinate per nuisance dimension (conditional ones included, in
        order); coordinates of dimensions inactive for ``combo`` are ignored, so every
        combination draws from the same point sequence.
        """
        if len(u) != len(self.nuisance):
            raise ValueError(f"expected {len(self.nuisance)} coordinates, got {len(u)}")
        params: Params = dict(combo)
        for dim, coord in zip(self.nuisance, u, strict=True):
            if dim.active_for(combo):
                params[dim.key] = dim.domain.from_unit(float(coord))
        return params

    def unit_from_params(self, params: Mapping[str, ParamValue]) -> dict[str, float]:
        """The unit-interval coordinate of every searched value in ``params``, by key."""
        return {key: self.dimension(key).domain.to_unit(value) for key, value in params.items()}

    def plain(self, params: Mapping[str, ParamValue]) -> Params:
        """What training code receives: fixed values plus searched ones by plain name."""
        names = {d.key: d.name for d in (*self.scientific, *self.nuisance)}
        out: Params = dict(self.fixed)
        for key, value in params.items():
            out[names.get(key, key)] = value
        return out

    def combo_of(self, params: Mapping[str, ParamValue]) -> Params:
        """The scientific combination a trial's params belong to."""
        return {d.name: params[d.name] for d in self.scientific if d.name in params}


def combo_label(combo: Mapping[str, ParamValue]) -> str:
    """Scientific values as ``name=value, name=value`` ("(all)" with none): the one label
    used by sub-study names, tables, plots and reports."""
    return ", ".join(f"{k}={v}" for k, v in combo.items()) or "(all)"
