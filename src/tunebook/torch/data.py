"""Input pipeline helpers: a resumable shuffled order, prefetching, an input-bound timer."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import torch

INPUT_BOUND_SHARE = 0.2


class _Warns(Protocol):
    def warn(self, message: str) -> None: ...


class ShuffledBatches:
    """Index batches in a shuffled order that is a pure function of (seed, epoch, position).

    Saving ``state_dict()`` in a checkpoint and loading it on resume continues the data
    order exactly where it stopped, which is what makes a resumed run bit-identical.
    """

    def __init__(self, size: int, batch_size: int, seed: int, *, drop_last: bool = True):
        if batch_size < 1 or size < batch_size:
            raise ValueError(f"need 1 <= batch_size <= size, got {batch_size} and {size}")
        self.size, self.batch_size, self.seed, self.drop_last = size, batch_size, seed, drop_last
        self.epoch, self.position = 0, 0

    def _order(self) -> torch.Tensor:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return torch.randperm(self.size, generator=generator)

    def __iter__(self) -> Iterator[torch.Tensor]:
        while True:
            order = self._order()
            stop = self.size - (self.size % self.batch_size if self.drop_last else 0)
            while self.position < stop:
                batch = order[self.position: self.position + self.batch_size]
                self.position += self.batch_size
                yield batch
            self.epoch, self.position = self.epoch + 1, 0

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "position": self.position, "seed": self.seed}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.position, self.seed = state["epoch"], state["position"], state["seed"]


class Prefetcher:
    """Fetch (and optionally move to a device) the next ``depth`` batches in a thread.

    Overlaps data loading with the training step (§4.1); ``transform`` runs in the thread,
    e.g. ``lambda b: b.to(device, non_blocking=True)`` after ``pin_memory()``.
    """

    _END = object()

    def __init__(self, iterable: Iterable[Any], depth: int = 2,
                 transform: Callable[[Any], Any] | None = None):
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max(depth, 1))
        self._transform = transform or (lambda batch: batch)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._fill, args=(iter(iterable),), daemon=True)
        self._thread.start()

    def _fill(self, source: Iterator[Any]) -> None:
        try:
            for item in source:
                self._queue.put(self._transform(item))
        except BaseException as exc:
            self._error = exc
        self._queue.put(self._END)

    def __iter__(self) -> Iterator[Any]:
        while (item := self._queue.get()) is not self._END:
            yield item
        if self._error is not None:
            raise self._error


@dataclass
class InputTimer:
    """How much of the training time is spent waiting for the next batch.

    A trial that waits for data more than 20 % of its time is input-bound: its step time
    measures the pipeline, not the model, and more compute would not help (§4.1).
    """

    waiting: float = 0.0
    total: float = 0.0
    _started: float | None = None
    _warned: bool = False

    def wrap(self, iterable: Iterable[Any]) -> Iterator[Any]:
        iterator = iter(iterable)
        self._started = time.perf_counter()
        while True:
            before = time.perf_counter()
            try:
                item = next(iterator)
            except StopIteration:
                return
            after = time.perf_counter()
            self.waiting += after - before
            self.total = after - self._started
            yield item

    @property
    def share(self) -> float:
        return self.waiting / self.total if self.total > 0 else 0.0

    def advise(self, trial: _Warns, threshold: float = INPUT_BOUND_SHARE) -> bool:
        """Record a warning once if the input share exceeds ``threshold``."""
        if self._warned or self.total < 1.0 or self.share <= threshold:
            return False
        self._warned = True
        trial.warn(f"input-bound: {self.share:.0%} of the training time was spent waiting "
                   "for data; prefetch (tunebook.torch.Prefetcher), use more loader workers, "
                   "or preprocess offline")
        return True
