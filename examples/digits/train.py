"""A 2-layer MLP on scikit-learn's bundled digits (8x8 images, 10 classes).

Small enough to train in a second on one CPU core, real enough that learning rate,
weight decay, dropout and the activation all change the validation error. The loop uses
tunebook's toolkit: named optimizer hyperparameters, a schedule, grad-norm logging, a
divergence guard, step-based evaluation and N-best checkpoints with exact resume.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from sklearn.datasets import load_digits
from torch import nn

import tunebook
from tunebook import torch as tbt


def load_digits_split(seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Standardised train/validation tensors; the split is fixed for every trial."""
    data = load_digits()
    x = data.data.astype(np.float32) / 16.0
    y = data.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    cut = int(0.8 * len(x))
    train, val = order[:cut], order[cut:]
    mean, std = x[train].mean(0), x[train].std(0) + 1e-3
    x = (x - mean) / std
    return (torch.from_numpy(x[train]), torch.from_numpy(y[train]),
            torch.from_numpy(x[val]), torch.from_numpy(y[val]))


def build_model(activation: str, hidden: int, dropout: float) -> nn.Module:
    act = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}[activation]
    return nn.Sequential(nn.Linear(64, hidden), act(), nn.Dropout(dropout),
                         nn.Linear(hidden, hidden), act(), nn.Dropout(dropout),
                         nn.Linear(hidden, 10))


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    model.eval()
    logits = model(x)
    model.train()
    return {"val_loss": F.cross_entropy(logits, y).item(),
            "val_error": (logits.argmax(1) != y).float().mean().item()}


def main(t: tunebook.TrialContext) -> None:
    torch.set_num_threads(1)  # one core per trial: workers run trials side by side
    hp, steps, every = t.params, t.max_steps or 300, t.eval_every or 50
    tbt.seed_everything(tbt.derive_seeds(t.seed).init)  # same init on every host
    x_train, y_train, x_val, y_val = load_digits_split()
    model = build_model(str(hp["activation"]), int(hp["hidden"]), float(hp["dropout"]))
    optimizer = tbt.make_optimizer(hp, model.parameters())
    schedule = tbt.Schedule(hp.get("schedule", "cosine"), float(hp["learning_rate"]), steps,
                            warmup_steps=int(hp.get("warmup_steps", 0)))
    scheduler = tbt.make_schedule(optimizer, schedule)
    seeds = tbt.derive_seeds(t.seed)
    order = tbt.ShuffledBatches(len(x_train), int(hp["batch_size"]), seeds.data)
    monitor = tbt.StepMonitor(t, model.parameters(), optimizer, log_every=every)
    checkpoints = tbt.Checkpointer(t.checkpoint_dir, keep_best=2, trial=t)
    state = {"model": model, "optimizer": optimizer, "scheduler": scheduler, "data": order,
             "monitor": monitor}
    start = checkpoints.restore(**state) or 0
    batches = iter(monitor.batches(order))
    for step in range(start + 1, steps + 1):
        idx = next(batches)
        loss = F.cross_entropy(model(x_train[idx]), y_train[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        monitor.after_backward(step, loss)
        optimizer.step()
        scheduler.step()
        monitor.end_step(step)
        if step % every == 0 or step == steps:
            metrics = evaluate(model, x_val, y_val)
            t.report(step, **metrics)
            checkpoints.save(step, metrics["val_error"], **state)


if __name__ == "__main__":
    main(tunebook.trial(defaults={"activation": "relu", "hidden": 128, "batch_size": 64,
                                  "optimizer": "adamw", "learning_rate": 1e-2,
                                  "weight_decay": 1e-4, "dropout": 0.1}))
