"""Grad norm, clipping, divergence guard, input-bound timer, evaluation helpers."""

from __future__ import annotations

import math
import time
import warnings
from typing import Any

import numpy as np
import pytest
import torch

from tunebook import Infeasible
from tunebook.context import LocalTrial
from tunebook.torch import (
    EvalEvery,
    GradNorm,
    InputTimer,
    Prefetcher,
    ShuffledBatches,
    StepMonitor,
    check_eval_batch,
    correct_per_class,
    eval_subset,
    subset_tracks,
)


class RecordingTrial(LocalTrial):
    """A local trial that keeps what it is told, for assertions."""

    def __init__(self) -> None:
        super().__init__({})
        self.points: list[tuple[int, str, float]] = []
        self.warnings: list[str] = []

    def report(self, step: int, **metrics: float) -> None:
        self.points += [(step, k, float(v)) for k, v in metrics.items()]

    def warn(self, message: str) -> None:
        self.warnings.append(message)


def _model_and_grads(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    model(torch.randn(32, 8)).pow(2).sum().backward()
    return model


def test_grad_norm_equals_clip_grad_norm_total() -> None:
    ours, ref = _model_and_grads(0), _model_and_grads(0)
    norm = GradNorm(ours.parameters())(step=1)
    total = torch.nn.utils.clip_grad_norm_(ref.parameters(), max_norm=float("inf"))
    assert float(norm) == pytest.approx(float(total), rel=1e-6)


def test_clipping_matches_torch_and_logs_the_unclipped_norm() -> None:
    ours, ref = _model_and_grads(1), _model_and_grads(1)
    monitor = GradNorm(ours.parameters(), clip=0.5)
    norm = float(monitor(step=1))
    torch.nn.utils.clip_grad_norm_(ref.parameters(), max_norm=0.5)
    for a, b in zip(ours.parameters(), ref.parameters(), strict=True):
        assert torch.allclose(a.grad, b.grad)
    assert norm > 0.5
    assert monitor.drain() == [(1, pytest.approx(norm), 1.0)]


def test_clipped_fraction() -> None:
    param = torch.nn.Parameter(torch.zeros(4))
    monitor = GradNorm([param], clip=1.0)
    norms = [0.5, 2.0, 3.0, 0.9, 1.5]
    for step, n in enumerate(norms, 1):
        param.grad = torch.tensor([n, 0.0, 0.0, 0.0])
        monitor(step)
    drained = monitor.drain()
    assert [c for _, _, c in drained] == [0.0, 1.0, 1.0, 0.0, 1.0]
    assert monitor.clipped_fraction == pytest.approx(3 / 5)


def test_step_monitor_reports_at_log_steps_only() -> None:
    trial = RecordingTrial()
    model = torch.nn.Linear(4, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    monitor = StepMonitor(trial, model.parameters(), opt, log_every=5)
    for step in range(1, 11):
        loss = model(torch.ones(2, 4)).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        monitor.after_backward(step, loss)
        opt.step()
        monitor.end_step(step)
        if step == 4:
            assert trial.points == []  # nothing reported between log steps
    names = {(s, n) for s, n, _ in trial.points}
    assert {(s, "grad_norm") for s in range(1, 11)} <= names
    assert {(5, "train_loss"), (10, "train_loss"), (5, "lr"), (10, "lr")} <= names


@pytest.mark.parametrize(("bad", "words"), [(float("nan"), "loss became nan at step 7"),
                                            (1e6, "at step 7 is over 10x the initial loss")])
def test_divergence_guard_fires_with_the_step(bad: float, words: str) -> None:
    trial = RecordingTrial()
    param = torch.nn.Parameter(torch.ones(3))
    monitor = StepMonitor(trial, [param], log_every=10)
    with pytest.raises(Infeasible, match=words):
        for step in range(1, 21):
            loss = (param * (bad if step == 7 else 1.0)).sum()
            loss.backward()
            monitor.after_backward(step, loss)
            monitor.end_step(step)
    assert max(s for s, _, _ in trial.points) == 10  # caught at the first log step after


def test_input_timer_flags_a_slow_pipeline_once() -> None:
    def slow() -> Any:
        for i in range(30):
            time.sleep(0.04)
            yield i

    trial, timer = RecordingTrial(), InputTimer()
    for _ in timer.wrap(slow()):
        time.sleep(0.005)
    assert timer.share > 0.5
    assert timer.advise(trial) and not timer.advise(trial)
    assert len(trial.warnings) == 1 and "input-bound" in trial.warnings[0]

    fast_trial, fast = RecordingTrial(), InputTimer()
    for _ in fast.wrap(range(30)):
        time.sleep(0.04)
    assert fast.share < 0.05 and not fast.advise(fast_trial)


def test_prefetcher_keeps_order_and_raises_errors() -> None:
    assert list(Prefetcher(range(100), depth=3, transform=lambda x: x * 2)) == [
        2 * i for i in range(100)]

    def broken() -> Any:
        yield 1
        raise RuntimeError("bad shard")

    with pytest.raises(RuntimeError, match="bad shard"):
        list(Prefetcher(broken()))


def test_shuffled_batches_resume_exactly() -> None:
    whole = ShuffledBatches(50, 8, seed=3)
    it = iter(whole)
    expected = [next(it).tolist() for _ in range(20)]  # crosses epochs
    first = ShuffledBatches(50, 8, seed=3)
    it = iter(first)
    got = [next(it).tolist() for _ in range(9)]
    resumed = ShuffledBatches(50, 8, seed=3)
    resumed.load_state_dict(first.state_dict())
    it = iter(resumed)
    got += [next(it).tolist() for _ in range(11)]
    assert got == expected
    assert sorted(i for b in expected[:6] for i in b) == sorted(set(i for b in expected[:6]
                                                                    for i in b))


def test_eval_cadence_and_batch_check() -> None:
    every = EvalEvery(100, max_steps=250)
    assert [s for s in range(1, 251) if every.due(s)] == [100, 200, 250]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert not check_eval_batch(32, 64)
        assert check_eval_batch(128, 64)
    assert len(caught) == 1 and "below the train batch size 64" in str(caught[0].message)


def test_stratified_subset_keeps_tiny_classes() -> None:
    labels = np.array([0] * 950 + [1] * 45 + [2] * 5)
    idx = eval_subset(1000, 100, seed=1, stratify=labels)
    assert len(idx) == 100 and len(set(idx.tolist())) == 100
    counts = np.bincount(labels[idx], minlength=3)
    assert counts[2] >= 1 and abs(counts[0] - 95) <= 1 and abs(counts[1] - 4.5) <= 1
    assert (eval_subset(1000, 100, seed=1, stratify=labels) == idx).all()
    dataset = torch.utils.data.TensorDataset(torch.zeros(1000, 2))
    assert (eval_subset(dataset, 100, seed=1, stratify=labels) == idx).all()


def test_subset_tracking_and_exact_class_counts() -> None:
    assert subset_tracks([0.30, 0.20, 0.10], [0.31, 0.22, 0.10], tolerance=0.03).tracks
    check = subset_tracks([0.30, 0.20], [0.40, 0.20], tolerance=0.03)
    assert not check.tracks and math.isclose(check.max_gap, 0.1)
    preds, labels = torch.tensor([0, 1, 1, 2, 2, 2]), torch.tensor([0, 1, 2, 2, 2, 1])
    assert correct_per_class(preds, labels, 4).tolist() == [1, 1, 2, 0]
