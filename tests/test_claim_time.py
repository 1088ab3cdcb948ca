"""Trials created when a slot asks for work: index reservation and history-aware samplers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import compete, write_study
from tunebook import SQLStore, StaleClaim, TrialStatus, load_spec, open_store, run_study
from tunebook.samplers import QuasiRandomSampler
from tunebook.spec import study_spec


def _budgeted(store: Any, budget: int, leaves: int = 1) -> list[int]:
    if leaves == 1:
        return [store.create_study("s", {}, "id", budget=budget).id]
    root = store.create_study("s", {}, "id")
    return [store.create_study(f"s[{i}]", {}, "id", parent_id=root.id, combo={"v": i},
                               budget=budget).id for i in range(leaves)]


def test_reserve_creates_each_index_once_up_to_the_budget(backend: Any) -> None:
    store = backend()
    (study_id,) = _budgeted(store, budget=3)
    got = [store.reserve(f"w{i}") for i in range(4)]
    assert got[3] is None
    assert [t.index for t in got[:3]] == [0, 1, 2]
    assert all(t.status is TrialStatus.RUNNING and t.attempts == 1 and not t.suggested
               for t in got[:3])
    done = store.set_params(got[0].id, 1, {"lr": 0.5}, 7)
    assert done.suggested and done.params == {"lr": 0.5} and done.seed == 7
    assert backend().trial_by_id(got[0].id).params == {"lr": 0.5}  # durable
    store.update_study(study_id, budget=4)
    assert store.reserve("w").index == 3


def test_sub_studies_fill_evenly(backend: Any) -> None:
    store = backend()
    leaves = _budgeted(store, budget=2, leaves=3)
    made = [store.reserve("w", leaves) for _ in range(7)]
    assert made[6] is None
    assert [t.study_id for t in made[:6]] == leaves + leaves


def test_a_reserver_killed_while_suggesting_leaves_nothing_stuck(backend: Any) -> None:
    store = backend()
    _budgeted(store, budget=1)
    lost = store.reserve("host:1:0")
    assert lost is not None
    assert store.requeue_stale(None, timeout_s=3600, is_dead=lambda w: w == "host:1:0")
    with pytest.raises(StaleClaim):
        store.set_params(lost.id, lost.attempts, {"lr": 1.0}, 0)
    again = store.claim("host:2:0")
    assert again is not None and again.index == 0 and not again.suggested
    assert again.attempts == 2 and store.reserve("host:2:0") is None
    store.set_params(again.id, again.attempts, {"lr": 0.1}, 3)
    assert store.trial_by_id(again.id).params == {"lr": 0.1}


def test_lose_follows_the_same_policy_as_the_sweep(backend: Any) -> None:
    store = backend()
    _budgeted(store, budget=1)
    first = store.reserve("ray")
    assert store.lose(first.id, first.attempts, "Ray worker died", max_attempts=2)
    assert not store.lose(first.id, first.attempts, "again", max_attempts=2)  # not twice
    second = store.claim("ray")
    assert second is not None and second.attempts == 2
    assert store.lose(second.id, second.attempts, "Ray worker died", max_attempts=2)
    final = store.trial_by_id(first.id)
    assert final.status is TrialStatus.FAILED and final.warnings == ["Ray worker died"] * 2


def _reserve_all(url: str, worker: str, out: Any, start: Any) -> None:
    store = SQLStore(url, prepare=False)
    start.wait()
    mine = []
    while (trial := store.reserve(worker)) is not None:
        mine.append(trial.index)
        store.set_params(trial.id, trial.attempts, {"i": trial.index}, 0)
    out.put(mine)


def test_eight_processes_reserve_each_index_exactly_once(store_url: str) -> None:
    store = open_store(store_url)
    (study_id,) = _budgeted(store, budget=300)
    reserved = compete(_reserve_all, store_url)
    assert sorted(i for part in reserved for i in part) == list(range(300))
    assert sum(1 for part in reserved if part) >= 2
    assert all(t.params == {"i": t.index} for t in store.trials([study_id]))


RECORDING_SAMPLER = """
    import json, os
    import numpy as np

    class Recording:
        adaptive = True

        def __init__(self, seed):
            self.seed = seed

        def suggest(self, ask):
            with open(os.environ["SAMPLER_LOG"], "a") as log:
                log.write(json.dumps({
                    "index": ask.index, "pid": os.getpid(),
                    "history": [[t.index, t.status.value, t.value] for t in ask.history],
                    "pending": [t.index for t in ask.pending],
                    "intermediate": {str(k): v for k, v in ask.intermediate.items()},
                    "ids": {str(t.id): t.index for t in ask.history},
                }) + "\\n")
            rng = np.random.default_rng([self.seed, ask.index])
            return {**ask.combo, "lr": float(10 ** rng.uniform(-4, 0))}

    def make(seed):
        return Recording(seed)
"""

SLOW_QUADRATIC = """
    import math, time

    def main(t):
        lr = t.params["lr"]
        for step in range(1, 4):
            time.sleep(0.15)
            t.report(step, loss=(math.log10(lr) + 2) ** 2 + 1.0 / step)
"""


def _recording_study(tmp_path: Path, budget: int) -> Path:
    (tmp_path / "recsampler.py").write_text(__import__("textwrap").dedent(RECORDING_SAMPLER))
    return write_study(tmp_path, SLOW_QUADRATIC, budget=budget,
                       sampler={"type": "custom", "factory": "recsampler:make", "seed": 5})


def _check_log(log: Path, store: Any, budget: int, slots: int) -> None:
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert sorted(line["index"] for line in lines) == list(range(budget))  # each asked once
    study = store.get_study("toy")
    trials = {t.index: t for t in store.trials([study.id])}
    assert all(t.status is TrialStatus.COMPLETED for t in trials.values())
    last = max(lines, key=lambda line: len(line["history"]))
    assert len(last["history"]) >= budget - slots  # it saw what finished before it
    for index, status, value in last["history"]:
        assert status == "completed" and value == trials[index].value
    for trial_id, series in last["intermediate"].items():
        index = last["ids"][trial_id]
        stored = [[p.step, p.value] for p in store.metric_history(trials[index].id, "loss")]
        assert series == stored  # the objective's intermediate values, step by step
    assert any(line["pending"] for line in lines)  # running trials arrive as pending
    for line in lines:
        assert line["index"] not in line["pending"]


def test_history_and_pending_reach_the_sampler_from_run(tmp_path: Path, store_url: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "sampler.jsonl"
    monkeypatch.setenv("SAMPLER_LOG", str(log))
    spec = load_spec(_recording_study(tmp_path, budget=6))
    run_study(spec, open_store(store_url), workers=2, runs_dir=tmp_path / "runs")
    _check_log(log, open_store(store_url), budget=6, slots=2)


def test_history_and_pending_reach_the_sampler_from_workers(tmp_path: Path,
                                                            store_url: str) -> None:
    log = tmp_path / "sampler.jsonl"
    env = {**os.environ, "SAMPLER_LOG": str(log)}
    path = _recording_study(tmp_path, budget=6)
    cli = [sys.executable, "-m", "tunebook.cli"]
    subprocess.run([*cli, "run", str(path), "--db", store_url, "--no-local-workers"],
                   env=env, cwd=tmp_path, check=True, capture_output=True, timeout=120)
    workers = [subprocess.Popen([*cli, "worker", "--db", store_url, "-w", "2", "--runs-dir",
                                 str(tmp_path / "runs")], env=env,
                                cwd=tmp_path, stderr=subprocess.PIPE, text=True)
               for _ in range(2)]
    for w in workers:
        _, err = w.communicate(timeout=300)
        assert w.returncode == 0, err
    _check_log(log, open_store(store_url), budget=6, slots=4)
    assert len({line["pid"] for line in map(json.loads, log.read_text().splitlines())}) == 2


def test_quasi_random_trials_are_the_sequence_whatever_the_order(tmp_path: Path,
                                                                  db_path: str) -> None:
    path = write_study(tmp_path, SLOW_QUADRATIC, budget=8,
                       scientific={"act": {"values": ["relu", "tanh"]}})
    run_study(load_spec(path), open_store(db_path), workers=3)
    store = open_store(db_path)
    study = store.get_study("toy")
    spec = study_spec(study)
    expected = QuasiRandomSampler(seed=0).params_at(spec.space, spec.space.combos(),
                                                    list(range(8)))
    assert [t.params for t in store.trials([study.id])] == expected


class _WritesWhileThinking:
    """A slow adaptive sampler that writes to the database from another connection.

    If a lock were held around ``suggest`` (SQLite's write lock, or a PostgreSQL row lock
    on the study), the write would wait for it: the sampler would block itself.
    """

    adaptive = True

    def __init__(self, url: str, trial_id: int):
        self.url, self.trial_id = url, trial_id
        self.waited: list[float] = []

    def suggest(self, ask: Any) -> dict[str, Any]:
        import time

        other = SQLStore(self.url, prepare=False)
        started = time.monotonic()
        other.report_metrics(self.trial_id, [(1, "loss", 0.5, 0.0)])  # a running trial's write
        other.reserve("elsewhere")  # and another worker's index reservation
        self.waited.append(time.monotonic() - started)
        other.close()
        return {"lr": 0.1}


def test_no_lock_is_held_while_the_sampler_thinks(tmp_path: Path, store_url: str) -> None:
    from tunebook.runner.plan import PlanSource, StudyPlan
    from tunebook.runner.slots import next_trial

    store = open_store(store_url)
    spec = load_spec(write_study(tmp_path, SLOW_QUADRATIC, budget=3))
    study = store.create_study("toy", spec.snapshot(), spec.identity_hash(), budget=3)
    running = store.reserve("busy")
    sampler = _WritesWhileThinking(store_url, running.id)
    plans = PlanSource(store)
    plans._plans[study.id] = StudyPlan(study, spec, sampler)
    trial = next_trial(store, "me", [study.id], plans)
    assert trial is not None and trial.params == {"lr": 0.1} and trial.index == 1
    assert sampler.waited and sampler.waited[0] < 2.0
    assert [p.step for p in store.metric_history(running.id)] == [1]
    assert store.get_trial(study.id, 2) is not None  # the other worker got its index
