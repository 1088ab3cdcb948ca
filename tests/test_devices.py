"""GPUs for local trials, without a GPU: the devices are named (``--devices``), and the
trainers record the ``CUDA_VISIBLE_DEVICES`` they got and when they ran."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from tests.conftest import tunebook_cli, write_study
from tunebook import TunebookError, load_spec, open_store, run_study
from tunebook.runner.devices import gpu_slots
from tunebook.workflows import RunOptions, lr_sweep

# Each trial appends "devices start end" to the file named by its `log` fixed value.
RECORDS = """
    import os
    import time

    def main(t):
        start = time.time()
        time.sleep(0.4)
        with open(t.params["log"], "a") as out:
            out.write(f"{os.environ.get('CUDA_VISIBLE_DEVICES', '-')} {start} {time.time()}\\n")
        t.report(1, loss=t.params["learning_rate"])
"""
NUISANCE = {"learning_rate": {"low": 1e-4, "high": 1.0, "scale": "log"}}


def test_slots_follow_the_devices_and_what_a_trial_asks_for() -> None:
    assert gpu_slots(1, ["0", "1"]) == [{"CUDA_VISIBLE_DEVICES": "0"},
                                        {"CUDA_VISIBLE_DEVICES": "1"}]
    half = [s["CUDA_VISIBLE_DEVICES"] for s in gpu_slots(0.5, ["0", "1"])]
    assert half == ["0", "1", "0", "1"]  # spread over the cards before sharing one
    assert [s["CUDA_VISIBLE_DEVICES"] for s in gpu_slots(0.3, ["0"])] == ["0"] * 3
    pairs = [s["CUDA_VISIBLE_DEVICES"] for s in gpu_slots(2, ["0", "1", "2", "3", "4"])]
    assert pairs == ["0,1", "2,3"]  # the odd card out is not half a trial
    assert len(gpu_slots(1, ["0", "1", "2"], workers=2)) == 2  # -w may ask for fewer
    with pytest.raises(TunebookError, match="shows none"):
        gpu_slots(1, [])
    with pytest.raises(TunebookError, match="must be a whole number"):
        gpu_slots(1.5, ["0", "1"])
    with pytest.raises(TunebookError, match="needs 4 GPUs"):
        gpu_slots(4, ["0", "1"])


def _runs(log: Path) -> list[tuple[set[str], float, float]]:
    rows = [line.split() for line in log.read_text().splitlines()]
    return [(set(devices.split(",")), float(a), float(b)) for devices, a, b in rows]


def _overlapping(runs: list[tuple[set[str], float, float]]) -> list[tuple[Any, Any]]:
    return [(x, y) for x, y in itertools.combinations(runs, 2)
            if x[1] < y[2] and y[1] < x[2]]


Any = object


@pytest.mark.parametrize(("gpus", "devices", "per_card", "cards"),
                         [(1, ["0", "1"], 1, 1), (0.5, ["0"], 2, 1),
                          (2, ["0", "1", "2", "3"], 1, 2)])
def test_concurrent_trials_share_a_card_only_as_their_resources_say(
        tmp_path: Path, db_path: str, gpus: float, devices: list[str], per_card: int,
        cards: int) -> None:
    log = tmp_path / "runs.log"
    spec = load_spec(write_study(tmp_path / "s", RECORDS, budget=6, nuisance=NUISANCE,
                                 fixed={"log": str(log)}, resources={"gpus": gpus}))
    store = open_store(db_path)
    run_study(spec, store, workers=None, devices=devices)
    runs = _runs(log)
    assert len(runs) == 6 and all(len(d) == cards and d <= set(devices) for d, _, _ in runs)
    assert _overlapping(runs)  # the slots ran at once
    for card in devices:  # at no moment more trials on a card than it takes
        on_card = [r for r in runs if card in r[0]]
        for group in itertools.combinations(on_card, per_card + 1):
            assert not all(_overlap(a, b) for a, b in itertools.combinations(group, 2))
    trials = store.trials([store.get_study("toy").id])
    assert all(t.status.value == "completed" for t in trials), [t.reason for t in trials]
    recorded = {t.devices for t in trials}
    assert recorded == {",".join(sorted(d)) for d, _, _ in runs}  # kept with each trial


def _overlap(a: tuple[set[str], float, float], b: tuple[set[str], float, float]) -> bool:
    return a[1] < b[2] and b[1] < a[2]


def test_a_study_asking_for_gpus_is_refused_where_there_are_none(tmp_path: Path,
                                                                 db_path: str) -> None:
    path = write_study(tmp_path / "s", RECORDS, budget=2, fixed={"log": str(tmp_path / "x")},
                       resources={"gpus": 1}, nuisance=NUISANCE)
    out = tunebook_cli("run", str(path), "--db", db_path, cwd=tmp_path,
                       env={"CUDA_VISIBLE_DEVICES": "", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 1 and "shows none" in out.stderr and "--devices" in out.stderr
    assert "Traceback" not in out.stderr
    assert open_store(db_path).find_study("toy") is None  # refused before anything was made
    shown = tunebook_cli("run", str(path), "--db", db_path, "--devices", "3",
                         cwd=tmp_path, env={"CUDA_VISIBLE_DEVICES": ""})
    assert shown.returncode == 0, shown.stderr  # the user's own list, used as given
    assert tunebook_cli("show", "toy/0", "--db", db_path, cwd=tmp_path).stdout.count(
        "GPUs 3") == 1


def test_workflows_and_the_autopilot_pass_the_devices_through(tmp_path: Path,
                                                              db_path: str) -> None:
    log = tmp_path / "runs.log"
    spec = load_spec(write_study(tmp_path / "s", RECORDS, budget=4, max_steps=1,
                                 fixed={"log": str(log)}, nuisance=NUISANCE))
    store = open_store(db_path)
    options = RunOptions(workers=None, devices=("5", "7"))
    swept = lr_sweep(spec, store, key="learning_rate", low=1e-3, high=1e-1, points=4,
                     early_check=False, options=options)
    trials = store.trials(store.tree(swept.studies[0]).ids)
    assert {t.devices for t in trials} <= {"5", "7"} and len(trials) == 4
    out = tunebook_cli("autopilot", str(tmp_path / "s" / "study.yaml"), "--budget", "14",
                       "--devices", "5,7", "--db", db_path, "--no-progress", cwd=tmp_path)
    assert out.returncode == 0, out.stderr + out.stdout
    ran = [t for name in ("toy",) for t in store.trials(store.tree(name).ids)
           if t.status.finished]
    assert ran and {t.devices for t in ran} <= {"5", "7"}
    assert all(t.status.value == "completed" for t in ran)


FLAKY = RECORDS.replace('''        start = time.time()''', '''        start = time.time()
        if os.path.exists(t.params["log"] + ".broken") and t.index % 2 == 0:
            raise RuntimeError("the data loader broke")''')


def test_a_retried_trial_runs_again_on_a_card_of_its_own(tmp_path: Path, db_path: str) -> None:
    log = tmp_path / "runs.log"
    (tmp_path / "runs.log.broken").touch()
    path = write_study(tmp_path / "s", FLAKY, budget=6, nuisance=NUISANCE,
                       fixed={"log": str(log)}, resources={"gpus": 1})
    store = open_store(db_path)
    run_study(load_spec(path), store, workers=None, devices=["0", "1"])
    failed = [t for t in store.trials([store.get_study("toy").id]) if t.reason]
    assert len(failed) == 3
    (tmp_path / "runs.log.broken").unlink()
    log.unlink()
    out = tunebook_cli("retry", "toy", "--db", db_path, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    run_study(load_spec(path), store, workers=None, devices=["0", "1"])
    runs = _runs(log)  # only the three retried trials ran, two at a time
    assert len(runs) == 3 and not [pair for pair in itertools.combinations(runs, 2)
                                   if pair[0][0] == pair[1][0] and _overlap(*pair)]
    again = [store.get_trial(store.get_study("toy").id, t.index) for t in failed]
    assert all(t is not None and t.status.value == "completed" and t.devices in ("0", "1")
               for t in again)
