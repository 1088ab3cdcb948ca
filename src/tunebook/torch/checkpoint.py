"""N-best checkpoints with atomic writes and exact resume (playbook §4.3).

The playbook keeps the best few checkpoints and picks the best one *retrospectively*
instead of early stopping. :class:`Checkpointer` keeps the ``keep_best`` best by the
objective plus the latest (for resuming), writes each file atomically (temp file, fsync,
rename: a kill mid-write never damages the previous checkpoint), records them in the
store, and restores model, optimizer, scheduler, data position and every RNG state so a
resumed run is bit-identical to an uninterrupted one on CPU.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import torch

from tunebook.errors import TunebookError
from tunebook.torch.seeds import capture_rng, restore_rng

INDEX = "index.json"


class CheckpointMismatch(TunebookError, ValueError):
    """A checkpoint that does not fit the model or optimizer it is loaded into."""


class _Trial(Protocol):
    def flush(self) -> None: ...
    def warn(self, message: str) -> None: ...
    def record_checkpoint(self, step: int, path: str, value: float | None) -> int | None: ...
    def drop_checkpoint(self, checkpoint_id: int | None) -> None: ...


@dataclass(frozen=True)
class CheckpointInfo:
    """One checkpoint on disk: its step, objective value, file and store record."""

    step: int
    value: float | None
    file: str
    record_id: int | None = None


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, write: Any) -> None:
    """Write ``path`` through a temp file, fsync and rename (all or nothing)."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with tmp.open("wb") as handle:
        write(handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


class Checkpointer:
    """Keeps the ``keep_best`` best checkpoints plus the latest one.

    Args:
        directory: where checkpoints go (``t.checkpoint_dir`` in a trial).
        keep_best: how many of the best (by ``goal``) to keep.
        goal: ``minimize`` or ``maximize`` the value passed to :meth:`save`.
        trial: the trial (records checkpoints in the store, receives warnings).
    """

    def __init__(self, directory: str | Path, *, keep_best: int = 3,
                 goal: Literal["minimize", "maximize"] = "minimize",
                 trial: _Trial | None = None):
        if keep_best < 1:
            raise ValueError(f"keep_best must be at least 1, got {keep_best}")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.keep_best, self.goal, self.trial = keep_best, goal, trial
        for stale in self.directory.glob(".*.tmp-*"):
            stale.unlink(missing_ok=True)
        self.index = self._read_index()

    def _read_index(self) -> list[CheckpointInfo]:
        try:
            rows = json.loads((self.directory / INDEX).read_text())
            return [CheckpointInfo(**row) for row in rows]
        except (OSError, ValueError, TypeError):
            return [CheckpointInfo(int(p.stem.split("-")[1]), None, p.name)
                    for p in sorted(self.directory.glob("step-*.pt"))]

    def _write_index(self) -> None:
        text = json.dumps([asdict(info) for info in self.index]).encode()
        atomic_write(self.directory / INDEX, lambda handle: handle.write(text))

    def _rank(self, info: CheckpointInfo) -> float:
        if info.value is None or not math.isfinite(info.value):
            return math.inf
        return info.value if self.goal == "minimize" else -info.value

    def save(self, step: int, value: float | None, **objects: Any) -> CheckpointInfo:
        """Save ``objects`` (anything with ``state_dict``, or plain data) at ``step``.

        Also flushes the trial's buffered metrics, so the store holds every point up to
        the checkpoint before the checkpoint counts.
        """
        state = {"step": step, "value": value, "rng": capture_rng(),
                 "objects": {name: obj.state_dict() if hasattr(obj, "state_dict") else obj
                             for name, obj in objects.items()}}
        path = self.directory / f"step-{step:09d}.pt"
        atomic_write(path, lambda handle: torch.save(state, handle))
        record = None
        if self.trial is not None:
            # Metrics up to a checkpoint are as durable as the checkpoint: a run resumed
            # from it re-reports only what came after.
            self.trial.flush()
            record = self.trial.record_checkpoint(step, str(path), value)
        info = CheckpointInfo(step, value, path.name, record)
        self.index = [i for i in self.index if i.step != step] + [info]
        self._prune()
        self._write_index()
        return info

    def _prune(self) -> None:
        latest = max(self.index, key=lambda i: i.step)
        best = sorted(self.index, key=lambda i: (self._rank(i), -i.step))[: self.keep_best]
        keep = {latest.step, *(i.step for i in best)}
        for info in self.index:
            if info.step not in keep:
                (self.directory / info.file).unlink(missing_ok=True)
                if self.trial is not None:
                    self.trial.drop_checkpoint(info.record_id)
        self.index = sorted((i for i in self.index if i.step in keep), key=lambda i: i.step)

    def best(self) -> CheckpointInfo | None:
        """The best kept checkpoint by value (retrospective selection)."""
        scored = [i for i in self.index if math.isfinite(self._rank(i))]
        return min(scored, key=self._rank) if scored else None

    def restore(self, **objects: Any) -> int | None:
        """Load the newest readable checkpoint into ``objects``; its step, or None.

        A file that cannot be read is skipped for the one before it, and the trial records
        why. Global RNG states are restored too.
        """
        for info in sorted(self.index, key=lambda i: -i.step):
            path = self.directory / info.file
            try:
                state = torch.load(path, map_location="cpu", weights_only=False)
            except Exception as exc:
                self._warn(f"checkpoint {path.name} is unreadable ({type(exc).__name__}: "
                           f"{str(exc)[:200]}); falling back to the previous one")
                continue
            load_into(state, objects, path)
            restore_rng(state["rng"])
            return int(state["step"])
        return None

    def load(self, info: CheckpointInfo, **objects: Any) -> int:
        """Load a given checkpoint (e.g. :meth:`best`) into ``objects``."""
        path = self.directory / info.file
        state = torch.load(path, map_location="cpu", weights_only=False)
        load_into(state, objects, path)
        return int(state["step"])

    def _warn(self, message: str) -> None:
        if self.trial is not None:
            self.trial.warn(message)


def load_into(state: dict[str, Any], objects: dict[str, Any], path: Path) -> None:
    """Load saved state dicts into live objects, with a clear error on a mismatch."""
    saved = state["objects"]
    missing = [name for name in objects if name not in saved]
    if missing:
        raise CheckpointMismatch(f"{path}: has no {', '.join(missing)} (it holds "
                                 f"{', '.join(saved)})")
    for name, obj in objects.items():
        if not hasattr(obj, "load_state_dict"):
            continue
        try:
            obj.load_state_dict(saved[name])
        except (RuntimeError, ValueError, KeyError) as exc:
            first = str(exc).strip().splitlines()
            detail = " ".join(line.strip() for line in first[:3])
            raise CheckpointMismatch(f"{path}: its {name} does not fit the current {name} "
                                     f"(was it saved from a different model shape?): "
                                     f"{detail[:400]}") from None
