"""Running trials for real: crash isolation, NaN and Infeasible, commands, kills, resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import QUADRATIC, tunebook_cli, write_study
from tunebook import SpecError, Store, TrialStatus, load_spec, open_store, run_study

MIXED = """
    import math, os
    import tunebook

    def main(t):
        kind = t.index % 6
        if kind == 0:
            os.abort()
        if kind == 1:
            t.report(1, loss=1.0)
            t.report(2, loss=float("nan"))
            return
        if kind == 2:
            raise ValueError("boom in user code")
        if kind == 3:
            raise tunebook.Infeasible("batch does not fit")
        if kind == 4:
            return {"loss": 0.5, "acc": 0.9}
        t.report(1, loss=2.0)
        t.report(2, loss=1.0)
        t.report(3, loss=1.5)
"""


def _by_index(store: Store, name: str) -> dict[int, object]:
    study = store.get_study(name)
    return {t.index: t for t in store.trials([study.id])}


def test_each_failure_is_recorded_and_the_study_goes_on(tmp_path: Path, db_path: str) -> None:
    spec = load_spec(write_study(tmp_path, MIXED, budget=6))
    store = open_store(db_path)
    result = run_study(spec, store, workers=2)
    trials = _by_index(store, "toy")
    assert len(trials) == 6 and not result.interrupted
    aborted, nan, raised, infeasible, returned, reported = (trials[i] for i in range(6))
    assert aborted.status is TrialStatus.FAILED and "SIGABRT" in aborted.reason
    assert nan.status is TrialStatus.INFEASIBLE and "nan at step 2" in nan.reason
    assert raised.status is TrialStatus.FAILED
    assert "ValueError: boom in user code" in raised.reason and "Traceback" in raised.reason
    assert infeasible.status is TrialStatus.INFEASIBLE
    assert infeasible.reason == "batch does not fit"
    assert returned.status is TrialStatus.COMPLETED and returned.value == 0.5
    assert returned.metrics == {"loss": 0.5, "acc": 0.9}
    assert reported.status is TrialStatus.COMPLETED and reported.value == 1.0  # best, not last
    assert result.best == 0.5


def test_select_last_and_maximize(tmp_path: Path, db_path: str) -> None:
    source = """
        def main(t):
            for step, acc in enumerate([0.2, 0.9, 0.7]):
                t.report(step, acc=acc)
    """
    for select, expected in (("last", 0.7), ("best", 0.9)):
        spec = load_spec(write_study(tmp_path / select, source, name=f"toy-{select}", budget=1,
                                     objective={"metric": "acc", "goal": "maximize",
                                                "select": select}))
        run_study(spec, open_store(db_path))
        assert _by_index(open_store(db_path), f"toy-{select}")[0].value == expected


def test_missing_objective_is_a_clear_failure(tmp_path: Path, db_path: str) -> None:
    spec = load_spec(write_study(tmp_path, "def main(t):\n    t.report(1, other=1.0)\n",
                                 budget=1))
    run_study(spec, open_store(db_path))
    trial = _by_index(open_store(db_path), "toy")[0]
    assert trial.status is TrialStatus.FAILED and "never reported the objective 'loss'" in (
        trial.reason or "")


COMMAND_SCRIPT = """
    import sys
    import tunebook

    t = tunebook.trial()
    lr = float(sys.argv[1])
    assert abs(lr - t.params["lr"]) < 1e-9 * lr
    if t.index == 1:
        raise tunebook.Infeasible("lr too high for this model")
    if t.index == 2:
        sys.exit(3)
    for step in range(1, 4):
        t.report(step, loss=lr * step)
"""


def test_command_trainer(tmp_path: Path, db_path: str) -> None:
    (tmp_path / "script.py").write_text(COMMAND_SCRIPT.replace("\n    ", "\n"))
    spec = load_spec(write_study(tmp_path, None, budget=4, trainer={
        "command": f"{sys.executable} script.py {{lr}} --seed {{seed}}"}))
    run_study(spec, open_store(db_path), workers=2)
    trials = _by_index(open_store(db_path), "toy")
    assert trials[0].status is TrialStatus.COMPLETED
    assert trials[0].value == pytest.approx(trials[0].params["lr"])
    assert trials[1].status is TrialStatus.INFEASIBLE
    assert trials[1].reason == "lr too high for this model"
    assert trials[2].status is TrialStatus.FAILED and "exited with code 3" in trials[2].reason
    assert trials[3].status is TrialStatus.COMPLETED


def test_resume_adds_trials_without_repeating(tmp_path: Path, db_path: str) -> None:
    path = write_study(tmp_path, QUADRATIC, budget=4)
    run_study(load_spec(path), open_store(db_path))
    first = {i: t.params for i, t in _by_index(open_store(db_path), "toy").items()}
    path = write_study(tmp_path, QUADRATIC, budget=7)
    result = run_study(load_spec(path), open_store(db_path))
    assert result.prepared.resumed and result.prepared.enqueued == 3
    trials = _by_index(open_store(db_path), "toy")
    assert {i: trials[i].params for i in range(4)} == first
    assert all(t.status is TrialStatus.COMPLETED and t.attempts == 1 for t in trials.values())
    assert len({t.params["lr"] for t in trials.values()}) == 7


def test_per_value_mode_runs_one_sub_study_per_value(tmp_path: Path, db_path: str) -> None:
    spec = load_spec(write_study(tmp_path, QUADRATIC, budget=7, mode="per_value",
                                 scientific={"opt": ["sgd", "adam"]}))
    store = open_store(db_path)
    run_study(spec, store, workers=2)
    children = store.children(store.get_study("toy").id)
    assert [c.name for c in children] == ["toy[opt=sgd]", "toy[opt=adam]"]
    sizes = [len(store.trials([c.id])) for c in children]
    assert sizes == [4, 3]
    assert {t.params["opt"] for t in store.trials([children[1].id])} == {"adam"}
    out = tunebook_cli("run", str(tmp_path / "study.yaml"), "--db", db_path, "--no-progress",
                       cwd=tmp_path)  # resumed: says the uneven split it made
    assert out.returncode == 0 and "a budget of 7 does not split evenly over 2 values: " \
        "they get 4/3 trials" in out.stdout, out.stdout
    assert "resumed: 7 of 7 trials had finished, 0 to run." in out.stdout
    grown = write_study(tmp_path, QUADRATIC, budget=10, mode="per_value",
                        scientific={"opt": ["sgd", "adam"]})
    out = tunebook_cli("run", str(grown), "--db", db_path, "--no-progress", cwd=tmp_path)
    assert "resumed: 7 of 10 trials had finished, 3 to run." in out.stdout, out.stdout


def test_long_names_and_values_get_folders_the_file_system_accepts(tmp_path: Path,
                                                                   db_path: str) -> None:
    long_value = "v" * 180  # a per-value study is named by its value: ~380 bytes in all
    spec = load_spec(write_study(tmp_path, QUADRATIC, name="n" * 190, budget=4,
                                 mode="per_value", scientific={"opt": [long_value, "sgd"]}))
    result = run_study(spec, open_store(db_path), workers=2, runs_dir=tmp_path / "runs")
    assert result.counts[TrialStatus.COMPLETED] == 4
    folders = [p.name for p in (tmp_path / "runs").iterdir()]
    assert len(folders) == 2 and all(len(f.encode()) <= 150 for f in folders), folders


SLOW = """
    import os, time
    from pathlib import Path
    import tunebook

    def main(t):
        marks = Path(os.environ["MARKS"])
        (marks / f"start-{t.index}-{os.getpid()}").touch()
        for step in range(1, 5):
            # the trials after the first two are slower: still running when the test
            # interrupts, however late a loaded machine lets it act
            time.sleep(0.4 if t.index < 2 else 1.5)
            t.report(step, loss=t.params["lr"] * step)
        (marks / f"done-{t.index}-{os.getpid()}").touch()
"""


def _start_run(path: Path, db_path: str, marks: Path, workers: int = 2) -> subprocess.Popen[str]:
    env = {**os.environ, "MARKS": str(marks)}
    return subprocess.Popen([sys.executable, "-m", "tunebook.cli", "run", str(path), "--db",
                             db_path, "--workers", str(workers), "--no-progress"],
                            env=env, cwd=path.parent, start_new_session=True, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for(marks: Path, prefix: str, count: int, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while len(list(marks.glob(f"{prefix}*"))) < count:
        assert time.time() < deadline, f"timed out waiting for {count} {prefix} marks"
        time.sleep(0.05)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("how", ["sigkill", "ctrl-c", "sigterm"])
def test_interrupted_trials_are_resumed_not_lost_or_duplicated(
        tmp_path: Path, db_path: str, how: str) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    path = write_study(tmp_path, SLOW, budget=6)
    run = _start_run(path, db_path, marks)
    _wait_for(marks, "done-", 2)
    _wait_for(marks, "start-", 4)
    if how == "sigkill":
        run.kill()  # the worker process only: its trial processes must notice and exit
    elif how == "sigterm":
        run.terminate()  # what Slurm, Kubernetes and `timeout` send
    else:
        os.killpg(run.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    code = run.wait(timeout=60)
    expected = {"sigkill": -signal.SIGKILL, "ctrl-c": 130, "sigterm": 143}[how]
    stderr = run.stderr.read()
    assert code == expected, stderr
    if how != "sigkill":
        assert "trials in flight were re-queued" in stderr
    in_flight = {int(p.name.split("-")[1]): int(p.name.split("-")[2])
                 for p in marks.glob("start-*")
                 if not list(marks.glob(f"done-{p.name.split('-')[1]}-*"))}
    assert in_flight, "some trials should have been cut off mid-run"
    deadline = time.time() + 10
    while any(_pid_alive(pid) for pid in in_flight.values()):
        assert time.time() < deadline, "orphaned trial processes kept running"
        time.sleep(0.1)
    done_before = {p.name for p in marks.glob("done-*")}

    rerun = _start_run(path, db_path, marks)
    _, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, err
    trials = _by_index(open_store(db_path), "toy")
    assert sorted(trials) == list(range(6))
    assert all(t.status is TrialStatus.COMPLETED for t in trials.values())
    for index in in_flight:
        assert trials[index].attempts == 2  # the cut-off attempt, then the one that finished
    completions = [p.name.split("-")[1] for p in marks.glob("done-*")]
    assert sorted(completions) == [str(i) for i in range(6)]  # each trial finished once
    assert done_before <= {p.name for p in marks.glob("done-*")}
    steps = [p.step for p in open_store(db_path).metric_history(trials[min(in_flight)].id)]
    assert steps == [1, 2, 3, 4]


def test_conditional_params_reach_training_code_by_plain_name(tmp_path: Path,
                                                               db_path: str) -> None:
    source = """
        def main(t):
            p = t.params
            assert "beta1[opt=adam]" not in p and p["batch"] == 32
            expected = {"adam": (0.8, 0.99), "sgd": (0.0, 0.5)}[p["opt"]]
            assert expected[0] <= p["beta1"] <= expected[1], p
            t.report(1, loss=p["beta1"])
    """
    spec = load_spec(write_study(
        tmp_path, source, budget=6, fixed={"batch": 32}, scientific={"opt": ["sgd", "adam"]},
        conditional={"opt": {"adam": {"beta1": {"low": 0.8, "high": 0.99}},
                             "sgd": {"beta1": {"low": 0.0, "high": 0.5}}}}))
    run_study(spec, open_store(db_path))
    trials = _by_index(open_store(db_path), "toy").values()
    assert all(t.status is TrialStatus.COMPLETED for t in trials), [t.reason for t in trials]
    assert {k for t in trials for k in t.params} == {
        "opt", "lr", "beta1[opt=adam]", "beta1[opt=sgd]"}


def test_trials_see_the_environment_of_their_run(tmp_path: Path, db_path: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    source = """
        import os
        def main(t):
            t.report(1, loss=float(os.environ["TOY_VALUE"]))
    """
    for value in ("1.5", "2.5"):  # the second run reuses the zygote of the first
        monkeypatch.setenv("TOY_VALUE", value)
        spec = load_spec(write_study(tmp_path / value, source, name=f"env-{value[0]}", budget=1))
        run_study(spec, open_store(db_path))
        assert _by_index(open_store(db_path), f"env-{value[0]}")[0].value == float(value)


HANGS = """
    import os, time
    from pathlib import Path
    import tunebook

    def main(t):
        if t.index == 0:
            try:
                time.sleep(600)  # hung
            except tunebook.TrialStopped:
                assert t.should_stop
                Path(os.environ["MARKS"], "saw-stop").touch()  # a checkpoint would go here
                time.sleep(600)  # and then hangs again: killed after the grace period
        t.report(1, loss=t.params["lr"])
"""


def test_a_hung_trial_times_out_and_the_study_goes_on(tmp_path: Path, db_path: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    monkeypatch.setenv("MARKS", str(marks))
    spec = load_spec(write_study(tmp_path, HANGS, budget=4, timeout="2s"))
    started = time.monotonic()
    result = run_study(spec, open_store(db_path), workers=2)
    trials = _by_index(open_store(db_path), "toy")
    assert trials[0].status is TrialStatus.FAILED
    assert (trials[0].reason or "").startswith("timed out after 2s")
    assert all(trials[i].status is TrialStatus.COMPLETED for i in (1, 2, 3))
    assert (marks / "saw-stop").exists()  # it was asked to stop before it was killed
    assert time.monotonic() - started < 30 and not result.interrupted
    overridden = run_study(load_spec(write_study(tmp_path, HANGS, name="toy2", budget=1,
                                                  timeout="1h")),
                           open_store(db_path), trial_timeout_s=1.0)
    assert overridden.counts[TrialStatus.FAILED] == 1  # --trial-timeout wins over the file


ECHO_ARGS = """
import json, sys
import tunebook

t = tunebook.trial()
t.report(1, loss=float(len(sys.argv)))
with open(f"argv-{t.index}.json", "w") as out:
    json.dump(sys.argv[1:], out)
"""


@pytest.mark.parametrize("shell", [False, True], ids=["no-shell", "shell"])
def test_command_values_are_quoted_never_run(tmp_path: Path, db_path: str, shell: bool) -> None:
    (tmp_path / "echo_args.py").write_text(ECHO_ARGS)
    hostile = ["a b", "$(touch pwned)", "x; touch pwned2", "'quoted' \"too\""]
    tail = " && true" if shell else ""  # && makes the template need a shell
    spec = load_spec(write_study(tmp_path, None, budget=4, scientific={"name": hostile},
                                 trainer={"command": f"{sys.executable} echo_args.py "
                                                     f"--name {{name}} --lr {{lr}}{tail}"}))
    run_study(spec, open_store(db_path))
    trials = _by_index(open_store(db_path), "toy")
    assert all(t.status is TrialStatus.COMPLETED for t in trials.values()), [
        t.reason for t in trials.values()]
    for index, trial in trials.items():
        argv = json.loads((tmp_path / f"argv-{index}.json").read_text())
        assert argv[:2] == ["--name", trial.params["name"]]  # one argument, as written
        assert len(argv) == 4
    assert not list(tmp_path.glob("pwned*"))


@pytest.mark.parametrize("template", ['--name "{name}" 2>&1 | cat', "--name '{name}'",
                                      '--note "run {name} now"'])
def test_a_quoted_placeholder_is_refused_with_the_fix(tmp_path: Path, template: str) -> None:
    # inside "…" the shell would run $(…) of a value; inside '…' without a shell the
    # trainer would get the quotes as part of the value
    path = write_study(tmp_path, None, scientific={"name": ["a", "$(touch pwned)"]},
                       trainer={"command": f"{sys.executable} echo_args.py {template}"})
    with pytest.raises(SpecError, match=r"placeholder \{name\} is inside quotes: write "
                                        r"\{name\} bare, tunebook quotes each value"):
        load_spec(path)
    assert not list(tmp_path.glob("pwned*"))


SPAWNS = """
    import subprocess
    import time

    def main(t):
        subprocess.Popen(["sleep", "{tag}"])   # a process of its own, then it hangs
        time.sleep(600)
"""

IGNORES_TERM = """
import signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
time.sleep(600)
"""


def _alive(tag: str) -> list[str]:
    """Processes whose command line holds ``tag`` (read from the OS, not from tunebook)."""
    out = subprocess.run(["pgrep", "-f", tag], capture_output=True, text=True)
    return out.stdout.split()


def _gone(tag: str, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while _alive(tag) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not _alive(tag)


def test_a_timed_out_trial_takes_its_whole_process_tree_with_it(tmp_path: Path,
                                                                db_path: str) -> None:
    tag = f"99{os.getpid()}.5"  # sleep's argument: unique to this test
    spec = load_spec(write_study(tmp_path / "f", SPAWNS.replace("{tag}", tag), budget=1,
                                 timeout="2s"))
    assert run_study(spec, open_store(db_path)).counts[TrialStatus.FAILED] == 1
    assert _gone(tag), "a function trainer's own subprocess outlived its timeout"
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "hang.py").write_text(IGNORES_TERM)
    pipeline = load_spec(write_study(
        tmp_path / "c", name="pipe", budget=1, timeout="2s",
        trainer={"command": f"python hang.py {{lr}} {tag}x | cat"}))  # sh, python and cat
    assert run_study(pipeline, open_store(db_path)).counts[TrialStatus.FAILED] == 1
    assert _gone(f"{tag}x"), "a pipeline ignoring SIGTERM outlived its timeout"


def test_sigkill_of_the_runner_ends_a_command_trainers_process_tree(tmp_path: Path,
                                                                    db_path: str) -> None:
    tag = f"98{os.getpid()}.5"
    (tmp_path / "hang.py").write_text(IGNORES_TERM)
    path = write_study(tmp_path, name="cmd", budget=2,
                       trainer={"command": f"python hang.py {{lr}} {tag} | cat"})
    run = subprocess.Popen([sys.executable, "-m", "tunebook.cli", "run", str(path), "--db",
                            db_path, "-w", "2", "--no-progress"], cwd=tmp_path,
                           start_new_session=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while len(_alive(tag)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(_alive(tag)) >= 2  # both trials' trainers are running
    os.kill(run.pid, signal.SIGKILL)  # the runner only: its trials must follow it
    run.wait()
    assert _gone(tag), f"trainer processes outlived their runner: {_alive(tag)}"
