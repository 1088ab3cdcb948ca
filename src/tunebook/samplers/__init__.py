"""Samplers: choose a new trial's params (see :class:`Sampler` for the contract)."""

from __future__ import annotations

from pathlib import Path

from tunebook._spec_model import SamplerModel
from tunebook.errors import SpecError
from tunebook.samplers.base import Ask, IndexedSampler, Sampler
from tunebook.samplers.grid import GridSampler
from tunebook.samplers.quasirandom import QuasiRandomSampler
from tunebook.samplers.random import RandomSampler


def make_sampler(model: SamplerModel, folder: Path | None = None) -> Sampler:
    """The sampler a study file asks for (a ``custom`` factory is imported from ``folder``)."""
    if model.type == "random":
        return RandomSampler(seed=model.seed)
    if model.type == "grid":
        return GridSampler(grid_points=model.grid_points)
    if model.type == "custom":
        return _custom(model, folder)
    if model.type == "bayes":
        from tunebook.samplers.bayes import BayesSampler  # scipy's optimiser, on demand

        return BayesSampler(seed=model.seed)
    return QuasiRandomSampler(seed=model.seed)


def _custom(model: SamplerModel, folder: Path | None) -> Sampler:
    import importlib

    from tunebook import trainer

    assert model.factory is not None  # checked by SamplerModel
    ref = trainer.TrainerRef.parse(model.factory)
    with trainer.on_sys_path(folder or Path.cwd()):
        try:
            factory = getattr(importlib.import_module(ref.module), ref.function)
        except (ImportError, AttributeError) as exc:
            raise SpecError(f"cannot load sampler factory {ref} ({exc})",
                            field="sampler.factory") from None
    sampler: Sampler = factory(seed=model.seed)
    return sampler


__all__ = ["Ask", "GridSampler", "IndexedSampler", "QuasiRandomSampler", "RandomSampler",
           "Sampler", "make_sampler"]
