"""A 2-layer MLP on scikit-learn's bundled digits (8x8 images, 10 classes).

Small enough to train in a second on one CPU core, real enough that learning rate,
weight decay, dropout and the activation all change the validation error.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from sklearn.datasets import load_digits
from torch import nn

import tunebook


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


def main(t: tunebook.TrialContext) -> None:
    torch.set_num_threads(1)  # one core per trial: workers run trials side by side
    hp = t.params
    generator = torch.Generator().manual_seed(t.seed)
    torch.manual_seed(t.seed)
    x_train, y_train, x_val, y_val = load_digits_split()
    model = build_model(str(hp["activation"]), int(hp["hidden"]), float(hp["dropout"]))
    optimizer = torch.optim.AdamW(model.parameters(), lr=float(hp["learning_rate"]),
                                  weight_decay=float(hp["weight_decay"]))
    batch, steps, every = int(hp["batch_size"]), t.max_steps or 300, t.eval_every or 50
    for step in range(1, steps + 1):
        idx = torch.randint(0, len(x_train), (batch,), generator=generator)
        loss = F.cross_entropy(model(x_train[idx]), y_train[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step % every == 0 or step == steps:
            model.eval()
            with torch.no_grad():
                logits = model(x_val)
                val_loss = F.cross_entropy(logits, y_val).item()
                val_error = (logits.argmax(1) != y_val).float().mean().item()
            model.train()
            t.report(step, train_loss=loss.item(), val_loss=val_loss, val_error=val_error)


if __name__ == "__main__":
    main(tunebook.trial(defaults={"activation": "relu", "hidden": 128, "batch_size": 64,
                                  "learning_rate": 1e-2, "weight_decay": 1e-4, "dropout": 0.1}))
