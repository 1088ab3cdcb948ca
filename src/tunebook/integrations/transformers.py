"""Hugging Face ``Trainer``: one callback gives it tunebook's habits.

    from tunebook.integrations.transformers import TunebookCallback

    tb = TunebookCallback()
    args = TrainingArguments(output_dir=tb.output_dir, eval_strategy="steps", ...)
    trainer = Trainer(model, args, ..., callbacks=[tb])
    trainer.train(resume_from_checkpoint=tb.resume_from)   # resumes a killed trial

What it does inside a trial: everything the Trainer logs (``on_log``: loss, learning rate,
grad norm; ``on_evaluate``: the ``eval_*`` metrics) goes to the trial at the Trainer's
global step, batched; a NaN/Inf training loss, or one above ``divergence_factor`` times
the first logged loss (set ``logging_first_step=True`` so that is the first step's),
makes the trial infeasible with the step; each checkpoint the Trainer saves is recorded
with the trial (the Trainer's ``save_total_limit`` and ``metric_for_best_model`` keep the
N best), ``output_dir`` is the trial's own checkpoint folder and ``resume_from`` its
newest checkpoint; a stop request
from tunebook ends training at the next step. Outside a trial it warns once and does
nothing (``output_dir`` is then a fresh temporary folder).
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from tunebook.integrations._bridge import Bridge

RENAMES = {"learning_rate": "lr"}
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


class TunebookCallback(TrainerCallback):
    """Report, guard, record checkpoints and stop a ``Trainer`` inside a tunebook trial.

    Args:
        divergence_factor: a training loss above this multiple of the first is divergence.
    """

    def __init__(self, *, divergence_factor: float = 10.0):
        self.bridge = Bridge("Hugging Face Trainer", divergence_factor=divergence_factor)
        self._scratch: str | None = None
        self._recorded: dict[Path, int | None] = {}

    @property
    def output_dir(self) -> str:
        """Where the Trainer should save: the trial's checkpoint folder."""
        if self.bridge.trial is not None:
            return str(self.bridge.trial.checkpoint_dir)
        if self._scratch is None:
            self._scratch = tempfile.mkdtemp(prefix="tunebook-hf-")
        return self._scratch

    @property
    def resume_from(self) -> str | None:
        """The newest ``checkpoint-N`` folder in :attr:`output_dir` (None: start over)."""
        found = [(int(m.group(1)), p) for p in Path(self.output_dir).iterdir()
                 if p.is_dir() and (m := _CHECKPOINT.match(p.name))
                 and (p / "trainer_state.json").exists()]
        return str(max(found)[1]) if found else None

    def on_log(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
               logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if logs:
            self.bridge.report(state.global_step, {RENAMES.get(k, k): v for k, v in logs.items()
                                                   if k != "epoch"})

    def on_step_end(self, args: TrainingArguments, state: TrainerState,
                    control: TrainerControl, **kwargs: Any) -> None:
        if self.bridge.should_stop:
            control.should_training_stop = True

    def on_save(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                **kwargs: Any) -> None:
        trial = self.bridge.trial
        if trial is None:
            return
        trial.flush()  # metrics up to a checkpoint are as durable as the checkpoint
        folder = Path(args.output_dir or self.output_dir) / f"checkpoint-{state.global_step}"
        self._recorded[folder] = trial.record_checkpoint(state.global_step, str(folder),
                                                         _best_value(state, args))
        for gone in [f for f in self._recorded if not f.exists()]:  # save_total_limit
            trial.drop_checkpoint(self._recorded.pop(gone))

    def on_train_end(self, args: TrainingArguments, state: TrainerState,
                     control: TrainerControl, **kwargs: Any) -> None:
        self.bridge.flush()


def _best_value(state: TrainerState, args: TrainingArguments) -> float | None:
    """The ``metric_for_best_model`` value at the latest evaluation, if any."""
    name = args.metric_for_best_model
    if not name:
        return None
    key = name if name.startswith("eval_") else f"eval_{name}"
    for entry in reversed(state.log_history):
        if key in entry:
            return float(entry[key])
    return None
