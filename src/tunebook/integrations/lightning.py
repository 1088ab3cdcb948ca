"""Lightning: one callback gives a ``Trainer`` tunebook's habits.

    from tunebook.integrations.lightning import TunebookCallback

    tb = TunebookCallback(monitor="val_loss")
    trainer = L.Trainer(max_steps=..., callbacks=[tb])
    trainer.fit(model, data, ckpt_path=tb.ckpt_path)   # resumes a killed trial

What it does inside a trial: every metric Lightning logs (``self.log``) goes to the trial
at the same step the loggers see; the training loss of every step is kept on the device
and read back every ``log_every`` steps in one sync, and a NaN/Inf or exploding loss makes
the trial infeasible with the step; with ``grad_norm=True`` the unclipped gradient norm
(and whether ``gradient_clip_val`` clipped it) of every step is reported; after each
validation the whole training state goes through tunebook's N-best
:class:`~tunebook.torch.checkpoint.Checkpointer` (atomic; the best ``keep_best`` by
``monitor`` plus the latest), and ``ckpt_path`` hands the newest back after a kill; a stop
request from tunebook ends training at the next step. Outside a trial it warns once and
does nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import lightning.pytorch as pl
import torch
from lightning.pytorch.loggers.logger import Logger

from tunebook.integrations._bridge import Bridge
from tunebook.torch.checkpoint import Checkpointer, atomic_write
from tunebook.torch.monitor import DeviceSeries, total_norm

RESUME = "resume.ckpt"


class _TrialLogger(Logger):
    """Receives exactly what Lightning's loggers receive, and reports it."""

    def __init__(self, bridge: Bridge):
        super().__init__()
        self.bridge = bridge

    @property
    def name(self) -> str:
        return "tunebook"

    @property
    def version(self) -> str:
        return "0"

    @property
    def experiment(self) -> None:
        return None

    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        """The trial's params are already stored; nothing to do."""

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        metrics = {k: v for k, v in metrics.items() if k != "epoch"}
        # The guard reads every step's loss from the callback's device buffer instead: a
        # logged value (every log_every_n_steps) may already be past the divergence.
        self.bridge.report(int(step or 0), metrics, check=False)


class TunebookCallback(pl.Callback):
    """Report, guard, checkpoint and stop a Lightning training inside a tunebook trial.

    Args:
        monitor: the logged metric checkpoints are ranked by (e.g. ``val_loss``); None
            keeps only the latest.
        mode: ``minimize`` or ``maximize`` ``monitor``.
        keep_best: how many of the best checkpoints to keep (plus the latest).
        log_every: steps between reads of the device-side loss and grad-norm buffers.
        grad_norm: also report the unclipped gradient norm of every step.
        divergence_factor: a training loss above this multiple of the first is divergence.
    """

    def __init__(self, *, monitor: str | None = None,
                 mode: Literal["minimize", "maximize"] = "minimize", keep_best: int = 3,
                 log_every: int = 50, grad_norm: bool = False,
                 divergence_factor: float = 10.0):
        if log_every < 1:
            raise ValueError(f"log_every must be at least 1, got {log_every}")
        self.bridge = Bridge("Lightning", divergence_factor=divergence_factor)
        self.monitor, self.log_every, self.want_norm = monitor, log_every, grad_norm
        self.losses: DeviceSeries | None = None
        self.norms: DeviceSeries | None = None
        self.checkpointer = (Checkpointer(self.bridge.trial.checkpoint_dir, keep_best=keep_best,
                                          goal=mode, trial=self.bridge.trial)
                             if self.bridge.trial is not None else None)

    @property
    def ckpt_path(self) -> str | None:
        """The newest readable checkpoint as a Lightning ``.ckpt`` file (None: start over),
        for ``trainer.fit(..., ckpt_path=callback.ckpt_path)``."""
        if self.checkpointer is None or not self.checkpointer.index:
            return None
        box = _Box()
        if self.checkpointer.restore(lightning=box) is None or box.state is None:
            return None
        state = box.state
        path = Path(self.checkpointer.directory) / RESUME
        atomic_write(path, lambda handle: torch.save(state, handle))
        return str(path)

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self.bridge.active and not any(isinstance(x, _TrialLogger) for x in trainer.loggers):
            trainer.loggers = [*trainer.loggers, _TrialLogger(self.bridge)]

    def on_before_optimizer_step(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                                 optimizer: torch.optim.Optimizer) -> None:
        if not (self.want_norm and self.bridge.active):
            return
        grads = [p.grad for p in pl_module.parameters() if p.grad is not None]
        if grads:
            if self.norms is None:
                self.norms = DeviceSeries(self.log_every, grads[0].device)
            self.norms.append(trainer.global_step, total_norm(grads))

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                           outputs: Any, batch: Any, batch_idx: int) -> None:
        if not self.bridge.active:
            return
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if isinstance(loss, torch.Tensor):
            if self.losses is None:
                self.losses = DeviceSeries(self.log_every, loss.device)
            self.losses.append(trainer.global_step, loss.detach())
        if trainer.global_step % self.log_every == 0 or trainer.global_step == 1:
            self._drain(trainer)  # step 1: the guard's reference is the very first loss
        if self.bridge.should_stop:
            trainer.should_stop = True

    def _drain(self, trainer: pl.Trainer) -> None:
        """One sync per buffer: the norms (and clipped flags) reported, the losses checked."""
        if self.norms is not None:
            clip = trainer.gradient_clip_val
            for step, norm in self.norms.drain():
                clipped = float(clip is not None and float(clip) > 0 and norm > float(clip))
                self.bridge.report(step, {"grad_norm": norm, "clipped": clipped})
        if self.losses is not None:
            self.bridge.check_losses(self.losses.drain())

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.bridge.active:
            self._drain(trainer)
            self.bridge.flush()

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.checkpointer is None or trainer.sanity_checking:
            return
        value = trainer.callback_metrics.get(self.monitor) if self.monitor else None
        state = trainer._checkpoint_connector.dump_checkpoint(weights_only=False)
        self.checkpointer.save(trainer.global_step,
                               None if value is None else float(value), lightning=state)


class _Box:
    """Receives the saved Lightning state from :meth:`Checkpointer.restore`."""

    def __init__(self) -> None:
        self.state: dict[str, Any] | None = None

    def state_dict(self) -> dict[str, Any] | None:
        return self.state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.state = state
