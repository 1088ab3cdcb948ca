"""Seeds: one trial seed, split into a model-init seed and a per-rank data seed (§4.6).

Every host must initialise the model identically (same init seed), and each must see
different data (a data seed that depends on the rank). Both are pure functions of the
trial seed, so a trial is reproducible from its record.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Seeds:
    """The seeds a training run needs."""

    init: int
    data: int


def _derive(*keys: int) -> int:
    return int(np.random.SeedSequence(list(keys)).generate_state(1)[0] & 0x7FFFFFFF)


def derive_seeds(trial_seed: int, rank: int = 0) -> Seeds:
    """Init seed (same on every rank) and data seed (different per rank)."""
    if rank < 0:
        raise ValueError(f"rank must be >= 0, got {rank}")
    return Seeds(init=_derive(trial_seed, 0), data=_derive(trial_seed, 1, rank))


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators (for model initialisation).

    Prefer explicit ``torch.Generator`` objects for data order; this is for the code you do
    not control (layer initialisers use the global generator).
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def capture_rng() -> dict[str, object]:
    """Every global RNG state a resumed run must restore to be bit-identical."""
    state: dict[str, object] = {"python": random.getstate(), "numpy": np.random.get_state(),
                                "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, object]) -> None:
    random.setstate(state["python"])  # type: ignore[arg-type]
    np.random.set_state(state["numpy"])  # type: ignore[arg-type]
    torch.set_rng_state(state["torch"])  # type: ignore[arg-type]
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])  # type: ignore[arg-type]
