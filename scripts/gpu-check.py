"""The GPU check (run it where a GPU is; not part of the test suite).

1. Trials land on their own cards: a 2×cards-trial study with ``resources: {gpus: 1}``
   runs through the default local executor; each trial records its
   ``CUDA_VISIBLE_DEVICES``, the one card torch sees inside it, and when it ran. Checked:
   every trial saw exactly one card, and no two trials that ran at once had the same one.
2. The toolkit's per-step loop makes no host sync outside its log steps (CUDA's sync debug
   mode, as ``benchmarks/instrumented_loop.py`` counts them).
3. Instrumented / bare step time on the GPU, median of 5 (goal ≤ 1.03).

Prints what it measured and exits 1 when a check fails.
Usage: ``PYTHONPATH=. python scripts/gpu-check.py [--steps 400]``
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import tempfile
import textwrap
from pathlib import Path

import torch
import yaml

TRAINER = '''
import os
import time

import torch


def main(t):
    start = time.time()
    seen = torch.cuda.device_count()
    x = torch.randn(2048, 2048, device="cuda")
    for _ in range(50):
        x = torch.tanh(x @ x / 2048)
    torch.cuda.synchronize()
    with open(t.params["log"], "a") as out:
        out.write(f"{os.environ['CUDA_VISIBLE_DEVICES']} {seen} {start} {time.time()}\\n")
    t.report(1, loss=float(x.abs().mean()))
'''


def placement(cards: int) -> bool:
    from tunebook import load_spec, open_store, run_study

    with tempfile.TemporaryDirectory() as tmp:
        folder, log = Path(tmp), Path(tmp) / "runs.log"
        (folder / "trainer.py").write_text(textwrap.dedent(TRAINER))
        (folder / "study.yaml").write_text(yaml.safe_dump({
            "name": "gpu-check", "objective": {"metric": "loss"},
            "trainer": {"train": "trainer:main"}, "fixed": {"log": str(log)},
            "nuisance": {"lr": {"low": 1e-3, "high": 1.0, "scale": "log"}},
            "budget": 2 * cards, "resources": {"gpus": 1}}))
        run_study(load_spec(folder / "study.yaml"), open_store(str(folder / "t.db")),
                  workers=None)
        rows = [line.split() for line in log.read_text().splitlines()]
    shared = [(a[0], b[0]) for a, b in itertools.combinations(rows, 2)
              if a[0] == b[0] and float(a[2]) < float(b[3]) and float(b[2]) < float(a[3])]
    one_each = all(seen == "1" for _, seen, _, _ in rows)
    print(f"1. {len(rows)} trials on {cards} card(s): cards used "
          f"{sorted({r[0] for r in rows})}; each saw one card: {one_each}; overlapping "
          f"trials on the same card: {len(shared)}")
    return one_each and not shared and len(rows) == 2 * cards


def loop(steps: int) -> bool:
    from benchmarks.instrumented_loop import _trial, count_syncs, run_loop

    syncs = count_syncs("digits", 50)
    times: dict[str, list[float]] = {"bare": [], "instrumented": []}
    for _ in range(5):
        times["bare"].append(run_loop("digits", steps, "cuda", None, None))
        with tempfile.TemporaryDirectory() as tmp:
            trial = _trial(Path(tmp))
            times["instrumented"].append(run_loop("digits", steps, "cuda", trial, Path(tmp)))
            trial.close()
    bare, inst = (statistics.median(times[k]) for k in ("bare", "instrumented"))
    print(f"2. host syncs per step outside log steps: {syncs:.2f} (goal 0)")
    print(f"3. step time bare {bare * 1e3:.3f} ms, instrumented {inst * 1e3:.3f} ms, "
          f"ratio {inst / bare:.3f} (goal ≤ 1.03)")
    return syncs == 0 and inst / bare <= 1.03


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device here: run this check on a machine with a GPU")
    cards = torch.cuda.device_count()
    print(f"{cards} CUDA device(s): {torch.cuda.get_device_name(0)}")
    ok = [placement(cards), loop(args.steps)]
    print("all checks passed" if all(ok) else "a check failed")
    sys.exit(0 if all(ok) else 1)


if __name__ == "__main__":
    main()
