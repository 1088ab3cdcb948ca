"""A Lightning MLP on scikit-learn's bundled digits, run as a tunebook trial.

The only tunebook lines are the callback and ``ckpt_path=tb.ckpt_path``: the callback
reports what ``self.log`` logs, guards against divergence, keeps the N best checkpoints
and hands the newest back when a killed trial is resumed.
"""

from __future__ import annotations

import os
import time

import lightning.pytorch as pl
import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import tunebook
from tunebook.integrations.lightning import TunebookCallback


def loaders(batch_size: int) -> tuple[DataLoader, DataLoader]:
    data = load_digits()
    x = torch.from_numpy((data.data / 16.0).astype(np.float32))
    y = torch.from_numpy(data.target.astype(np.int64))
    order = torch.from_numpy(np.random.default_rng(0).permutation(len(x)))
    train, val = order[: int(0.8 * len(x))], order[int(0.8 * len(x)):]
    return (DataLoader(TensorDataset(x[train], y[train]), batch_size=batch_size,
                       shuffle=True, generator=torch.Generator().manual_seed(0)),
            DataLoader(TensorDataset(x[val], y[val]), batch_size=512))


class MLP(pl.LightningModule):
    def __init__(self, hidden: int, learning_rate: float, weight_decay: float):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 10))
        self.lr, self.wd = learning_rate, weight_decay

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> torch.Tensor:
        x, y = batch
        loss = F.cross_entropy(self.net(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> None:
        x, y = batch
        logits = self.net(x)
        self.log("val_loss", F.cross_entropy(logits, y))
        self.log("val_error", (logits.argmax(1) != y).float().mean())

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.parameters(), lr=self.lr, weight_decay=self.wd)


class _Hold(pl.Callback):
    """For tests: pause after the checkpoint at step HOLD_AT so the run can be killed."""

    def on_validation_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        marks = os.environ.get("TUNEBOOK_EXAMPLE_MARKS")
        if marks and trainer.global_step == int(os.environ.get("HOLD_AT", "-1")):
            open(os.path.join(marks, "holding"), "w").close()
            time.sleep(120)


def main(t: tunebook.TrialContext) -> None:
    torch.set_num_threads(1)
    pl.seed_everything(t.seed, verbose=False)
    hp = t.params
    train, val = loaders(int(hp["batch_size"]))
    model = MLP(int(hp["hidden"]), float(hp["learning_rate"]), float(hp["weight_decay"]))
    tb = TunebookCallback(monitor="val_loss", keep_best=2, log_every=10, grad_norm=True)
    resume = tb.ckpt_path
    if resume:
        t.warn(f"resumed from {os.path.basename(resume)}")
    trainer = pl.Trainer(max_steps=t.max_steps or 60, val_check_interval=t.eval_every or 10,
                         check_val_every_n_epoch=None, log_every_n_steps=5,
                         callbacks=[tb, _Hold()], logger=pl.loggers.CSVLogger(
                             str(t.checkpoint_dir.parent), name="csv", version=0),
                         enable_progress_bar=False, enable_model_summary=False,
                         num_sanity_val_steps=0, accelerator="cpu", devices=1)
    trainer.fit(model, train, val, ckpt_path=resume)
