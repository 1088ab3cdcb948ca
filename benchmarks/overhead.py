"""Per-trial orchestration overhead and worker utilisation of ``run_study``.

Baseline: the same train function called in a plain Python loop (no store, no
processes). Two workloads, both with 2 workers:

* ``--trials`` (default 200) trials whose function imports torch and does nothing else:
  the median per-trial overhead in ms (goal ≤ 15 ms), with the sampler asked when a
  slot claims work (index reserved, params suggested, written);
* ``--long-trials`` (default 20) trials that take 2 s: worker utilisation, the share of
  worker time spent inside the train function (goal ≥ 98 % steady).

Usage: ``python -m benchmarks.overhead [--trials 200] [--long-trials 20] [--workers 2]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import yaml

TRAINER = """
    import time
    import torch  # noqa: F401  (the point: a trial that imports torch)

    def main(t):
        started = time.perf_counter()
        if t.params["sleep"] > 0:
            time.sleep(t.params["sleep"])
        return {"loss": 0.0, "fn_seconds": time.perf_counter() - started}
"""


def _study(folder: Path, name: str, trials: int, sleep: float) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "bench_train.py").write_text(textwrap.dedent(TRAINER))
    spec = {"name": name, "objective": {"metric": "loss"},
            "trainer": {"train": "bench_train:main"}, "fixed": {"sleep": sleep},
            "nuisance": {"x": {"low": 0.0, "high": 1.0}}, "budget": trials}
    path = folder / "study.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _plain_loop(folder: Path, trials: int, sleep: float) -> float:
    _study(folder, "plain", trials, sleep)
    sys.path.insert(0, str(folder))
    import bench_train  # type: ignore[import-not-found]

    from tunebook.context import LocalTrial

    started = time.perf_counter()
    for _ in range(trials):
        bench_train.main(LocalTrial({"sleep": sleep, "x": 0.5}))
    sys.path.remove(str(folder))
    return time.perf_counter() - started


def _run(folder: Path, name: str, trials: int, sleep: float, workers: int,
         ) -> tuple[float, list[float], list[float], float]:
    from tunebook import load_spec, open_store, run_study

    spec = load_spec(_study(folder, name, trials, sleep))
    store = open_store(str(folder / "bench.db"))
    started = time.perf_counter()
    result = run_study(spec, store, workers=workers)
    wall = time.perf_counter() - started
    records = store.trials([leaf.id for leaf in result.prepared.leaves])
    fn = [t.metrics["fn_seconds"] for t in records]
    inside = [(t.finished_at or 0) - (t.started_at or 0) - t.metrics["fn_seconds"]
              for t in records]
    span = (max(t.finished_at or 0 for t in records)
            - min(t.started_at or 0 for t in records))
    return wall, fn, inside, span


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--long-trials", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        plain = _plain_loop(root / "short", args.trials, 0.0)
        wall, fn, inside, _ = _run(root / "short", "overhead", args.trials, 0.0, args.workers)
        per_trial = (wall * args.workers - sum(fn)) / args.trials
        print(f"short trials: {args.trials} trials, {args.workers} workers")
        print(f"  plain loop            {plain * 1000 / args.trials:8.2f} ms/trial")
        print(f"  tunebook wall         {wall:8.2f} s")
        print(f"  median overhead       {statistics.median(inside) * 1000:8.2f} ms/trial "
              "(claim→finish minus the function's own time)")
        print(f"  all-in overhead       {per_trial * 1000:8.2f} ms/trial "
              "(worker time not spent in the function, incl. queue and start-up)")

        long_wall, long_fn, _, span = _run(root / "long", "utilisation", args.long_trials,
                                           2.0, args.workers)
        utilisation = sum(long_fn) / (long_wall * args.workers)
        steady = sum(long_fn) / (span * args.workers)
        ideal = sum(long_fn) / args.workers
        print(f"2-second trials: {args.long_trials} trials, {args.workers} workers")
        print(f"  worker utilisation    {utilisation * 100:8.1f} % of the whole run "
              "(incl. the one-time torch import of the zygote)")
        print(f"  steady utilisation    {steady * 100:8.1f} % (first trial start to last end)")
        print(f"ratio tunebook/plain-loop wall (2 s trials) = {long_wall / ideal:.3f}")
        print(f"ratio median-overhead/goal(15 ms) = "
              f"{statistics.median(inside) * 1000 / 15:.3f}")


if __name__ == "__main__":
    main()
