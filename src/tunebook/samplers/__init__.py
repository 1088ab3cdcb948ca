"""Samplers: turn trial indices into params (see :class:`Sampler` for the contract)."""

from __future__ import annotations

from tunebook._spec_model import SamplerModel
from tunebook.samplers.base import Sampler
from tunebook.samplers.grid import GridSampler
from tunebook.samplers.quasirandom import QuasiRandomSampler
from tunebook.samplers.random import RandomSampler


def make_sampler(model: SamplerModel) -> Sampler:
    """The sampler a study file asks for."""
    if model.type == "random":
        return RandomSampler(seed=model.seed)
    if model.type == "grid":
        return GridSampler(grid_points=model.grid_points)
    return QuasiRandomSampler(seed=model.seed)


__all__ = ["GridSampler", "QuasiRandomSampler", "RandomSampler", "Sampler", "make_sampler"]
