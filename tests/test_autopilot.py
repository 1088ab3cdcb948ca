"""tunebook autopilot: each phase's decision on trainers built to need it, the budget,
resuming after SIGKILL, --approve with approve/reject, and bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import tunebook_cli, write_study
from tunebook import SpecError, TunebookError, load_spec, open_store, run_study
from tunebook._spec_derive import Derivation
from tunebook.records import DecisionState, TrialStatus
from tunebook.workflows import RunOptions, autopilot, reject, resume
from tunebook.workflows._pilot_budget import spent

# act "b" is better than "a" by ``gap``; lr's optimum (lr_star) may lie beyond the range;
# wd does nothing; ``noise`` is the seed-to-seed noise of the result.
TRAINER = """
    import math
    import random

    import tunebook


    def main(t):
        p = t.params
        if p.get("broken"):
            raise RuntimeError("the data loader is broken")
        if p["lr"] > p.get("unstable_above", 1e9):
            raise tunebook.Infeasible("the loss diverged")
        rng = random.Random(t.seed * 7919 + 17)
        d = math.log10(p["lr"]) - math.log10(p["lr_star"])
        final = 1.0 + d * d + (p["gap"] if p.get("act") == "a" else 0.0)
        final += rng.gauss(0, p["noise"])
        for step in range(1, 9):
            if p.get("sleep"):
                time.sleep(p["sleep"])
            t.report(step, loss=final + 0.5 ** step)
"""


def _study(folder: Path, *, gap: float = 0.3, lr_star: float = 0.3, noise: float = 0.02,
           scientific: bool = True, **fixed: Any) -> Path:
    return write_study(
        folder, TRAINER.replace("import math", "import math\n    import time"), name="toy",
        fixed={"gap": gap, "lr_star": lr_star, "noise": noise, **fixed},
        **({"scientific": {"act": {"values": ["a", "b"]}}} if scientific else {}),
        nuisance={"lr": {"low": 1e-4, "high": 0.1, "scale": "log"},
                  "wd": {"low": 0.0, "high": 1.0}},
        budget=10, max_steps=8)


def _used(store: Any, timeline: list[Any]) -> float:
    names = [d.study for d in timeline if d.study and d.action in ("run", "child")]
    return spent(store, names, 8).done


def test_widens_the_bound_before_exploiting_and_launches_the_clear_winner(
        tmp_path: Path, db_path: str) -> None:
    store = open_store(db_path)
    pilot = autopilot(load_spec(_study(tmp_path / "s", lr_star=0.15)), store, budget=60,
                      options=RunOptions(workers=2))
    phases = [d.phase for d in pilot.timeline]
    assert phases[:2] == ["start", "explore"] and phases[-2:] == ["decide", "done"]
    widen = [d for d in pilot.timeline if d.phase == "fix"
             and any(c["what"] == "nuisance.lr.high" for c in d.stats["changes"])]
    assert widen and phases.index("exploit") > pilot.timeline.index(widen[0])
    assert widen[0].stats["changes"][0]["to"] > 0.15  # the optimum lies beyond 0.1
    assert not any("nuisance.wd.high" in json.dumps(d.stats.get("changes", []))
                   for d in pilot.timeline)  # the inert parameter is never widened
    decided = pilot.timeline[-2]
    assert decided.action == "launch" and decided.stats["value"] == "act=b"
    version = store.baseline("main")
    assert version is not None and version.config["act"] == "b"
    assert version.study == "toy-seeds" and version.author == "tunebook autopilot"
    assert version.evidence is not None and not version.evidence["blockers"]
    assert _used(store, pilot.timeline) <= 60  # nothing ran in flight past the end
    used = _used(store, pilot.timeline)
    _timeline_is_shown(store, db_path, tmp_path, len(pilot.timeline), f"{used:g} / {60 - used:g}")


def _timeline_is_shown(store: Any, db_path: str, tmp_path: Path, decisions: int,
                       cost: str) -> None:
    """The report of a study the autopilot ran, and its dashboard page, lead with the
    timeline: one row per decision, as Chromium draws it."""
    from fastapi.testclient import TestClient
    from playwright.sync_api import sync_playwright

    from tests.conftest import BROWSER_ARGS, chromium_path
    from tunebook.dashboard.app import create_app
    from tunebook.report.html import write_report

    path = write_report(store, ["toy-seeds"], tmp_path / "report.html")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=BROWSER_ARGS)
        page = browser.new_page()
        page.goto(path.resolve().as_uri())
        rows = page.locator("#autopilot-0 tbody tr").all_inner_texts()
        browser.close()
    assert len(rows) == decisions and "launch act=b into baseline main" in rows[-2]
    assert rows[0].startswith("0\tstart") and rows[-1].endswith(cost)
    served = TestClient(create_app(db_path), base_url="http://127.0.0.1").get(
        "/study", params={"name": "toy-r2"})
    assert served.status_code == 200 and "Autopilot toy: timeline" in served.text
    assert "Autopilot toy went on from this study and decided from toy-seeds" in served.text


def test_a_tie_is_not_launched_and_says_what_more_seeds_would_buy(
        tmp_path: Path, db_path: str) -> None:
    store = open_store(db_path)
    pilot = autopilot(load_spec(_study(tmp_path / "s", gap=0.0, lr_star=0.01, noise=0.05)),
                      store, budget=40, options=RunOptions(workers=2))
    decided = next(d for d in pilot.timeline if d.phase == "decide")
    assert decided.action == "not_yet" and "seed-spreads" in decided.why
    assert store.baseline("main") is None
    assert pilot.finished and pilot.outcome.startswith("not yet")
    assert _used(store, pilot.timeline) <= 40
    from tunebook.report.html import write_report

    html = write_report(store, ["toy"], tmp_path / "r.html").read_text()
    said = html.split('<p class="conclusion">')[1].split("</p>")[0]
    assert said.startswith("Autopilot toy went on from this study and decided from "
                           "toy-seeds") and decided.summary in said  # one conclusion


def test_an_optimum_30x_beyond_the_learning_rate_range_is_reached_within_the_budget(
        tmp_path: Path, db_path: str) -> None:
    store = open_store(db_path)  # lr's upper bound is 0.1; it trains best at 3
    pilot = autopilot(load_spec(_study(tmp_path / "s", scientific=False, lr_star=3.0)),
                      store, budget=80, options=RunOptions(workers=2))
    widened = [c["to"] for d in pilot.timeline if d.phase == "fix"
               for c in d.stats.get("changes", []) if c["kind"] == "widen"]
    assert widened[0] == 1.0  # a decade for a learning rate, then further while crowded
    version = store.baseline("main")
    assert version is not None and 1.0 < version.config["lr"] < 10.0
    assert _used(store, pilot.timeline) <= 80


def test_an_optimum_far_beyond_the_range_is_chased_and_never_adopted_at_the_bound(
        tmp_path: Path, db_path: str) -> None:
    store = open_store(db_path)  # the optimum lies 10^6 x beyond lr's upper bound
    pilot = autopilot(load_spec(_study(tmp_path / "s", scientific=False, lr_star=1e5)),
                      store, budget=80, options=RunOptions(workers=2))
    widened = [c["to"] for d in pilot.timeline if d.phase == "fix"
               for c in d.stats.get("changes", []) if c["kind"] == "widen"]
    assert widened[:2] == [1.0, 100.0]  # x10, then x100: a second crowded round steps further
    decided = next(d for d in pilot.timeline if d.phase == "decide")
    assert decided.action == "not_yet" and "search space is still wrong" in decided.summary
    assert "sits at that bound" in decided.why and store.baseline("main") is None
    assert _used(store, pilot.timeline) <= 80


def test_no_scientific_parameter_settles_the_best_configuration(tmp_path: Path,
                                                                db_path: str) -> None:
    store = open_store(db_path)
    pilot = autopilot(load_spec(_study(tmp_path / "s", scientific=False, lr_star=0.01)),
                      store, budget=30, options=RunOptions(workers=2))
    assert "best configuration" in pilot.timeline[0].why
    settle = next(d for d in pilot.timeline if d.phase == "settle")
    assert settle.action == "child" and settle.stats["seeds"] >= 3
    version = store.baseline("main")
    assert pilot.timeline[-2].action == "launch" and version is not None
    assert 0.001 < version.config["lr"] < 0.1 and version.config["max_steps"] == 8


FLAKY = TRAINER.replace("if p.get(\"broken\"):",
                        "if (pathlib.Path(__file__).parent / 'broken').exists():").replace(
    "import math", "import math\n    import pathlib\n    import time")


def test_a_stopped_autopilot_exits_1_and_goes_on_once_its_trials_are_re_queued(
        tmp_path: Path, db_path: str) -> None:
    study = _study(tmp_path / "s")
    (tmp_path / "s" / "trainer.py").write_text(textwrap.dedent(FLAKY))
    (tmp_path / "s" / "broken").touch()
    args = ("autopilot", str(study), "--budget", "30", "-w", "2", "--db", db_path,
            "--no-progress")
    out = tunebook_cli(*args, cwd=tmp_path)
    said = " ".join(out.stderr.split())
    assert out.returncode == 1 and "stopped" in said, said
    assert "tunebook retry toy --status failed,infeasible" in said
    again = tunebook_cli(*args, cwd=tmp_path)  # nothing fixed yet: still stopped, says so
    assert again.returncode == 1 and "resuming autopilot toy at #2 stop" in again.stderr
    (tmp_path / "s" / "broken").unlink()  # the trainer is fixed
    retry = tunebook_cli("retry", "toy", "--db", db_path, cwd=tmp_path)
    assert "re-queued 12 trials" in retry.stdout, retry.stdout
    out = tunebook_cli(*args, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "resume toy after the stop: 12 trial(s) queued again" in out.stdout
    store = open_store(db_path)
    timeline = store.decisions("toy")
    explored = store.trials([store.get_study("toy").id])
    assert timeline[-1].action == "done" and all(t.status.finished for t in explored)
    assert len({t.index for t in explored}) == len(explored)  # none run twice
    assert sum("data loader is broken" in " ".join(t.warnings) for t in explored) == 12
    seeds = store.trials(store.tree("toy-seeds").ids)
    same = tunebook_cli(*args, cwd=tmp_path)  # finished: says so, and how to go on
    assert same.returncode == 0 and "finished already" in same.stderr
    assert "larger --budget than 30" in same.stderr and len(store.decisions("toy")) == len(
        timeline)
    more = tunebook_cli(*args[:2], "--budget", "40", *args[4:], cwd=tmp_path)
    assert more.returncode == 0, more.stderr
    after = store.decisions("toy")[len(timeline):]
    assert [d.phase for d in after] == ["done", "settle", "decide", "done"], after
    grown = store.trials(store.tree("toy-seeds").ids)
    assert len(grown) > len(seeds) and {repr(t.params) for t in grown} == {
        repr(t.params) for t in seeds}  # more seeds of the same configurations, no others
    assert spent(store, [d.study for d in store.decisions("toy") if d.study
                         and d.action in ("run", "child")], 8).done <= 40


def test_bad_input_gets_a_clear_error(tmp_path: Path, db_path: str) -> None:
    store = open_store(db_path)
    spec = load_spec(_study(tmp_path / "s"))
    with pytest.raises(SpecError, match=r"needs at least 18: one exploration round of 12"):
        autopilot(spec, store, budget=10)
    with pytest.raises(SpecError, match="a number of trainings"):
        autopilot(spec, store, budget="lots")
    assert store.decisions() == []  # nothing recorded for a refused start
    autopilot(spec, store, budget=30, approve=True)  # waits for approval of its first step
    edited = load_spec(_study(tmp_path / "s", gap=0.5))
    with pytest.raises(SpecError, match=r"changed since autopilot 'toy' started \(in fixed"):
        autopilot(edited, store, budget=30)
    store.resolve_decision(store.decisions("toy")[-1].id, DecisionState.REJECTED)
    assert resume(store, "toy").last.action == "stop"  # a rejected exploration ends it
    broken = load_spec(_study(tmp_path / "b", broken=True)).derive(Derivation(name="bad"))
    pilot = autopilot(broken, store, budget=30, options=RunOptions(workers=2))
    assert [d.action for d in pilot.timeline] == ["start", "run", "stop"]
    assert "the data loader is broken" in pilot.last.why and pilot.halted


def test_a_spent_budget_on_resume_is_refused_with_the_way_on(tmp_path: Path,
                                                             db_path: str) -> None:
    store = open_store(db_path)
    spec = load_spec(_study(tmp_path / "s"))
    autopilot(spec, store, budget=30, approve=True)  # proposes the exploration, waits
    store.resolve_decision(store.decisions("toy")[-1].id, DecisionState.APPROVED)
    run_study(spec.derive(Derivation(budget=32)), store, workers=2)  # run by hand meanwhile
    with pytest.raises(SpecError, match="budget of 30 trainings is spent"):
        resume(store, "toy")


def test_approve_stops_and_a_rejection_changes_the_next_action(tmp_path: Path,
                                                               db_path: str) -> None:
    study = _study(tmp_path / "s", sleep=0.05)
    out = tunebook_cli("autopilot", str(study), "--budget", "60", "--approve", "-w", "2",
                       "--db", db_path, "--no-progress", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "waiting for approval" in out.stderr and "explore toy as written" in out.stdout
    store = open_store(db_path)
    assert store.find_study("toy") is None  # nothing ran before approval
    out = tunebook_cli("autopilot", "approve", "toy", "--db", db_path, "--no-progress",
                       cwd=tmp_path)  # no -w: the autopilot's own 2 workers
    assert out.returncode == 0, out.stderr
    assert "resuming autopilot toy at #1 explore" in out.stderr
    assert _most_at_once(store, "toy") == 2
    proposed = store.decisions("toy")[-1]
    assert proposed.state is DecisionState.PROPOSED and proposed.phase == "fix"
    out = tunebook_cli("autopilot", "reject", "toy", "--why", "keep the range", "-w", "2",
                       "--db", db_path, "--no-progress", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    timeline = store.decisions("toy")
    rejected = timeline[proposed.seq]
    assert (rejected.state, rejected.note) == (DecisionState.REJECTED, "keep the range")
    after = timeline[proposed.seq + 1]
    assert after.phase == "exploit" and "rejected" in after.why
    assert after.state is DecisionState.PROPOSED
    assert store.find_study(proposed.study or "") is None  # the rejected round never ran
    reject(store, "toy")  # the exploitation too: resolved once, and only once
    with pytest.raises(TunebookError, match="nothing of autopilot 'toy' waits"):
        reject(store, "toy")
    status = tunebook_cli("autopilot", "status", "toy", "--db", db_path, "--format", "json",
                          cwd=tmp_path)
    rows = json.loads(status.stdout)
    assert [r["seq"] for r in rows] == list(range(len(timeline)))
    assert rows[proposed.seq]["state"] == "rejected"


def _most_at_once(store: Any, name: str) -> int:
    """The most trials of study ``name`` that ran at the same time."""
    spans = [(t.started_at, t.finished_at) for t in store.trials(store.tree(name).ids)
             if t.started_at and t.finished_at]
    return max(sum(1 for a, b in spans if a <= start < b) for start, _ in spans)


def _decisions_with_trials(db: str) -> tuple[int, int]:
    store = open_store(db)
    timeline = store.decisions("toy")
    names = [d.study for d in timeline if d.study and d.action in ("run", "child")]
    done = sum(1 for name in names if store.find_study(name)
               for t in store.trials(store.tree(name).ids) if t.status.finished)
    store.close()
    return len(timeline), done


def test_resume_after_sigkill_repeats_no_finished_trial_or_phase(tmp_path: Path,
                                                                 db_path: str) -> None:
    study = _study(tmp_path / "s", sleep=0.05)
    cmd = [sys.executable, "-m", "tunebook.cli", "autopilot", str(study), "--budget", "40",
           "-w", "2", "--db", db_path, "--no-progress"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:  # kill it mid-way through a later phase
        decisions, finished = _decisions_with_trials(db_path)
        if decisions >= 3 and finished >= 16:
            break
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    store = open_store(db_path)
    before = {t.id: t for s in store.list_studies() for t in store.trials([s.id])
              if t.status.finished}
    assert before and store.decisions("toy")[-1].action != "done"
    out = tunebook_cli("autopilot", str(study), "--budget", "40", "-w", "2", "--db", db_path,
                       "--no-progress", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    timeline = store.decisions("toy")
    assert timeline[-1].action == "done"
    runs = [(d.phase, d.study) for d in timeline if d.action in ("run", "child")]
    assert len(runs) == len(set(runs))  # no phase's study decided twice
    after = {t.id: t for s in store.list_studies() for t in store.trials([s.id])}
    for trial_id, old in before.items():  # a finished trial is never run again
        assert after[trial_id].finished_at == old.finished_at
        assert after[trial_id].attempts == old.attempts
    indices = [(t.study_id, t.index) for t in after.values()]
    assert len(indices) == len(set(indices))
    assert all(t.status is not TrialStatus.QUEUED for t in after.values())
    assert _used(store, timeline) <= 40


def test_round2_trains_each_leader_longer_and_counts_it_in_full(tmp_path: Path,
                                                                db_path: str) -> None:
    store = open_store(db_path)
    pilot = autopilot(load_spec(_study(tmp_path / "s", lr_star=0.01)), store, budget=40,
                      round2=2, options=RunOptions(workers=2))
    longer = next(d for d in pilot.timeline if d.phase == "round2")
    assert longer.action == "child" and longer.study == "toy-x2"
    child = store.get_study("toy-x2")
    trials = store.trials([child.id], TrialStatus.COMPLETED)
    assert len(trials) == 2 and child.spec["max_steps"] == 16  # one leader per value, 2×
    assert spent(store, ["toy-x2"], 8).done == 4  # each counts as two trainings
    assert "Round 2:" in pilot.last.why and _used(store, pilot.timeline) <= 40


def test_an_infeasible_edge_is_cut_and_exploitation_starts_in_the_narrowed_space(
        tmp_path: Path, db_path: str) -> None:
    store = open_store(db_path)
    pilot = autopilot(load_spec(_study(tmp_path / "s", lr_star=0.01, unstable_above=0.03)),
                      store, budget=60, options=RunOptions(workers=2))
    exploit = next(d for d in pilot.timeline if d.phase == "exploit")
    assert [d.phase for d in pilot.timeline[:3]] == ["start", "explore", "exploit"]
    assert exploit.action == "run" and "narrowed" in exploit.summary
    assert exploit.stats["changes"][0]["what"] == "nuisance.lr.high"
    high = store.get_study("toy-bayes").spec["nuisance"]["lr"]["high"]
    assert 0.01 < high < 0.1  # cut below the original bound, above the optimum
    bayes = store.trials([store.get_study("toy-bayes").id])
    assert bayes and all(t.params["lr"] <= high for t in bayes)


def test_every_training_counts_a_pruned_one_by_the_steps_it_ran() -> None:
    from tests.synthetic import Fake, make_study
    from tunebook import MemoryStore

    store = MemoryStore()
    curve = [(s, 1.0 / s) for s in (2, 4, 6, 8)]
    make_study(store, "s", [Fake({"learning_rate": 0.1}, 0.3, curves={"val_loss": curve}),
                            Fake({"learning_rate": 0.2}, None, TrialStatus.FAILED),
                            Fake({"learning_rate": 0.3}, 0.9, TrialStatus.PRUNED,
                                 {"val_loss": curve[:1]}),
                            Fake({"learning_rate": 0.4}, None, TrialStatus.INFEASIBLE)],
               max_steps=8)
    used = spent(store, ["s"], 8)
    assert used.done == 1 + 1 + 2 / 8 + 1  # failed and infeasible in full: they were paid
    assert spent(store, ["s"], 4).done == 2 * 3 + 2 / 4  # twice the length counts twice
    store.update_study(store.get_study("s").id, budget=6)  # two not yet created
    assert spent(store, ["s"], 8).committed == used.done + 2
