"""How numbers, times and scientific values read, the same in every renderer."""

from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Sequence
from typing import Any

from tunebook.analysis.isolation import ValueBest
from tunebook.space import combo_label

__all__ = ["combo_label", "esc", "first_line", "fmt", "seed_mean", "seeded", "when"]


def fmt(value: Any, digits: int = 4) -> str:
    """Short, readable numbers (``digits`` significant); everything else as text."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if math.isfinite(value) else str(value)
    return str(value)


def seeded(rows: Sequence[ValueBest]) -> bool:
    """Whether any value was re-run over seeds: it is then compared by its mean over seeds,
    which the isolation tables show beside its best trial."""
    return any(row.spread_source == "seeds" for row in rows)


def seed_mean(row: ValueBest) -> str:
    """A value's mean over the seeds of its configuration, and how many ("-" without
    re-runs): what a study of re-runs compares values by."""
    if row.spread_source != "seeds":
        return "-"
    return f"{fmt(row.center)} ({len(row.seed_values)} seeds)"


def when(stamp: float | None) -> str:
    """A timestamp as local date and time ("-" when unset)."""
    if stamp is None:
        return "-"
    return dt.datetime.fromtimestamp(stamp).strftime("%Y-%m-%d %H:%M:%S")


def first_line(text: str | None, width: int = 70) -> str:
    if not text:
        return ""
    line = text.strip().splitlines()[0]
    return line if len(line) <= width else line[: width - 1] + "…"


def esc(value: Any) -> str:
    """``value`` as text safe inside HTML (every user-provided string goes through it)."""
    return html.escape(str(value), quote=True)
