"""Step-time cost of the PyTorch toolkit: bare training loops vs fully instrumented ones.

Baseline: the same loop (model, optimizer, schedule, data order, evaluation every 100
steps) without the toolkit. Instrumented: ``StepMonitor`` measuring the gradient norm
every step, train loss, lr, grad norm and clipped reported every step to a real SQLite
store, the divergence guard and the input timer; two more variants add clipping, and an
N-best checkpoint (atomic write, store record) at every evaluation. Two workloads: the
digits MLP and the char-level Transformer of ``examples/``.
Variants are interleaved and repeated; the ratio of medians is printed (goal ≤ 1.03 on
CPU). On a CUDA machine it also counts host syncs per step (goal: 0 outside log steps).

Usage: ``python -m benchmarks.instrumented_loop [--steps 400] [--repeats 5] [--device cpu]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812

from tunebook import torch as tbt

REPO = Path(__file__).resolve().parents[1]
Batch = Callable[[int], tuple[torch.Tensor, torch.Tensor]]


def _digits(device: str) -> tuple[torch.nn.Module, Batch, Callable[[torch.Tensor], Any]]:
    sys.path.insert(0, str(REPO / "examples" / "digits"))
    import train as digits  # type: ignore[import-not-found]

    sys.path.pop(0)
    sys.modules.pop("train", None)
    x, y, xv, yv = (t.to(device) for t in digits.load_digits_split())
    model = digits.build_model("relu", 128, 0.1).to(device)
    order = torch.Generator(device=device).manual_seed(0)

    def batch(_: int) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.randint(0, len(x), (64,), generator=order, device=device)
        return x[idx], y[idx]

    return model, batch, lambda m: F.cross_entropy(m(xv), yv)


def _charlm(device: str) -> tuple[torch.nn.Module, Batch, Callable[[torch.Tensor], Any]]:
    sys.path.insert(0, str(REPO / "examples" / "charlm"))
    import train as charlm  # type: ignore[import-not-found]

    sys.path.pop(0)
    sys.modules.pop("train", None)
    text = charlm.load_corpus(300_000).to(device)
    model = charlm.CharTransformer(64, 2, 4, 64).to(device)
    order = torch.Generator(device=device).manual_seed(0)
    val_starts = torch.arange(0, 64 * 64, 64, device=device)

    def batch(_: int) -> tuple[torch.Tensor, torch.Tensor]:
        starts = torch.randint(0, len(text) - 65, (32,), generator=order, device=device)
        x, y = charlm.windows(text, starts, 64)
        return x, y

    def evaluate(m: Any) -> torch.Tensor:
        x, y = charlm.windows(text, val_starts, 64)
        return F.cross_entropy(m(x).reshape(-1, 256), y.reshape(-1))

    def loss_of(m: Any, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(m(x).reshape(-1, 256), y.reshape(-1))

    model.loss_of = loss_of  # type: ignore[assignment]
    return model, batch, evaluate


def _loss(model: Any, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    if hasattr(model, "loss_of"):
        return model.loss_of(model, x, y)  # type: ignore[no-any-return]
    return F.cross_entropy(model(x), y)


def run_loop(workload: str, steps: int, device: str, trial: Any | None,
             folder: Path | None, clip: float | None = None, checkpoint: bool = False,
             ) -> float:
    """Seconds per step of one training run, instrumented when ``trial`` is given."""
    torch.manual_seed(0)
    model, batch, evaluate = (_digits if workload == "digits" else _charlm)(device)
    opt = tbt.make_optimizer({"optimizer": "adamw", "learning_rate": 1e-3}, model.parameters())
    sched = tbt.make_schedule(opt, tbt.Schedule("cosine", 1e-3, steps, warmup_steps=10))
    monitor = ckpt = None
    if trial is not None:
        monitor = tbt.StepMonitor(trial, model.parameters(), opt, log_every=1, clip=clip)
        if checkpoint:
            ckpt = tbt.Checkpointer(folder or Path(tempfile.mkdtemp()), keep_best=2,
                                    trial=trial)
    started = time.perf_counter()
    for step in range(1, steps + 1):
        x, y = batch(step)
        loss = _loss(model, x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if monitor is not None:
            monitor.after_backward(step, loss)
        opt.step()
        sched.step()
        if monitor is not None:
            monitor.end_step(step)
        if step % 100 == 0:
            with torch.no_grad():
                value = float(evaluate(model))
            if trial is not None:
                trial.report(step, val_loss=value)
            if ckpt is not None:
                ckpt.save(step, value, model=model, optimizer=opt, scheduler=sched)
    if device == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - started) / steps


def _trial(folder: Path) -> Any:
    from tunebook.context import TrialContext, TrialInfo
    from tunebook.store import SQLStore, open_store

    db = str(folder / "bench.db")
    store = open_store(db)
    study = store.create_study(f"bench-{time.monotonic_ns()}", {}, "x")
    store.enqueue(study.id, [(0, {}, 0)])
    claimed = store.claim("bench")
    assert claimed is not None
    info = TrialInfo(store.url, claimed.id, 1, study.name, 0, 0, {}, str(folder / "ckpt"), "")
    return TrialContext(info, SQLStore(db, prepare=False))


def count_syncs(workload: str, steps: int) -> float:
    """Host syncs per step outside log steps, from CUDA's sync debug mode (CUDA only)."""
    with tempfile.TemporaryDirectory() as tmp:
        trial = _trial(Path(tmp))
        torch.manual_seed(0)
        model, batch, _ = (_digits if workload == "digits" else _charlm)("cuda")
        opt = tbt.make_optimizer({"optimizer": "adamw", "learning_rate": 1e-3},
                                 model.parameters())
        monitor = tbt.StepMonitor(trial, model.parameters(), opt, log_every=steps, clip=1.0)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            for step in range(1, steps):  # stop before the log step
                x, y = batch(step)
                loss = _loss(model, x, y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                monitor.after_backward(step, loss)
                opt.step()
                monitor.end_step(step)
            torch.cuda.set_sync_debug_mode("default")
        trial.close()
    syncs = [w for w in caught if "synchroniz" in str(w.message).lower()]
    for w in syncs[:5]:
        print(f"    sync: {w.filename}:{w.lineno}: {str(w.message)[:120]}")
    return len(syncs) / max(steps - 1, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--workloads", default="digits,charlm")
    args = parser.parse_args()
    if args.device == "cpu":
        torch.set_num_threads(1)
    variants = {"instrumented": {}, "instrumented + clipping": {"clip": 1.0},
                "instrumented + checkpoint every eval": {"checkpoint": True}}
    for workload in args.workloads.split(","):
        times: dict[str, list[float]] = {"bare": [], **{name: [] for name in variants}}
        for _ in range(args.repeats):
            times["bare"].append(run_loop(workload, args.steps, args.device, None, None))
            for name, options in variants.items():
                with tempfile.TemporaryDirectory() as tmp:
                    trial = _trial(Path(tmp))
                    times[name].append(run_loop(workload, args.steps, args.device, trial,
                                                Path(tmp), **options))
                    trial.close()
        median = {name: statistics.median(values) for name, values in times.items()}
        print(f"{workload} on {args.device}: " + ", ".join(
            f"{name} {value * 1e3:.3f} ms/step" for name, value in median.items()))
        if args.device == "cuda":
            print(f"  host syncs per step outside log steps: {count_syncs(workload, 50):.2f}")
        for name in variants:
            print(f"ratio {name}/bare ({workload}) = {median[name] / median['bare']:.3f}")


if __name__ == "__main__":
    main()
