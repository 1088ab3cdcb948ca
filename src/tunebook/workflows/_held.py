"""Hold a study still but for one or two parameters: the shape of every sweep and probe.

The lr and warmup sweeps, the early-instability check and the batch-size probe each vary
one or two parameters of a study file's configuration and hold the rest at one value: the
study's fixed values, each scientific parameter at its first value (with that value's
conditional parameters), every other searched parameter at the middle of its range
(geometric on a log range), and a ``schedule`` fixed value set to ``constant`` unless the
workflow keeps it. The derived study is a grid over what varies.
"""

from __future__ import annotations

from collections.abc import Mapping

from tunebook._spec_derive import KEEP, Derivation, first_values, middle, searched
from tunebook._spec_model import ParamModel, SamplerModel, Scalar
from tunebook.errors import SpecError
from tunebook.space import ParamRef
from tunebook.spec import StudySpec

#: The fixed values that name a learning-rate schedule (set to constant for a sweep).
SCHEDULE_KEYS = ("schedule", "lr_schedule")


def known(spec: StudySpec, key: str, flag: str) -> None:
    """Refuse a parameter name the study holds nowhere (a typo in ``--key``)."""
    at = first_values(spec.model)
    if key not in searched(spec.model, at) and key not in spec.model.fixed:
        raise SpecError(f"{key!r} is not a nuisance or fixed parameter of {spec.name}; name "
                        f"it with {flag}", path=str(spec.path), field="nuisance")


def held_note(at: Mapping[str, Scalar]) -> str:
    """What a sweep says about the scientific values it held (none: nothing)."""
    if not at:
        return ""
    return ("; scientific " + ", ".join(f"{k} held at {v}" for k, v in at.items())
            + " (the first value of each)")


def held_still(spec: StudySpec, vary: Mapping[str, ParamModel], *, suffix: str,
               description: str, points: int, fixed: Mapping[str, Scalar] | None = None,
               keep_schedule: bool = False, max_steps: int | None = None,
               eval_every: int | None = None) -> StudySpec:
    """The study ``spec`` held still but for ``vary``, a grid of ``points`` trials.

    Args:
        spec: the study file's spec.
        vary: the parameters the new study searches (a range or a list each).
        suffix: the new study is ``NAME-suffix``.
        description: what it is for, in words.
        points: grid points per range (and the budget).
        fixed: values to set on top of the held ones (e.g. a base learning rate).
        keep_schedule: keep the study's schedule instead of setting it to constant.
        max_steps, eval_every: a shorter run (then without pruning, which would cut the
            one run a probe or check is made of).
    """
    at = first_values(spec.model)
    hold: dict[str | ParamRef, Scalar] = {k: middle(p) for k, p in searched(spec.model, at).items()
                               if k not in vary}
    if not keep_schedule:
        hold |= {k: "constant" for k in SCHEDULE_KEYS
                 if (k in hold or k in spec.model.fixed or k in at) and k not in vary}
    hold.update(fixed or {})
    short = max_steps is not None
    return spec.derive(Derivation(
        name=f"{spec.name}-{suffix}", description=description + held_note(at),
        scientific_at=at,
        fixed=hold, search={ParamRef(k): v for k, v in vary.items()}, mode="joint", budget=points,
        sampler=SamplerModel(type="grid", grid_points=max(points, 1),
                             seed=spec.model.sampler.seed),
        max_steps=max_steps if short else KEEP, eval_every=eval_every if short else KEEP,
        pruning=None if short else KEEP))
