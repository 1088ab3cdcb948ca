"""A tiny GPT-2 (built from a config: nothing is downloaded) trained with the Hugging
Face ``Trainer`` on generated sequences, as a tunebook trial.

The sequences count upwards from a random start, modulo the vocabulary, so the model has
something real to learn in a few dozen steps on a CPU. The tunebook lines are the
callback, ``output_dir=tb.output_dir`` and ``resume_from_checkpoint=tb.resume_from``.
"""

from __future__ import annotations

import json
import os
import time

import torch
from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainerCallback, TrainingArguments

import tunebook
from tunebook.integrations.transformers import TunebookCallback

VOCAB, LENGTH = 32, 24


class Counting(torch.utils.data.Dataset):
    def __init__(self, n: int, seed: int):
        g = torch.Generator().manual_seed(seed)
        starts = torch.randint(0, VOCAB, (n, 1), generator=g)
        self.ids = (starts + torch.arange(LENGTH)) % VOCAB

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.ids[i], "labels": self.ids[i]}


class _Hold(TrainerCallback):
    """For tests: pause after the checkpoint at step HOLD_AT so the run can be killed."""

    def on_save(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
        marks = os.environ.get("TUNEBOOK_EXAMPLE_MARKS")
        if marks and state.global_step == int(os.environ.get("HOLD_AT", "-1")):
            open(os.path.join(marks, "holding"), "w").close()
            time.sleep(120)


def main(t: tunebook.TrialContext) -> None:
    torch.set_num_threads(1)
    torch.manual_seed(t.seed)
    hp = t.params
    model = GPT2LMHeadModel(GPT2Config(vocab_size=VOCAB, n_positions=LENGTH, n_embd=32,
                                       n_layer=1, n_head=2))
    tb = TunebookCallback()
    every = t.eval_every or 10
    args = TrainingArguments(
        output_dir=tb.output_dir, max_steps=t.max_steps or 40,
        per_device_train_batch_size=int(hp["batch_size"]), learning_rate=float(
            hp["learning_rate"]), warmup_steps=int(hp["warmup_steps"]),
        eval_strategy="steps", eval_steps=every, save_strategy="steps", save_steps=every,
        save_total_limit=2, metric_for_best_model="eval_loss", logging_steps=5,
        logging_first_step=True,
        report_to="none", use_cpu=True, seed=t.seed, disable_tqdm=True,
        dataloader_num_workers=0)
    trainer = Trainer(model=model, args=args, train_dataset=Counting(512, 0),
                      eval_dataset=Counting(64, 1), callbacks=[tb, _Hold()])
    trainer.train(resume_from_checkpoint=tb.resume_from)
    log = t.checkpoint_dir.parent / "log_history.json"
    log.write_text(json.dumps(trainer.state.log_history))
