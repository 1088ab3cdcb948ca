"""The report's plots as PNG files (matplotlib, no browser needed)."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path

from tunebook.analysis.report import StudyReport


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def write_pngs(reports: Sequence[StudyReport], folder: Path) -> list[Path]:
    """isolation, axes, curves and gradnorm PNGs per study under ``folder/<study>/``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for r in reports:
        target = folder / _safe(r.data.study.name)
        target.mkdir(parents=True, exist_ok=True)
        metric = r.data.metric
        rows = [row for row in r.isolation if row.best is not None and row.center is not None]
        fig, ax = plt.subplots(figsize=(6, 3.5))
        best = [float(row.center or 0.0) for row in rows]
        ax.errorbar([row.label for row in rows], best, fmt="o",
                    yerr=[[b - min(row.spread_values) for b, row in zip(best, rows, strict=True)],
                          [max(row.spread_values) - b for b, row in zip(best, rows, strict=True)]])
        ax.set_title(f"best {metric} per scientific value")
        written.append(_save(fig, target / "isolation.png"))
        shown = [a for a in r.axes if a.points and not a.categorical]
        if shown:
            cols = min(3, len(shown))
            fig, grid = plt.subplots(math.ceil(len(shown) / cols), cols,
                                     figsize=(4 * cols, 3 * math.ceil(len(shown) / cols)),
                                     squeeze=False)
            for ax, a in zip(grid.flat, shown, strict=False):
                ok = [p for p in a.points if p.objective is not None]
                ax.scatter([float(p.value) for p in ok], [p.objective for p in ok], s=10)
                if a.log:
                    ax.set_xscale("log")
                ax.set_xlabel(a.key)
                ax.set_ylabel(metric)
            written.append(_save(fig, target / "axes.png"))
        if r.curves:
            fig, ax = plt.subplots(figsize=(6, 3.5))
            for c in r.curves:
                series = c.series.get(metric, [])
                ax.plot([s for s, _ in series], [v for _, v in series], label=c.label)
            ax.set_xlabel("step")
            ax.set_ylabel(metric)
            ax.legend(fontsize=6)
            written.append(_save(fig, target / "curves.png"))
        if r.grad_norm.values:
            fig, ax = plt.subplots(figsize=(6, 3.5))
            ax.hist(r.grad_norm.values, bins=50)
            if r.grad_norm.threshold is not None:
                ax.axvline(r.grad_norm.threshold, color="crimson", linestyle="--")
            ax.set_title("grad norm (line: 90th percentile)")
            written.append(_save(fig, target / "gradnorm.png"))
    return written


def _save(fig: object, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=110, bbox_inches="tight")  # type: ignore[attr-defined]
    plt.close(fig)  # type: ignore[arg-type]
    return path
