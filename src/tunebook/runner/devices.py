"""GPUs for local trials: each trial slot gets its own ``CUDA_VISIBLE_DEVICES``.

A study asks for ``resources: {gpus: N}`` per trial. On one machine the devices are
``--devices 0,3`` when given, else the ones this process may see (``CUDA_VISIBLE_DEVICES``,
else what ``nvidia-smi -L`` lists). Slots are made from them:

* ``gpus: 1`` (or ``--devices`` with no ``gpus``): one slot per card;
* ``gpus: 0.5``: two slots per card (``1 / gpus`` of them, rounded down), first one on every
  card, then the second, so a few trials spread over the cards before any card is shared;
* ``gpus: 2``: one slot per two cards (a whole number above 1, or the study is refused).

A slot runs one trial at a time, so concurrent trials never share a card beyond what the
resources say; a retried or re-queued trial takes whichever slot is free, with its cards.
``-w`` may ask for fewer slots, never more. Without devices a study asking for GPUs is
refused with the reason, before anything is written.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
from collections.abc import Sequence

from tunebook.errors import TunebookError

ENV = "CUDA_VISIBLE_DEVICES"


def parse_devices(text: str) -> tuple[str, ...]:
    """``"0, 3"`` → ``("0", "3")``; an empty text is no devices."""
    return tuple(d.strip() for d in text.split(",") if d.strip())


def visible_devices() -> tuple[str, ...]:
    """The GPUs this process may use: ``CUDA_VISIBLE_DEVICES`` when set, else the
    indices ``nvidia-smi -L`` lists (none without it)."""
    if ENV in os.environ:
        return parse_devices(os.environ[ENV])
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return ()
    try:
        listed = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20,
                                check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    return tuple(str(i) for i, line in enumerate(listed.splitlines())
                 if line.startswith("GPU "))


def gpu_slots(gpus: float, devices: Sequence[str], workers: int | None = None,
              ) -> list[dict[str, str]]:
    """The environment of each trial slot (see the module docstring); ``workers``: at
    most that many slots (None: as many as the devices allow).

    Raises:
        TunebookError: GPUs asked for and none to give, more per trial than there are,
            or a fractional request above one card.
    """
    if not devices:
        raise TunebookError(
            f"the study asks for {gpus:g} GPU(s) per trial (resources.gpus) and this "
            f"machine shows none ({ENV} is unset or empty and nvidia-smi lists no GPU): "
            "run it where the GPUs are, name them with --devices 0,1, or set "
            "resources.gpus: 0")
    if gpus <= 1:
        per_card = max(1, math.floor(1 / gpus + 1e-9)) if gpus > 0 else 1
        slots = [{ENV: d} for _ in range(per_card) for d in devices]
    else:
        if gpus != int(gpus):
            raise TunebookError(f"resources.gpus: {gpus:g} cannot be split over whole cards; "
                                "above 1 it must be a whole number (2: two cards a trial), "
                                "below 1 a share of one card (0.5: two trials a card)")
        size = int(gpus)
        if size > len(devices):
            raise TunebookError(f"a trial needs {size} GPUs (resources.gpus) and only "
                                f"{len(devices)} are given ({', '.join(devices)})")
        slots = [{ENV: ",".join(devices[i:i + size])}
                 for i in range(0, len(devices) - size + 1, size)]
    return slots[:workers] if workers is not None else slots


def device_env(gpus: float, devices: Sequence[str] | None, workers: int | None,
               ) -> list[dict[str, str]] | None:
    """The per-slot environment of a local run: None when the run uses no GPUs (no
    ``gpus`` in the study, no ``--devices``); ``--devices`` without ``gpus`` means one
    card a trial."""
    if gpus <= 0 and not devices:
        return None
    chosen = tuple(devices) if devices else visible_devices()
    return gpu_slots(gpus if gpus > 0 else 1.0, chosen, workers)
