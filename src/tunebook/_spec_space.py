"""Turn a validated study file into a :class:`~tunebook.space.Space`.

The pydantic schema checks each field on its own; the rules that span fields live here:
a hyperparameter has one role, conditional blocks are keyed by a scientific value that
exists, ``per_value`` needs a scientific parameter. Each error names the field.
"""

from __future__ import annotations

from collections.abc import Mapping

from tunebook._spec_model import ParamModel, StudyModel
from tunebook.errors import SpecError
from tunebook.space import (
    ChoiceDomain,
    Dimension,
    Domain,
    FloatDomain,
    IntDomain,
    Role,
    Scale,
    Space,
)


def _domain(param: ParamModel) -> Domain:
    kind = param.kind
    if kind in ("categorical", "discrete"):
        values = tuple(param.values or ())
        if kind == "discrete":
            values = tuple(sorted(values, key=float))
        return ChoiceDomain(values=values, ordered=kind == "discrete")
    scale = Scale(param.scale)
    assert param.low is not None and param.high is not None  # checked by ParamModel
    if kind == "int":
        return IntDomain(int(param.low), int(param.high), scale)
    return FloatDomain(param.low, param.high, scale)


#: Columns of ``tunebook trials --format csv|json`` beside the params: a hyperparameter of
#: one of these names would overwrite that column in every export, so it is refused.
RESERVED_NAMES = ("study", "index", "status", "value", "seed", "attempts", "worker", "reason",
                  "started", "finished", "duration_s", "trial_index", "checkpoint_dir")


def _check_name(name: str, where: str, field: str) -> None:
    if not name.strip() or any(ch in name for ch in "[]={}"):
        raise SpecError(f"{name!r} is not a usable hyperparameter name: it must not be empty "
                        "or contain [ ] = { } (a conditional parameter's stored key looks "
                        "like beta1[optimizer=adam], and {name} is a command placeholder); "
                        "rename it, e.g. with letters, digits and _", path=where, field=field)
    if name in RESERVED_NAMES or name.startswith("metric."):
        raise SpecError(f"{name!r} is a reserved name (trial exports use the columns "
                        f"{', '.join(RESERVED_NAMES)} and metric.*); rename the "
                        f"hyperparameter, e.g. {name.replace('.', '_')}_hp",
                        path=where, field=field)


def build_space(model: StudyModel, where: str) -> Space:
    """Turn the validated tables into a :class:`Space`, checking cross-field rules."""
    seen: dict[str, str] = {}

    def claim(name: str, section: str) -> None:
        _check_name(name, where, f"{section}.{name}")
        if name in seen:
            raise SpecError(f"{name!r} is also declared under {seen[name]}; a hyperparameter "
                            "has one role, so keep it in one section", path=where,
                            field=f"{section}.{name}")
        seen[name] = section

    for name in model.fixed:
        claim(name, "fixed")
    scientific = []
    for name, param in model.scientific.items():
        claim(name, "scientific")
        scientific.append(Dimension(name, _domain(param), Role.SCIENTIFIC))
    nuisance = []
    for name, param in model.nuisance.items():
        claim(name, "nuisance")
        nuisance.append(Dimension(name, _domain(param), Role.NUISANCE))
    nuisance += _conditionals(model, scientific, seen, where)
    if model.sampler.type == "bayes" and not nuisance:
        raise SpecError("bayes optimises the nuisance parameters, and none is declared; add "
                        "one, or use sampler: quasi_random", path=where, field="sampler.type")
    if model.mode == "per_value" and not scientific:
        raise SpecError("per_value runs one sub-study per scientific value, but no scientific "
                        "parameter is declared; add one or use mode: joint",
                        path=where, field="mode")
    return Space(tuple(scientific), tuple(nuisance), dict(model.fixed))


def _conditionals(model: StudyModel, scientific: list[Dimension], seen: Mapping[str, str],
                  where: str) -> list[Dimension]:
    by_name = {d.name: d for d in scientific}
    dims = []
    for sci_name, per_value in model.conditional.items():
        field = f"conditional.{sci_name}"
        sci = by_name.get(sci_name)
        if sci is None:
            raise SpecError(f"{sci_name!r} is not a scientific parameter; conditional blocks "
                            f"are keyed by one of {sorted(by_name) or 'the scientific names'}",
                            path=where, field=field)
        assert isinstance(sci.domain, ChoiceDomain)
        known = {str(v): v for v in sci.domain.values}
        for value_text, table in per_value.items():
            if value_text not in known:
                raise SpecError(f"{value_text!r} is not a value of scientific parameter "
                                f"{sci_name!r}; use one of {list(known)}",
                                path=where, field=f"{field}.{value_text}")
            for name, param in table.items():
                _check_name(name, where, f"{field}.{value_text}.{name}")
                if name in seen:
                    raise SpecError(f"{name!r} is already declared under {seen[name]}; "
                                    "rename the conditional one", path=where,
                                    field=f"{field}.{value_text}.{name}")
                dims.append(Dimension(name, _domain(param), Role.NUISANCE,
                                      condition=(sci_name, known[value_text])))
    return dims
