"""The storage contract (see the ``Store`` docstring), on SQLite, PostgreSQL and in memory."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import compete
from tunebook import SQLStore, StaleClaim, Store, StoreError, TrialStatus, open_store
from tunebook.records import DecisionState


def _study(store: Store, trials: int = 3) -> int:
    study = store.create_study("s", {"objective": {"metric": "loss"}}, "id")
    store.enqueue(study.id, [(i, {"lr": 0.1 * i}, i) for i in range(trials)])
    return study.id


def test_params_are_durable_before_claim(backend: Any) -> None:
    study_id = _study(backend())
    other = backend()  # a second connection sees the queued params
    claimed = other.claim("w")
    assert claimed is not None and claimed.params == {"lr": 0.0} and claimed.attempts == 1
    assert backend().trials([study_id], TrialStatus.RUNNING)[0].worker == "w"


def test_enqueue_skips_existing_indices(backend: Any) -> None:
    store = backend()
    study_id = _study(store, trials=3)
    assert store.enqueue(study_id, [(i, {"lr": 9.0}, 0) for i in range(5)]) == 2
    assert [t.params["lr"] for t in store.trials([study_id])][:3] == [0.0, 0.1, 0.2]


def test_finish_is_idempotent_and_stale_claims_are_refused(backend: Any) -> None:
    store = backend()
    study_id = _study(store, trials=1)
    first = store.claim("a")
    assert first is not None
    store.finish(first.id, first.attempts, TrialStatus.COMPLETED, value=1.5)
    store.finish(first.id, first.attempts, TrialStatus.COMPLETED, value=1.5)  # retried
    with pytest.raises(StaleClaim):
        store.finish(first.id, first.attempts, TrialStatus.FAILED, reason="late")
    assert store.trials([study_id])[0].value == 1.5
    with pytest.raises(ValueError, match="final status"):
        store.finish(first.id, first.attempts, TrialStatus.RUNNING)


def test_requeued_trial_cannot_be_finished_by_its_old_worker(backend: Any) -> None:
    store = backend()
    _study(store, trials=1)
    old = store.claim("host:1:0")
    assert old is not None
    assert store.requeue_stale(None, timeout_s=3600, is_dead=lambda w: w == "host:1:0")
    assert store.requeue_stale(None, timeout_s=3600, is_dead=lambda w: True) == []
    new = store.claim("host:2:0")
    assert new is not None and new.id == old.id and new.attempts == 2
    with pytest.raises(StaleClaim):
        store.heartbeat(old.id, old.attempts)
    with pytest.raises(StaleClaim):
        store.finish(old.id, old.attempts, TrialStatus.COMPLETED, value=0.0)
    store.finish(new.id, new.attempts, TrialStatus.COMPLETED, value=2.0)


def test_silent_trials_are_requeued_after_the_timeout(backend: Any) -> None:
    store = backend()
    _study(store, trials=1)
    trial = store.claim("elsewhere:1:0")
    assert trial is not None
    assert store.requeue_stale(None, timeout_s=3600) == []
    assert store.requeue_stale(None, timeout_s=0.0) == [trial.id]
    requeued = store.trial_by_id(trial.id)
    assert requeued.status is TrialStatus.QUEUED and "went silent" in (requeued.reason or "")


def test_metrics_are_idempotent_per_step(backend: Any) -> None:
    store = backend()
    _study(store, trials=1)
    trial = store.claim("w")
    assert trial is not None
    batch = [(s, "loss", 1.0 / (s + 1), 0.0) for s in range(100)]
    store.report_metrics(trial.id, batch)
    store.report_metrics(trial.id, batch)  # a retried batch
    store.report_metrics(trial.id, [(99, "loss", float("nan"), 0.0)])
    history = store.metric_history(trial.id, "loss")
    assert [p.step for p in history] == list(range(100))
    assert history[-1].value != history[-1].value  # NaN survives as NaN
    assert store.final_metrics(trial.id)["loss"] != store.final_metrics(trial.id)["loss"]


def _claim_all(db_path: str, worker: str, out: Any,
               start: Any) -> None:
    store = SQLStore(db_path, prepare=False)
    start.wait()  # all four connected before anyone claims
    mine = []
    while (trial := store.claim(worker)) is not None:
        mine.append(trial.index)
        store.finish(trial.id, trial.attempts, TrialStatus.COMPLETED, value=0.0)
    out.put(mine)


def test_eight_processes_claim_each_of_500_trials_exactly_once(store_url: str) -> None:
    store = open_store(store_url)
    study_id = _study(store, trials=500)
    claimed = compete(_claim_all, store_url)
    every = sorted(i for part in claimed for i in part)
    assert every == list(range(500))
    assert sum(1 for part in claimed if part) >= 2  # they really competed
    assert all(t.attempts == 1 for t in store.trials([study_id]))


def test_garbage_file_is_refused_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"these are my notes, not a database\n" * 10)
    before = path.read_bytes()
    with pytest.raises(StoreError, match="not a tunebook database"):
        open_store(str(path))
    assert path.read_bytes() == before


def test_foreign_sqlite_database_is_refused_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER)")
    before = path.read_bytes()
    with pytest.raises(StoreError, match="not a tunebook database"):
        open_store(str(path))
    assert path.read_bytes() == before
    assert not Path(f"{path}-wal").exists()


def test_newer_schema_is_refused_and_untouched(db_path: str) -> None:
    open_store(db_path).close()
    with sqlite3.connect(db_path) as conn:
        conn.execute("UPDATE tunebook_alembic_version SET version_num = '9999_future'")
    before = Path(db_path).read_bytes()
    with pytest.raises(StoreError, match="newer tunebook"):
        open_store(db_path)
    assert Path(db_path).read_bytes() == before


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        open_store(str(tmp_path / "absent" / "x.db"))


def test_an_old_schema_is_migrated_in_place(db_path: str) -> None:
    from alembic import command

    from tunebook.store import engine

    open_store(db_path).close()
    eng = engine.make_engine(engine.resolve_url(db_path))
    with eng.begin() as conn:
        command.downgrade(engine._alembic_config(conn), "0001")
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT version_num FROM tunebook_alembic_version").fetchone() == (
            "0001",)
    store = open_store(db_path)  # upgrades to the head
    study_id = _study(store, trials=1)
    trial = store.claim("w")
    assert trial is not None
    store.add_warning(trial.id, "input-bound")
    store.add_warning(trial.id, "input-bound")
    assert store.trials([study_id])[0].warnings == ["input-bound"]


def test_a_trial_lost_too_often_is_failed_with_its_history(backend: Any) -> None:
    store = backend()
    study_id = _study(store, trials=1)
    for attempt in (1, 2, 3):
        trial = store.claim(f"host:{attempt}:0")
        assert trial is not None and trial.attempts == attempt
        store.requeue_stale(None, timeout_s=3600, is_dead=lambda w: True, max_attempts=3)
    final = store.trials([study_id])[0]
    assert final.status is TrialStatus.FAILED and store.claim("late") is None
    assert (final.reason or "").startswith("gave up after 3 attempts")
    assert final.warnings == [f"attempt {n}: worker host:{n}:0 died" for n in (1, 2, 3)]


def test_retry_requeues_finished_trials_and_keeps_their_history(backend: Any) -> None:
    store = backend()
    study_id = _study(store, trials=3)
    outcomes = [TrialStatus.FAILED, TrialStatus.COMPLETED, TrialStatus.INFEASIBLE]
    for status in outcomes:
        trial = store.claim("w")
        store.finish(trial.id, trial.attempts, status, reason=f"{status.value} because\nmore")
    again = store.retry_trials([study_id], [TrialStatus.FAILED])
    assert len(again) == 1
    retried = store.trial_by_id(again[0])
    assert retried.status is TrialStatus.QUEUED and retried.params == {"lr": 0.0}
    assert retried.warnings == ["attempt 1: failed (failed because)"]
    assert store.retry_trials([study_id], [TrialStatus.FAILED]) == []  # queued: untouched
    assert store.retry_trials([study_id], [TrialStatus.COMPLETED, TrialStatus.INFEASIBLE],
                              indices=[2]) != []
    assert store.counts([study_id])[TrialStatus.COMPLETED] == 1
    claimed = store.claim("w")
    assert claimed is not None and claimed.index == 0 and claimed.attempts == 2


def test_delete_study_removes_its_tree_and_nothing_else(backend: Any) -> None:
    store = backend()
    root = store.create_study("s", {}, "x")
    leaf = store.create_study("s[a]", {}, "x", parent_id=root.id, budget=2)
    other = store.create_study("t", {}, "x", budget=1)
    for study in (leaf, other):
        trial = store.reserve("w", [study.id])
        store.report_metrics(trial.id, [(1, "loss", 1.0, 0.0)])
        store.add_checkpoint(trial.id, 1, "/tmp/x")
    kept = store.trials([other.id])[0]
    assert store.delete_study(root.id) == 1
    assert store.find_study("s") is None and store.find_study("s[a]") is None
    assert store.trials([leaf.id]) == []
    assert store.metric_history(kept.id) and store.checkpoints(kept.id)


def test_last_update_moves_with_every_trial_event(backend: Any) -> None:
    store = backend()
    study_id = _study(store, trials=2)
    created = store.last_update([study_id])
    assert created is not None and store.last_update([study_id + 999]) is None
    trial = store.claim("w")
    started = store.last_update([study_id])
    assert started is not None and started >= created
    store.finish(trial.id, trial.attempts, TrialStatus.COMPLETED, value=1.0)
    finished = store.trial_by_id(trial.id).finished_at
    assert store.last_update([study_id]) == finished


def test_deleting_a_study_takes_its_later_rounds_at_any_depth(backend: Any) -> None:
    store = backend()
    root = _study(store, trials=3)
    round2 = store.create_study("s-seeds", {"objective": {"metric": "loss"}}, "id2",
                                round=2, parent_id=root)
    store.enqueue(round2.id, [(0, {"lr": 0.1}, 7)])
    round3 = store.create_study("s-seeds-seeds", {"objective": {"metric": "loss"}}, "id3",
                                round=3, parent_id=round2.id)
    store.enqueue(round3.id, [(0, {"lr": 0.1}, 8), (1, {"lr": 0.1}, 9)])
    other = store.create_study("unrelated", {"objective": {"metric": "loss"}}, "id4")
    assert [t.root.name for t in store.trees()] == ["s", "s-seeds", "s-seeds-seeds",
                                                    "unrelated"]
    assert store.delete_study(root) == 3 + 1 + 2
    assert [s.name for s in store.list_studies()] == ["unrelated"]
    assert store.trials([other.id]) == []


def test_baseline_versions_are_added_never_overwritten(backend: Any) -> None:
    store = backend()
    first = store.add_baseline("main", {"lr": 0.1}, author="ana", source="base.yaml")
    study_id = _study(store, trials=1)
    second = backend().add_baseline("main", {"lr": 0.2}, author="bo", why="gelu wins",
                                    study="s", evidence={"gap": 0.03}, forced=True)
    other = store.add_baseline("big-model", {"lr": 1.0}, author="ana")
    assert (first.version, second.version, other.version) == (1, 2, 1)
    store.delete_study(study_id)  # a launch outlives the study it came from
    kept = backend().baselines("main")
    assert [(b.version, b.config, b.launch) for b in kept] == [
        (1, {"lr": 0.1}, False), (2, {"lr": 0.2}, True)]
    assert kept[1].evidence == {"gap": 0.03} and kept[1].forced and kept[1].why == "gelu wins"
    assert backend().baseline("main") == kept[1]
    assert backend().baseline("main", version=1) == kept[0]
    assert backend().baseline("absent") is None
    assert [b.name for b in backend().baselines()] == ["main", "main", "big-model"]


def _decide(store: Any, seq: int, state: DecisionState = DecisionState.MADE,
            pilot: str = "p") -> Any:
    return store.add_decision(pilot, seq, phase="explore", action="run", summary=f"step {seq}",
                              why="because", stats={"trials": 12, "p": 0.01}, study="s",
                              spent=seq * 2.5, budget=40.0, state=state)


def test_decisions_keep_their_order_and_a_place_is_written_once(backend: Any) -> None:
    store = backend()
    _decide(store, 0)
    _decide(backend(), 1, DecisionState.PROPOSED)
    _decide(store, 0, pilot="other")
    with pytest.raises(StaleClaim):
        _decide(backend(), 1)  # a second driver of the same pilot
    timeline = backend().decisions("p")
    assert [(d.seq, d.summary, d.state) for d in timeline] == [
        (0, "step 0", DecisionState.MADE), (1, "step 1", DecisionState.PROPOSED)]
    assert timeline[1].stats == {"trials": 12, "p": 0.01} and timeline[1].left == 37.5
    assert [d.pilot for d in backend().decisions()] == ["p", "p", "other"]
    assert backend().resolve_decision(timeline[1].id, DecisionState.REJECTED, "too early")
    assert not backend().resolve_decision(timeline[1].id, DecisionState.APPROVED)
    assert not backend().resolve_decision(timeline[0].id, DecisionState.APPROVED)
    again = backend().decisions("p")[1]
    assert (again.state, again.note) == (DecisionState.REJECTED, "too early")


def _add_versions(url: str, worker: str, out: Any, start: Any) -> None:
    store = open_store(url)
    start.wait()
    out.put([store.add_baseline("main", {"by": worker, "i": i}, author=worker).version
             for i in range(10)])


def test_concurrent_baseline_writers_get_distinct_versions(store_url: str) -> None:
    open_store(store_url).close()
    versions = sorted(v for part in compete(_add_versions, store_url) for v in part)
    assert versions == list(range(1, len(versions) + 1))
    assert len(open_store(store_url).baselines("main")) == len(versions)
