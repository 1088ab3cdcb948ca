"""Step time of Lightning and Hugging Face trainings with and without tunebook's callback.

Baseline: the same training without the callback. The callback runs inside a real trial
(a SQLite store, batched metric writes); Lightning's twice: with ``grad_norm=True`` and
checkpoints at every validation, as the example uses it, and reporting only. Each variant trains
``--steps`` steps ``--repeats`` times, alternating, in this process on one thread; the
figure is the ratio of median wall times. Goal (issue "Meet users where they train"):
≤ 1.03×.

Usage: ``python -m benchmarks.integrations [--steps 300] [--repeats 5]``
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tunebook import TrialStatus, open_store
from tunebook.context import TrialContext, TrialInfo, set_current
from tunebook.spec import spec_from_dict

REPO = Path(__file__).resolve().parents[1]


def _trial(folder: Path) -> TrialContext:
    """A real trial in a SQLite store, installed as this process's current trial."""
    db = str(folder / "bench.db")
    store = open_store(db)
    spec = spec_from_dict({"name": "bench", "objective": {"metric": "val_loss"},
                           "trainer": {"train": "m:f"}, "budget": 1,
                           "nuisance": {"lr": {"low": 1e-3, "high": 1e-1}}})
    study = store.create_study(f"bench-{time.time_ns()}", spec.snapshot(),
                               spec.identity_hash())
    store.enqueue(study.id, [(0, {"lr": 0.01}, 0)])
    claimed = store.claim("bench", [study.id])
    assert claimed is not None
    info = TrialInfo(db, claimed.id, claimed.attempts, study.name, 0, 0, {"lr": 0.01},
                     str(folder / f"ckpt-{time.time_ns()}"), str(folder / "result.json"))
    ctx = TrialContext(info, open_store(db))
    set_current(ctx)
    store.finish(claimed.id, claimed.attempts, TrialStatus.COMPLETED, value=0.0)
    return ctx


def _example(folder: str, *names: str) -> tuple[Any, ...]:
    """Objects from examples/<folder>/train.py (both examples name their module train)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"example_{folder}",
                                                  REPO / "examples" / folder / "train.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return tuple(getattr(module, n) for n in names)


def lightning_full(steps: int, folder: Path, with_callback: bool) -> float:
    return lightning_run(steps, folder, with_callback, full=True)


def lightning_lean(steps: int, folder: Path, with_callback: bool) -> float:
    return lightning_run(steps, folder, with_callback, full=False)


def lightning_run(steps: int, folder: Path, with_callback: bool, full: bool) -> float:
    import lightning.pytorch as pl

    mlp, loaders = _example("lightning", "MLP", "loaders")
    callbacks: list[pl.Callback] = []
    if with_callback:
        from tunebook.integrations.lightning import TunebookCallback

        _trial(folder)
        callbacks.append(TunebookCallback(monitor="val_loss", log_every=50, grad_norm=full))
    pl.seed_everything(0, verbose=False)
    train, val = loaders(64)
    trainer = pl.Trainer(max_steps=steps, val_check_interval=100 if full else None,
                         limit_val_batches=None if full else 0,
                         check_val_every_n_epoch=None, callbacks=callbacks, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, num_sanity_val_steps=0,
                         accelerator="cpu", devices=1)
    started = time.perf_counter()
    trainer.fit(mlp(64, 0.01, 0.0), train, val)
    set_current(None)
    return time.perf_counter() - started


def hf_run(steps: int, folder: Path, with_callback: bool) -> float:
    from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainingArguments

    (counting,) = _example("transformers", "Counting")
    callbacks = []
    if with_callback:
        from tunebook.integrations.transformers import TunebookCallback

        _trial(folder)
        callbacks.append(TunebookCallback())
    import torch

    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=32, n_positions=24, n_embd=32, n_layer=1,
                                       n_head=2))
    args = TrainingArguments(output_dir=str(folder / f"hf-{time.time_ns()}"), max_steps=steps,
                             per_device_train_batch_size=16, logging_steps=10,
                             save_strategy="no", report_to="none", use_cpu=True,
                             disable_tqdm=True)
    trainer = Trainer(model=model, args=args, train_dataset=counting(512, 0),
                      callbacks=callbacks)
    started = time.perf_counter()
    trainer.train()
    set_current(None)
    return time.perf_counter() - started


def compare(name: str, run: Callable[[int, Path, bool], float], steps: int,
            repeats: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        run(20, Path(tmp), True)  # warm-up: imports, first allocations
        plain, wrapped = [], []
        for _ in range(repeats):
            plain.append(run(steps, Path(tmp), False))
            wrapped.append(run(steps, Path(tmp), True))
    a, b = statistics.median(plain), statistics.median(wrapped)
    print(f"{name:12} without {a / steps * 1000:6.2f} ms/step   with {b / steps * 1000:6.2f} "
          f"ms/step   ratio {b / a:.3f} (goal ≤ 1.03)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    compare("lightning", lightning_full, args.steps, args.repeats)
    compare("lightning*", lightning_lean, args.steps, args.repeats)
    print("lightning: grad norm every step and N-best checkpoints (atomic, fsynced) at each of\n"
          "  3 validations; lightning*: reporting and the loss guard only, no validation")
    compare("transformers", hf_run, args.steps, args.repeats)


if __name__ == "__main__":
    main()
