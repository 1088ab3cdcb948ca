"""Baselines and launches: a value enters the baseline only with evidence, and every
version is kept with who, when, why and that evidence."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import tunebook_cli, write_study
from tests.test_rerun import NOISY
from tunebook import SpecError, load_spec, open_store, run_study
from tunebook.errors import LaunchRefused
from tunebook.store import Store
from tunebook.workflows import gather, launch, read_config, rerun_study

#: Loss grows with lr: the best trials crowd the lower bound of a range that stops short.
EDGE = """
    import math, random
    import tunebook

    def main(t):
        rng = random.Random(t.seed)
        base = t.params["lr"] * 10 + (0.0 if t.params["act"] == "gelu" else 0.001)
        for step in range(1, 4):
            t.report(step, loss=base + 1.0 / step + rng.gauss(0, 0.001))
"""


def _studies(tmp_path: Path, db: str, *, seeds: bool = True, **fields: object) -> Store:
    """The toy exploration (gelu beats relu by 0.3) and, with ``seeds``, its re-runs."""
    spec = load_spec(write_study(tmp_path / "p", NOISY, scientific={"act": ["relu", "gelu"]},
                                 budget=12, **fields))
    store = open_store(db)
    run_study(spec, store, workers=2)
    if seeds:
        run_study(rerun_study(store, "toy", seeds=3).spec, store, workers=2)
    return store


def test_a_launch_records_the_evidence_and_keeps_every_version(tmp_path: Path,
                                                               db_path: str) -> None:
    store = _studies(tmp_path, db_path, fixed={"batch_size": 32, "depth": 2}, max_steps=3)
    evidence = gather(store, "toy-seeds", "gelu")
    assert evidence.blockers == []
    record = launch(store, evidence, why="gelu wins by 0.3", author="ana")
    best = min((t for t in store.trials([store.get_study("toy-seeds").id])
                if t.params["act"] == "gelu"), key=lambda t: t.value or 0.0)
    assert record.version == 1 and record.config == {"batch_size": 32, "depth": 2,
                                                     **best.params, "max_steps": 3}
    assert record.study == "toy-seeds" and record.author == "ana" and not record.forced
    saved = record.evidence or {}
    rows = {r["value"]: r for r in saved["isolation"]}
    assert rows["act=gelu"]["spread_source"] == "seeds" and rows["act=gelu"]["seeds"] == 3
    assert rows["act=gelu"]["center"] < rows["act=relu"]["center"] - 0.2
    assert {c["study"] for c in saved["checklist"]} == {"toy", "toy-seeds"}  # and its parent
    assert "act=gelu is best" in saved["conclusion"]
    again = launch(store, gather(store, "toy-seeds", "act=gelu"), author="bo")
    assert again.version == 2 and [b.version for b in store.baselines("main")] == [1, 2]
    assert store.baseline("main", 1) == record  # the earlier version is untouched


def test_without_seed_reruns_or_for_the_losing_value_a_launch_is_refused(
        tmp_path: Path, db_path: str) -> None:
    store = _studies(tmp_path, db_path)
    with pytest.raises(LaunchRefused, match="no seed re-runs") as refused:
        launch(store, gather(store, "toy", "gelu"))
    assert any("tunebook rerun toy --seeds 5" in b for b in refused.value.blockers)
    with pytest.raises(LaunchRefused, match="act=relu is not the best value: act=gelu leads"):
        launch(store, gather(store, "toy-seeds", "relu"))
    assert store.baselines() == []  # nothing recorded by a refusal
    with pytest.raises(SpecError, match="--force needs --why"):
        launch(store, gather(store, "toy-seeds", "relu"), force=True)
    forced = launch(store, gather(store, "toy-seeds", "relu"), force=True,
                    why="relu is cheaper on our accelerator")
    assert forced.forced and forced.why == "relu is cheaper on our accelerator"
    assert "is not the best value" in (forced.evidence or {})["blockers"][0]


def test_a_failing_checklist_item_blocks_the_launch(tmp_path: Path, db_path: str) -> None:
    spec = load_spec(write_study(tmp_path / "p", EDGE, scientific={"act": ["relu", "gelu"]},
                                 nuisance={"lr": {"low": 0.01, "high": 1.0, "scale": "log"}},
                                 budget=40))
    store = open_store(db_path)
    run_study(spec, store, workers=2)
    run_study(rerun_study(store, "toy", seeds=3).spec, store, workers=2)
    evidence = gather(store, "toy-seeds", "gelu")
    assert any("toy: the checklist fails on 'Is the search space big enough?'" in b
               for b in evidence.texts), evidence.texts
    with pytest.raises(LaunchRefused, match="search space"):
        launch(store, evidence)


def test_a_value_the_study_did_not_test_is_a_clear_error(tmp_path: Path,
                                                         db_path: str) -> None:
    store = _studies(tmp_path, db_path, seeds=False)
    with pytest.raises(SpecError, match=r"'swish' names no value the study tested \(tested: "
                                        r"act=relu; act=gelu\)"):
        gather(store, "toy", "swish")
    with pytest.raises(SpecError, match="names no value"):
        gather(store, "toy", "width=3")
    with pytest.raises(SpecError, match="'act=relu,act=gelu' names act twice"):
        gather(store, "toy", "act=relu,act=gelu")  # not silently the last of them


def test_changing_the_batch_size_says_the_nuisance_values_need_retuning(
        tmp_path: Path, db_path: str) -> None:
    store = _studies(tmp_path, db_path, fixed={"batch_size": 64})
    store.add_baseline("main", {"batch_size": 32, "act": "relu", "lr": 0.01}, author="ana")
    evidence = gather(store, "toy-seeds", "gelu")
    assert evidence.changes["batch_size"] == [32, 64] and evidence.changes["act"] == [
        "relu", "gelu"]
    assert len(evidence.notes) == 1 and "must be re-tuned" in evidence.notes[0]
    assert "from 32 to 64" in evidence.notes[0]


def test_baseline_files_are_read_or_refused_with_the_reason(tmp_path: Path) -> None:
    flat = tmp_path / "base.yaml"
    flat.write_text("lr: 0.01\nact: relu\nwarmup: null\n")
    assert read_config(flat) == {"lr": 0.01, "act": "relu", "warmup": None}
    study = write_study(tmp_path / "s", fixed={"batch_size": 32, "depth": 2})
    assert read_config(study) == {"batch_size": 32, "depth": 2}
    nested = tmp_path / "nested.yaml"
    nested.write_text("lr: [0.1, 0.2]\n")
    with pytest.raises(SpecError, match=r"nested.yaml: lr: lr must be plain values"):
        read_config(nested)
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing\n")
    with pytest.raises(SpecError, match="holds no configuration"):
        read_config(empty)


def test_the_commands_set_show_launch_and_list(tmp_path: Path, db_path: str) -> None:
    _studies(tmp_path, db_path)
    base = tmp_path / "base.yaml"
    base.write_text("lr: 0.01\nact: relu\n")

    def cli(*args: str) -> str:
        out = tunebook_cli(*args, "--db", db_path, cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        return out.stdout

    assert "baseline main is now version 1" in cli("baseline", "set", str(base), "--why",
                                                   "start")
    assert "already holds this configuration" in cli("baseline", "set", str(base))
    refused = tunebook_cli("launch", "toy", "--value", "gelu", "--db", db_path, cwd=tmp_path)
    assert refused.returncode == 1 and "no seed re-runs" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert "isolation: toy" in refused.stdout  # the evidence is shown, then the refusal
    out = cli("launch", "toy-seeds", "--value", "gelu", "--author", "ana")
    assert "launched: baseline main is now version 2" in out and "act: 'relu' → 'gelu'" in out
    history = cli("baseline", "history")
    assert "launch: toy-seeds" in history and "start" in history and "base.yaml" in history
    assert "act=gelu" in cli("launches") and "ana" in cli("launches")
    shown = cli("baseline", "show", "--version", "1")
    assert "baseline main v1" in shown and "'relu'" in shown
    missing = tunebook_cli("baseline", "show", "--baseline", "other", "--db", db_path,
                           cwd=tmp_path)
    assert missing.returncode == 1 and "no baseline 'other' yet" in missing.stderr


def test_a_derived_study_defers_the_search_questions_to_its_ancestors(
        tmp_path: Path, db_path: str) -> None:
    from tunebook.analysis.report import study_report

    store = _studies(tmp_path, db_path)
    run_study(rerun_study(store, "toy-seeds", seeds=2).spec, store, workers=2)
    states = {f.question: f for f in study_report(store, "toy-seeds-seeds").findings}
    for question in ("Is the search space big enough?", "Were enough points sampled?"):
        assert states[question].verdict.value == "unknown"
        assert "Not a search: toy-seeds-seeds re-trains configurations chosen from " \
               "toy-seeds" in states[question].summary
    evidence = gather(store, "toy-seeds-seeds", "gelu")
    assert {c["study"] for c in evidence.checklist} == {"toy-seeds-seeds", "toy-seeds", "toy"}
    assert evidence.blockers == []
