"""Dashboard speed on big studies: API response times and time to a usable study page.

Builds (cached under ``--dir``) SQLite stores with 10,000 and 100,000 completed trials
over three scientific values and three nuisance dimensions, each with a val_loss and a
train_loss curve (``--points`` evaluations each), bulk-inserted through the store's
schema. Then serves the dashboard with uvicorn and measures:

* API: ``/api/studies``, ``/api/study`` (the live poll), one page of
  ``/api/study/trials`` sorted by value, and ``/api/study/sections``: the first request
  (cold: analysis computed) and the median of 5 later ones (warm: cached until the study
  changes);
* Chromium: from navigation to a usable study page: every figure drawn (each axis plot
  with its points, no "not supported" box), the trial table filled, and no console error
  (a Content-Security-Policy violation is one); a page that fails this stops the
  benchmark instead of being timed. Measured cold (a fresh server, nothing computed) and
  warm (after the API calls above); each also prints when the parameter importance,
  computed beside the request, filled in.

Goals (issue "Live dashboard"): API ≤ 200 ms and page ≤ 2 s at 10 k; ≤ 1 s and ≤ 3 s at
100 k. Baseline: reading every trial of the study once through the store
(``store.trials``), the least any page that did not aggregate would pay.

Usage: ``python -m benchmarks.dashboard [--sizes 10000,100000] [--points 20] [--dir PATH]``
"""

from __future__ import annotations

import argparse
import math
import random
import shutil
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

NAME = "bench-dashboard"


def build(db: str, trials: int, points: int) -> None:
    """A study of ``trials`` completed trials with curves, written in bulk."""
    import sqlalchemy as sa

    from benchmarks.report import bench_spec
    from tunebook import open_store
    from tunebook.store.schema import metric_points
    from tunebook.store.schema import trials as table

    store = open_store(db)
    spec = bench_spec(NAME, trials)
    study = store.create_study(NAME, spec.snapshot(), spec.identity_hash())
    store.update_study(study.id, budget=trials)
    rng = random.Random(0)
    now = time.time()
    rows, curves = [], []
    for i in range(trials):
        lr = 10 ** rng.uniform(-5, 0)
        quality = (math.log10(lr) + 2.5) ** 2 * 0.05 + rng.random() * 0.02
        val = [2 * math.exp(-(k + 1) / (points / 4)) + quality + rng.gauss(0, 0.01)
               for k in range(points)]
        rows.append({"id": i + 1, "study_id": study.id, "trial_index": i, "seed": i,
                     "params": {"act": ("relu", "tanh", "gelu")[i % 3], "learning_rate": lr,
                                "weight_decay": 10 ** rng.uniform(-6, -1),
                                "dropout": rng.uniform(0, 0.5)},
                     "status": "completed", "attempts": 1, "created_at": now,
                     "started_at": now, "finished_at": now, "value": min(val),
                     "metrics": {}, "warnings": []})
        for k, v in enumerate(val):
            step = (k + 1) * 50
            curves.append({"trial_id": i + 1, "name": "val_loss", "step": step, "value": v,
                           "time": now})
            curves.append({"trial_id": i + 1, "name": "train_loss", "step": step,
                           "value": v - 0.05, "time": now})
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        conn.execute(table.insert(), rows)
        for start in range(0, len(curves), 200_000):
            conn.execute(metric_points.insert(), curves[start:start + 200_000])
    engine.dispose()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(db: str) -> tuple[Any, str]:
    import uvicorn

    from tunebook.dashboard import create_app

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(db), host="127.0.0.1", port=port,
                                           log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{port}"


def _timed(client: Any, url: str) -> float:
    started = time.perf_counter()
    response = client.get(url, timeout=600)
    response.raise_for_status()
    return time.perf_counter() - started


def api_times(base: str) -> dict[str, tuple[float, float]]:
    """(cold, warm median) seconds per endpoint."""
    import httpx2 as httpx

    paths = {"studies": "/api/studies", "study (poll)": f"/api/study?name={NAME}",
             "trials page": f"/api/study/trials?name={NAME}&sort=value&limit=100",
             "sections": f"/api/study/sections?name={NAME}"}
    out = {}
    with httpx.Client(base_url=base) as client:
        for label, path in paths.items():
            cold = _timed(client, path)
            warm = statistics.median(_timed(client, path) for _ in range(5))
            out[label] = (cold, warm)
    return out


def page_time(base: str) -> tuple[float, float]:
    """Seconds from navigation to a usable study page (every figure drawn and rows shown),
    and to the parameter importance filled in (computed beside the request)."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=shutil.which("chromium"),
                                     args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        started = time.perf_counter()
        page.goto(f"{base}/study?name={NAME}")
        figures = page.locator("div.figure").count()
        expect(page.locator("div.figure .main-svg").nth(figures - 1)).to_be_attached(
            timeout=120_000)
        expect(page.locator("#trials-table tbody tr").first).to_be_attached(timeout=120_000)
        elapsed = time.perf_counter() - started
        expect(page.locator("section[id$='-importance'] div.figure")).to_have_count(
            1, timeout=120_000)
        complete = time.perf_counter() - started
        empty = page.evaluate("""() => [...document.querySelectorAll('div.figure')]
            .filter(f => /^\\S+ vs \\S+$/.test(f._fullLayout.title.text || '')
                         && !f.querySelector('.scatterlayer path.point'))
            .map(f => f._fullLayout.title.text)""")
        text = page.locator("main").inner_text()
        browser.close()
    if errors or empty or "not supported" in text:  # a page that draws nothing is not usable
        raise SystemExit(f"the study page is not usable: console errors {errors[:3]}, axis "
                         f"plots without points {empty[:3]}")
    return elapsed, complete


GOALS = {10_000: (0.2, 2.0), 100_000: (1.0, 3.0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--points", type=int, default=20)
    parser.add_argument("--dir", default=None, help="Keep the built stores here.")
    args = parser.parse_args()
    folder = Path(args.dir or tempfile.mkdtemp(prefix="tb-dash-"))
    folder.mkdir(parents=True, exist_ok=True)
    from tunebook import open_store

    for size in (int(s) for s in args.sizes.split(",")):
        db = str(folder / f"dash-{size}-{args.points}.db")
        if not Path(db).exists():
            started = time.perf_counter()
            build(db, size, args.points)
            print(f"built {size:,} trials × {2 * args.points} points in "
                  f"{time.perf_counter() - started:.1f} s")
        store = open_store(db, read_only=True)
        started = time.perf_counter()
        store.trials(store.tree(NAME).ids)
        baseline = time.perf_counter() - started
        server, base = _serve(db)
        try:
            times = api_times(base)
            page, page_full = page_time(base)  # warm: after the API calls
        finally:
            server.should_exit = True
        server, base = _serve(db)
        try:
            first, first_full = page_time(base)  # cold: a fresh server, nothing computed
        finally:
            server.should_exit = True
        api_goal, page_goal = GOALS.get(size, (1.0, 3.0))
        print(f"\n{size:,} trials (baseline: store.trials() once = {baseline * 1000:.0f} ms)")
        for label, (cold, warm) in times.items():
            print(f"  {label:13} cold {cold * 1000:8.0f} ms   warm {warm * 1000:7.1f} ms   "
                  f"warm/goal {warm / api_goal:.2f}   cold/baseline {cold / baseline:.2f}")
        for label, usable, full in (("cold", first, first_full), ("warm", page, page_full)):
            print(f"  study page usable in Chromium, {label}: {usable:.2f} s   (goal "
                  f"{page_goal:.0f} s, ratio {usable / page_goal:.2f}); importance filled in "
                  f"at {full:.2f} s")


if __name__ == "__main__":
    main()
