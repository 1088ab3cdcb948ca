"""The live progress bar of ``tunebook run``: done/total, running, failures, best, ETA."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from tunebook.store import Store, TrialStatus

Counts = dict[TrialStatus, int]


class RunProgress:
    """A rich progress bar fed from the store's aggregate counts (cheap to poll)."""

    def __init__(self, name: str, console: Console | None = None, enabled: bool = True):
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"), TimeElapsedColumn(), TextColumn("ETA"),
            TimeRemainingColumn(), console=console, disable=not enabled, transient=False)
        self.name = name
        self.task: TaskID | None = None

    def __enter__(self) -> RunProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.progress.__exit__(kind, exc, tb)

    def show(self, store: Store, study_ids: list[int], goal: str) -> None:
        """Redraw from the store's aggregate counts and best value (two cheap queries)."""
        self.update(store.counts(study_ids), store.best_value(study_ids, goal))

    def update(self, counts: Counts, best: float | None,
               format_value: Callable[[float], str] = "{:.4g}".format) -> None:
        total = sum(counts.values())
        done = total - counts[TrialStatus.QUEUED] - counts[TrialStatus.RUNNING]
        detail = (f"running {counts[TrialStatus.RUNNING]}  "
                  f"failed {counts[TrialStatus.FAILED]}  "
                  f"infeasible {counts[TrialStatus.INFEASIBLE]}  "
                  f"best {format_value(best) if best is not None else '-'}")
        if self.task is None:
            self.task = self.progress.add_task(self.name, total=total, detail=detail)
        self.progress.update(self.task, total=total, completed=done, detail=detail)
