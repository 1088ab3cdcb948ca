"""N-best checkpoints: what is kept, atomic writes under SIGKILL, exact resume, mismatches."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from tests.conftest import write_study
from tests.test_torch_monitor import RecordingTrial
from tunebook import SQLStore, TrialStatus, load_spec, open_store, run_study
from tunebook.context import TrialContext, TrialInfo
from tunebook.torch import Checkpointer, CheckpointMismatch


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("goal", ["minimize", "maximize"])
def test_keeps_exactly_the_n_best_and_the_latest(tmp_path: Path, seed: int, goal: str) -> None:
    rng = random.Random(seed)
    ckpt = Checkpointer(tmp_path, keep_best=3, goal=goal)  # type: ignore[arg-type]
    values = {}
    for step in range(1, 31):
        values[step] = rng.choice([rng.random(), float("nan")]) if step % 7 == 0 else rng.random()
        ckpt.save(step, values[step], weights=torch.tensor([float(step)]))
    finite = {s: v for s, v in values.items() if v == v}
    best = sorted(finite, key=lambda s: finite[s], reverse=goal == "maximize")[:3]
    kept = {int(p.stem.split("-")[1]) for p in tmp_path.glob("step-*.pt")}
    assert kept == set(best) | {30}
    assert {i.step for i in ckpt.index} == kept
    found = ckpt.best()
    assert found is not None and found.step == best[0]
    reopened = Checkpointer(tmp_path, keep_best=3, goal=goal)  # type: ignore[arg-type]
    assert reopened.index == ckpt.index


def test_checkpoints_are_recorded_in_the_store(tmp_path: Path, db_path: str) -> None:
    store = open_store(db_path)
    study = store.create_study("s", {}, "x")
    store.enqueue(study.id, [(0, {}, 0)])
    claimed = store.claim("w")
    assert claimed is not None
    info = TrialInfo(db_path, claimed.id, 1, "s", 0, 0, {}, str(tmp_path), "")
    trial = TrialContext(info, SQLStore(db_path, prepare=False))
    ckpt = Checkpointer(tmp_path, keep_best=1, trial=trial)
    for step, value in [(1, 0.5), (2, 0.3), (3, 0.9)]:
        ckpt.save(step, value, w=torch.zeros(1))
    rows = {r.step: r.kept for r in store.checkpoints(claimed.id)}
    assert rows == {1: False, 2: True, 3: True}


WRITER = """
    import sys, torch
    from tunebook.torch import Checkpointer
    ckpt = Checkpointer(sys.argv[1], keep_best=5)
    ckpt.save(1, 0.5, weights=torch.full((10,), 1.0))
    print("saved", flush=True)
    ckpt.save(2, 0.4, weights=torch.zeros(400_000_000 // 4))  # ~400 MB: slow to write
"""


def test_sigkill_during_a_write_leaves_the_last_good_checkpoint(tmp_path: Path) -> None:
    script = tmp_path / "writer.py"
    script.write_text(textwrap.dedent(WRITER))
    folder = tmp_path / "ckpt"
    proc = subprocess.Popen([sys.executable, str(script), str(folder)], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "saved"
    deadline = time.time() + 60
    while not list(folder.glob(".step-000000002.pt.tmp-*")):
        assert time.time() < deadline and proc.poll() is None, "second write never started"
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (folder / "step-000000002.pt").exists()
    weights = torch.zeros(10)
    ckpt = Checkpointer(folder)
    step = ckpt.restore(weights=_Holder(weights))
    assert step == 1 and torch.equal(weights, torch.ones(10))
    assert not list(folder.glob(".*.tmp-*"))  # the half-written file was cleaned up


class _Holder:
    """A tensor with state_dict/load_state_dict, to restore in place."""

    def __init__(self, tensor: torch.Tensor):
        self.tensor = tensor

    def state_dict(self) -> torch.Tensor:
        return self.tensor

    def load_state_dict(self, state: torch.Tensor) -> None:
        self.tensor.copy_(state)


def test_corrupt_latest_falls_back_and_the_trial_records_why(tmp_path: Path) -> None:
    model = torch.nn.Linear(2, 2)
    ckpt = Checkpointer(tmp_path, keep_best=3)
    ckpt.save(1, 0.5, model=model)
    saved = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        model.weight.add_(1.0)
    ckpt.save(2, 0.6, model=model)
    (tmp_path / "step-000000002.pt").write_bytes(b"\x00garbage" * 10)
    trial = RecordingTrial()
    fresh = torch.nn.Linear(2, 2)
    assert Checkpointer(tmp_path, trial=trial).restore(model=fresh) == 1
    assert all(torch.equal(fresh.state_dict()[k], v) for k, v in saved.items())
    assert len(trial.warnings) == 1 and "step-000000002.pt is unreadable" in trial.warnings[0]


def test_a_checkpoint_of_another_shape_is_a_clear_error(tmp_path: Path) -> None:
    ckpt = Checkpointer(tmp_path)
    ckpt.save(1, 0.1, model=torch.nn.Linear(4, 8))
    with pytest.raises(CheckpointMismatch, match=r"its model does not fit .* size mismatch"):
        ckpt.restore(model=torch.nn.Linear(4, 16))
    with pytest.raises(CheckpointMismatch, match="has no optimizer"):
        ckpt.restore(model=torch.nn.Linear(4, 8), optimizer=torch.optim.SGD(
            torch.nn.Linear(1, 1).parameters(), lr=0.1))


RESUMABLE = """
    import os
    from pathlib import Path
    import torch
    import torch.nn.functional as F
    from tunebook import torch as tbt

    def main(t):
        torch.set_num_threads(1)
        tbt.seed_everything(tbt.derive_seeds(t.seed).init)
        g = torch.Generator().manual_seed(0)
        x = torch.randn(256, 10, generator=g)
        y = (x[:, :3].sum(1) > 0).long()
        model = torch.nn.Sequential(torch.nn.Linear(10, 32), torch.nn.ReLU(),
                                    torch.nn.Dropout(0.2), torch.nn.Linear(32, 2))
        opt = tbt.make_optimizer({"optimizer": "adam", "learning_rate": t.params["lr"]},
                                 model.parameters())
        sched = tbt.make_schedule(opt, tbt.Schedule("cosine", t.params["lr"], 120, 10))
        order = tbt.ShuffledBatches(256, 16, tbt.derive_seeds(t.seed).data)
        monitor = tbt.StepMonitor(t, model.parameters(), opt, log_every=10)
        ckpt = tbt.Checkpointer(t.checkpoint_dir, keep_best=1, trial=t)
        state = dict(model=model, optimizer=opt, scheduler=sched, data=order, monitor=monitor)
        start = ckpt.restore(**state) or 0
        marks = Path(os.environ["MARKS"])
        batches = iter(order)
        for step in range(start + 1, 121):
            idx = next(batches)
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            monitor.after_backward(step, loss)
            opt.step()
            sched.step()
            monitor.end_step(step)
            if step % 20 == 0:
                with torch.no_grad():
                    model.eval()
                    val = F.cross_entropy(model(x), y).item()
                    model.train()
                t.report(step, loss=val)
                ckpt.save(step, val, **state)
                (marks / f"saved-{step}").touch()
                if step == 60 and os.environ.get("HOLD"):
                    (marks / "holding").touch()
                    import time; time.sleep(60)
"""


def test_killed_and_resumed_trial_matches_an_uninterrupted_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    env = {**os.environ, "MARKS": str(marks)}
    db = str(tmp_path / "t.db")
    whole = write_study(tmp_path / "whole", RESUMABLE, name="whole", budget=1)
    monkeypatch.setenv("MARKS", str(marks))
    run_study(load_spec(whole), open_store(db))
    cut = write_study(tmp_path / "cut", RESUMABLE, name="cut", budget=1)
    first = subprocess.Popen([sys.executable, "-m", "tunebook.cli", "run", str(cut), "--db", db,
                              "--no-progress"], env={**env, "HOLD": "1"},
                             start_new_session=True)
    deadline = time.time() + 120
    while not (marks / "holding").exists():
        assert time.time() < deadline and first.poll() is None
        time.sleep(0.05)
    first.kill()
    first.wait()
    second = subprocess.run([sys.executable, "-m", "tunebook.cli", "run", str(cut), "--db", db,
                             "--no-progress"], env=env, capture_output=True, text=True)
    assert second.returncode == 0, second.stderr
    store = open_store(db)
    a = store.trials([store.get_study("whole").id])[0]
    b = store.trials([store.get_study("cut").id])[0]
    assert a.status is b.status is TrialStatus.COMPLETED and b.attempts == 2
    history = {name: [(p.step, p.value) for p in store.metric_history(t.id) if p.name == name]
               for t in (a,) for name in ("loss", "train_loss", "grad_norm")}
    resumed = {name: [(p.step, p.value) for p in store.metric_history(b.id) if p.name == name]
               for name in history}
    assert resumed == history  # bit-identical: every logged value, every step
    assert len(history["grad_norm"]) == 120 and a.value == b.value
