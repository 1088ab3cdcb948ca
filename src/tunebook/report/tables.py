"""The tracking sheet as Markdown or CSV (``tunebook table``)."""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Sequence

from tunebook.analysis.tracking import TrackingRow
from tunebook.report.text import fmt

COLUMNS = ("experiment", "study", "description", "trials", "completed", "best", "objective",
           "command")


def _cells(row: TrackingRow) -> list[str]:
    return [row.experiment or "-", row.name, row.description, str(row.trials),
            str(row.completed), fmt(row.best), f"{row.goal} {row.metric}", row.command]


def tracking_markdown(rows: Sequence[TrackingRow]) -> str:
    def esc(text: str) -> str:
        # Markdown renderers pass raw HTML through: a description must stay text.
        return (html.escape(text, quote=False).replace("|", "\\|").replace("\n", " "))

    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(esc(c) for c in _cells(r)) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def tracking_csv(rows: Sequence[TrackingRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*COLUMNS, "config"])
    for r in rows:
        writer.writerow([*_cells(r), r.config])
    return out.getvalue()
