"""Store throughput: metric ingestion (points/s) and trial claims (claims/s, 8 workers).

Baseline: Optuna's RDB storage doing the same work on the same database engine:
``trial.report(value, step)`` per point (Optuna has no batch API) and ``study.ask()`` +
``study.tell()`` per trial from 8 processes. Goals: >= 100,000 points/s into SQLite and
>= 50,000/s into PostgreSQL in batches; >= 200 claims/s on PostgreSQL with 8 workers.

Usage: ``python -m benchmarks.store [--postgres URL] [--points 200000] [--claims 2000]``
(without --postgres, $TUNEBOOK_TEST_POSTGRES is used when set; SQLite always runs).
Optuna must be installed (``pip install optuna``) for the baseline.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
import time
import uuid
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from tunebook import TrialStatus, open_store

WORKERS = 8
BATCH = 1000


def _ingest(url: str, points: int) -> float:
    store = open_store(url)
    study = store.create_study(f"ingest-{uuid.uuid4().hex[:8]}", {}, "x")
    store.enqueue(study.id, [(0, {}, 0)])
    trial = store.claim("bench")
    assert trial is not None
    started = time.perf_counter()
    for first in range(0, points, BATCH):
        store.report_metrics(trial.id, [(s, "loss", 1.0 / (s + 1), 0.0)
                                        for s in range(first, min(first + BATCH, points))])
    return points / (time.perf_counter() - started)


def _optuna_ingest(url: str, points: int) -> float:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(storage=url, study_name=f"o-{uuid.uuid4().hex[:8]}")
    trial = study.ask()
    started = time.perf_counter()
    for step in range(points):
        trial.report(1.0 / (step + 1), step)
    return points / (time.perf_counter() - started)


def _claimer(url: str, study_id: int, start: Any, out: Any) -> None:
    store = open_store(url, prepare=False)
    start.wait()
    done = 0
    while (trial := store.claim(f"w{os.getpid()}", [study_id])) is not None:
        store.finish(trial.id, trial.attempts, TrialStatus.COMPLETED, value=0.0)
        done += 1
    out.put(done)


def _optuna_asker(url: str, name: str, n: int, start: Any, out: Any) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=name, storage=url)
    start.wait()
    for _ in range(n):
        trial = study.ask()
        study.tell(trial, 0.0)
    out.put(n)


def _parallel(target: Callable[..., None], args: Callable[[Any, Any], tuple[Any, ...]]) -> float:
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Barrier(WORKERS + 1), ctx.Queue()
    procs = [ctx.Process(target=target, args=args(start, out)) for _ in range(WORKERS)]
    for p in procs:
        p.start()
    start.wait()
    began = time.perf_counter()
    total = sum(out.get(timeout=600) for _ in procs)
    elapsed = time.perf_counter() - began
    for p in procs:
        p.join()
    return total / elapsed


def _claims(url: str, n: int) -> float:
    store = open_store(url)
    study = store.create_study(f"claims-{uuid.uuid4().hex[:8]}", {}, "x")
    store.enqueue(study.id, [(i, {"x": i}, i) for i in range(n)])
    return _parallel(_claimer, lambda start, out: (url, study.id, start, out))


def _optuna_claims(url: str, n: int) -> float:
    import optuna

    name = f"o-{uuid.uuid4().hex[:8]}"
    optuna.create_study(storage=url, study_name=name)
    return _parallel(_optuna_asker, lambda start, out: (url, name, n // WORKERS, start, out))


def _fresh_postgres(admin_url: str) -> str:
    name = f"tb_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    return sa.engine.make_url(admin_url).set(database=name).render_as_string(False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default=os.environ.get("TUNEBOOK_TEST_POSTGRES"))
    parser.add_argument("--points", type=int, default=200_000)
    parser.add_argument("--optuna-points", type=int, default=5_000)
    parser.add_argument("--claims", type=int, default=2_000)
    args = parser.parse_args()
    tmp = tempfile.mkdtemp()
    backends = {"sqlite": (f"sqlite:///{tmp}/tb.db", f"sqlite:///{tmp}/optuna.db")}
    if args.postgres:
        backends["postgresql"] = (_fresh_postgres(args.postgres), _fresh_postgres(args.postgres))
    for name, (ours, theirs) in backends.items():
        points = _ingest(ours, args.points)
        baseline = _optuna_ingest(theirs, args.optuna_points)
        print(f"{name}: ingestion {points:,.0f} points/s (Optuna report(): {baseline:,.0f}/s)")
        print(f"ratio ingestion tunebook/optuna ({name}) = {points / baseline:.1f}")
        claims = _claims(ours, args.claims)
        asks = _optuna_claims(theirs, args.claims // 4)
        print(f"{name}: {claims:,.0f} claims/s with {WORKERS} workers "
              f"(Optuna ask+tell: {asks:,.0f} trials/s)")
        print(f"ratio claims tunebook/optuna ({name}) = {claims / asks:.1f}")


if __name__ == "__main__":
    main()
