"""A small character-level Transformer language model on Python's own sources.

The text ships with every Python installation (the standard library's ``.py`` files), so
nothing is downloaded. Bytes are the vocabulary (256 symbols). Unlike the digits MLP,
schedules, warmup and clipping matter here: at high learning rates a Transformer diverges
early unless warmed up.
"""

from __future__ import annotations

import math
import sysconfig
from pathlib import Path

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

import tunebook
from tunebook import torch as tbt

CORPUS_BYTES = 1_500_000
VOCAB = 256


def load_corpus(limit: int = CORPUS_BYTES) -> torch.Tensor:
    """The first ``limit`` bytes of the standard library's sources, in a fixed order."""
    root = Path(sysconfig.get_paths()["stdlib"])
    chunks, total = [], 0
    for path in sorted(root.glob("*.py")):
        data = path.read_bytes()
        chunks.append(data)
        total += len(data)
        if total >= limit:
            break
    return torch.frombuffer(bytearray(b"".join(chunks)[:limit]), dtype=torch.uint8).long()


class CharTransformer(nn.Module):
    """Byte embedding + learned positions + pre-norm Transformer blocks + causal mask."""

    def __init__(self, d_model: int, layers: int, heads: int, context: int):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, d_model)
        self.position = nn.Parameter(torch.zeros(context, d_model))
        block = nn.TransformerEncoderLayer(d_model, heads, 4 * d_model, dropout=0.0,
                                           batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(block, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, VOCAB)
        self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(context))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        n = tokens.shape[1]
        h = self.embed(tokens) + self.position[:n]
        h = self.blocks(h, mask=self.mask[:n, :n], is_causal=True)
        return self.head(self.norm(h))


def windows(text: torch.Tensor, starts: torch.Tensor, context: int) -> tuple[torch.Tensor, ...]:
    idx = starts[:, None] + torch.arange(context + 1)
    chunk = text[idx]
    return chunk[:, :-1], chunk[:, 1:]


@torch.no_grad()
def evaluate(model: nn.Module, text: torch.Tensor, starts: torch.Tensor, context: int) -> float:
    model.eval()
    x, y = windows(text, starts, context)
    loss = F.cross_entropy(model(x).reshape(-1, VOCAB), y.reshape(-1)).item()
    model.train()
    return loss


def main(t: tunebook.TrialContext) -> None:
    torch.set_num_threads(1)
    hp, steps, every = t.params, t.max_steps or 300, t.eval_every or 50
    context, batch = int(hp["context"]), int(hp["batch_size"])
    seeds = tbt.derive_seeds(t.seed)
    tbt.seed_everything(seeds.init)
    text = load_corpus()
    cut = int(0.9 * len(text))
    train, val = text[:cut], text[cut:]
    val_starts = torch.from_numpy(tbt.eval_subset(len(val) - context - 1, 256, seed=0))
    model = CharTransformer(int(hp["d_model"]), int(hp["layers"]), int(hp["heads"]), context)
    optimizer = tbt.make_optimizer(hp, model.parameters())
    # decay_steps, when round 2 sets it, keeps a linear decay's length (§3.1.2).
    scheduler = tbt.make_schedule(optimizer, tbt.schedule_for(hp, steps))
    monitor = tbt.StepMonitor(t, model.parameters(), optimizer, log_every=every,
                              clip=float(hp["grad_clip"]), divergence_factor=3.0)
    checkpoints = tbt.Checkpointer(t.checkpoint_dir, keep_best=2, trial=t)
    data = torch.Generator().manual_seed(seeds.data)
    state = {"model": model, "optimizer": optimizer, "scheduler": scheduler,
             "monitor": monitor, "data": data}
    start = checkpoints.restore(**state) or 0
    tbt.check_eval_batch(len(val_starts), batch)
    for step in range(start + 1, steps + 1):
        starts = torch.randint(0, len(train) - context - 1, (batch,), generator=data)
        x, y = windows(train, starts, context)
        loss = F.cross_entropy(model(x).reshape(-1, VOCAB), y.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        monitor.after_backward(step, loss)
        optimizer.step()
        scheduler.step()
        monitor.end_step(step)
        if step % every == 0 or step == steps:
            val_loss = evaluate(model, val, val_starts, context)
            t.report(step, val_loss=val_loss, val_bits_per_byte=val_loss / math.log(2))
            checkpoints.save(step, val_loss, **state)


if __name__ == "__main__":
    main(tunebook.trial(defaults={
        "optimizer": "adamw", "weight_decay": 0.01, "batch_size": 32, "context": 64,
        "d_model": 64, "layers": 2, "heads": 4, "grad_clip": 1.0, "schedule": "cosine",
        "learning_rate": 3e-3, "warmup_steps": 30, "beta2": 0.99}))
