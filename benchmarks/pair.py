"""Paired differences of two saved autopilot benchmark runs (``--save``), run by run.

Usage: ``python -m benchmarks.pair BEFORE.json AFTER.json`` prints, per (budget, space),
the mean regret of each and the mean paired difference after − before with its standard
error over the (workload, seed) runs both have.
"""

from __future__ import annotations

import json
import math
import statistics
import sys
from collections import defaultdict
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    before_path, after_path = (argv if argv is not None else sys.argv[1:])[:2]
    before, after = (json.loads(Path(p).read_text()) for p in (before_path, after_path))
    key = lambda r: (r["budget"], r["space"], r["workload"], r["seed"])  # noqa: E731
    old = {key(r): r["autopilot"] for r in before}
    cells: dict[tuple[int, str], list[tuple[float, float]]] = defaultdict(list)
    for r in after:
        if key(r) in old:
            cells[(r["budget"], r["space"])].append((old[key(r)], r["autopilot"]))
    print(f"{'budget':>6} {'space':>8} {'before':>8} {'after':>8} {'after - before ± SE':>22}"
          f" {'runs':>5}")
    for (budget, space), pairs in sorted(cells.items()):
        diffs = [a - b for b, a in pairs]
        se = statistics.stdev(diffs) / math.sqrt(len(diffs)) if len(diffs) > 1 else math.nan
        print(f"{budget:>6} {space:>8} {statistics.fmean(b for b, _ in pairs):>8.3f} "
              f"{statistics.fmean(a for _, a in pairs):>8.3f} "
              f"{statistics.fmean(diffs):>+13.3f} ± {se:.3f} {len(pairs):>5}")


if __name__ == "__main__":
    main()
