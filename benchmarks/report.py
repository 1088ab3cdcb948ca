"""Time to write the full report of a 10,000-trial study with 1,000 points per trial.

Builds (once, cached under ``--db``) a SQLite store with ``--trials`` trials over three
scientific values and three nuisance dimensions, each with ``--points`` metric points
(train_loss, val_loss, grad_norm, clipped at 250 steps each), then times
``tunebook.report.write_report``. Goals: ≤ 10 s and an HTML file ≤ 15 MB. Baseline:
reading every metric point once (what a report that did not aggregate or downsample
would at least pay), timed on the same store.

Usage: ``python -m benchmarks.report [--trials 10000] [--points 1000] [--db PATH]``
"""

from __future__ import annotations

import argparse
import math
import random
import tempfile
import time
from pathlib import Path

from tunebook import TrialStatus, open_store
from tunebook.spec import StudySpec, spec_from_dict

NAME = "bench-report"


def bench_spec(name: str, trials: int) -> StudySpec:
    """Three activations, three nuisance dimensions: the study the big benchmarks fill."""
    return spec_from_dict({
        "name": name, "objective": {"metric": "val_loss"}, "trainer": {"train": "m:f"},
        "budget": trials, "scientific": {"act": ["relu", "tanh", "gelu"]},
        "nuisance": {"learning_rate": {"low": 1e-5, "high": 1.0, "scale": "log"},
                     "weight_decay": {"low": 1e-6, "high": 1e-1, "scale": "log"},
                     "dropout": {"low": 0.0, "high": 0.5}}})


def build(db: str, trials: int, points: int) -> None:
    store = open_store(db)
    spec = bench_spec(NAME, trials)
    study = store.create_study(NAME, spec.snapshot(), spec.identity_hash())
    rng = random.Random(0)
    params = []
    for i in range(trials):
        params.append((i, {"act": ("relu", "tanh", "gelu")[i % 3],
                           "learning_rate": 10 ** rng.uniform(-5, 0),
                           "weight_decay": 10 ** rng.uniform(-6, -1),
                           "dropout": rng.uniform(0, 0.5)}, i))
    store.enqueue(study.id, params)
    per_metric = points // 4
    started = time.perf_counter()
    for i in range(trials):
        trial = store.claim("bench", [study.id])
        assert trial is not None
        lr = float(trial.params["learning_rate"])
        quality = (math.log10(lr) + 2.5) ** 2 * 0.05 + rng.random() * 0.02
        batch = []
        for k in range(per_metric):
            step = (k + 1) * 4
            decay = math.exp(-step / 300)
            batch += [(step, "train_loss", 2 * decay + quality, 0.0),
                      (step, "val_loss", 2 * decay + quality + 0.05, 0.0),
                      (step, "grad_norm", 1 + rng.random() + 5 * decay, 0.0),
                      (step, "clipped", float(rng.random() < 0.1), 0.0)]
        store.report_metrics(trial.id, batch)
        diverged = lr > 0.3
        store.finish(trial.id, trial.attempts,
                     TrialStatus.INFEASIBLE if diverged else TrialStatus.COMPLETED,
                     value=None if diverged else quality + 0.05,
                     reason="diverged" if diverged else None)
        if (i + 1) % 1000 == 0:
            rate = (i + 1) * per_metric * 4 / (time.perf_counter() - started)
            print(f"  built {i + 1} trials ({rate:,.0f} points/s)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--points", type=int, default=1_000)
    parser.add_argument("--db", default=str(Path(tempfile.gettempdir()) / "tunebook-bench.db"))
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    db = Path(args.db)
    if args.rebuild:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
    if not db.exists():
        print(f"building {args.trials} trials x {args.points} points in {db} ...")
        build(str(db), args.trials, args.points)
    from tunebook.report import write_report

    store = open_store(str(db))
    out = Path(tempfile.gettempdir()) / "tunebook-bench-report.html"
    started = time.perf_counter()
    write_report(store, [NAME], out)
    seconds = time.perf_counter() - started
    size = out.stat().st_size / 1e6
    started = time.perf_counter()
    with store.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT trial_id, name, step, value FROM metric_points")
        count = sum(1 for _ in rows)
    read_all = time.perf_counter() - started
    print(f"report: {seconds:.2f} s (goal <= 10 s), {size:.1f} MB (goal <= 15 MB)")
    print(f"baseline: reading all {count:,} metric points once takes {read_all:.2f} s")
    print(f"ratio report/read-all-points = {seconds / read_all:.3f}")


if __name__ == "__main__":
    main()
