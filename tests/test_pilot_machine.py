"""The autopilot's state machine, one transition at a time, on small fake contexts: a
timeline of decisions built by hand over studies built by hand (no training), judged and
planned exactly as the driver does. Every row of the transition table has a case here."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.synthetic import Fake, make_study
from tunebook.records import Action, DecisionRecord, DecisionState, Phase, TrialStatus
from tunebook.spec import spec_from_dict, spec_from_snapshot
from tunebook.store import MemoryStore, Store
from tunebook.workflows import TRANSITIONS, Outcome, rerun_study
from tunebook.workflows._autopilot import judge, next_step
from tunebook.workflows._pilot_budget import plan_budget
from tunebook.workflows._pilot_machine import UnknownTransition, next_phase, with_table
from tunebook.workflows._pilot_steps import Context

REPO = Path(__file__).resolve().parents[1]
NUISANCE = {"learning_rate": {"low": 1e-4, "high": 1.0, "scale": "log"},
            "wd": {"low": 0.0, "high": 1.0}}


def _spec():  # type: ignore[no-untyped-def]
    return spec_from_dict({"name": "toy", "objective": {"metric": "val_loss",
                                                         "goal": "minimize"},
                           "trainer": {"train": "m:f"}, "budget": 10, "max_steps": 8,
                           "nuisance": NUISANCE})


def _trials(kind: str, n: int = 30) -> list[Fake]:
    """``ok``: optimum inside the range; ``edge``: beyond the upper bound; ``wall``:
    infeasible above 0.1; ``failed``: every trial fails; ``diverged``: every trial
    diverges."""
    rng = random.Random(0)
    out = []
    for _ in range(n):
        params = {"learning_rate": 10 ** rng.uniform(-4, 0), "wd": rng.uniform(0, 1)}
        d = math.log10(params["learning_rate"]) - (1 if kind == "edge" else -2)
        if kind == "failed":
            out.append(Fake(params, None, TrialStatus.FAILED, reason="the loader broke"))
        elif kind == "diverged" or (kind == "wall" and params["learning_rate"] > 0.1):
            out.append(Fake(params, None, TrialStatus.INFEASIBLE, reason="diverged"))
        else:
            out.append(Fake(params, 1 + d * d + rng.gauss(0, 0.01)))
    return out


class Timeline:
    """Decisions written by hand, as the store would hold them."""

    def __init__(self, budget: float = 200, **settings: object) -> None:
        self.records: list[DecisionRecord] = []
        self.add(Phase.START, Action.START, machinery={
            "budget": budget, "seconds": None, "workers": 1, "round2": None,
            "approve": False, "baseline": "main", "spec": _spec().snapshot(), **settings})

    def add(self, phase: Phase, action: Action, study: str | None = None,
            state: DecisionState = DecisionState.MADE, budget: float = 200,
            **stats: object) -> Timeline:
        self.records.append(DecisionRecord(
            len(self.records) + 1, "toy", len(self.records), phase, action, "", "",
            dict(stats), study, 0.0, budget, state))
        return self

    def context(self, store: Store, *, budget: float = 200, round2: float | None = None,
                timed: bool = False) -> Context:
        return Context(store, _spec(), plan_budget(_spec(), budget, round2, strict=False),
                       round2, "main", self.records, timed)


def _run(phase: Phase, study: str, **kw: object) -> Timeline:
    return Timeline().add(phase, Action.RUN, study, **kw)


def _round(kind: str, phase: Phase = Phase.EXPLORE, fixes: int = 0,
           state: DecisionState = DecisionState.MADE) -> Callable[[Store], Timeline]:
    def build(store: Store) -> Timeline:
        make_study(store, "toy", _trials(kind), nuisance=NUISANCE)
        timeline = Timeline()
        if phase is Phase.FIX:
            timeline.add(Phase.EXPLORE, Action.RUN, "toy")
        for i in range(fixes):
            timeline.add(Phase.FIX, Action.RUN, f"toy-{i + 2}")
        return timeline.add(phase, Action.RUN, "toy", state)
    return build


def _stopped(queued: bool) -> Callable[[Store], Timeline]:
    def build(store: Store) -> Timeline:
        make_study(store, "toy", _trials("failed", 12), nuisance=NUISANCE)
        if queued:
            study = store.get_study("toy")
            store.retry_trials(store.tree(study).ids, [TrialStatus.FAILED], None)
        return _run(Phase.EXPLORE, "toy").add(Phase.STOP, Action.STOP, "toy")
    return build


def _settled(store: Store) -> Timeline:
    make_study(store, "toy", _trials("ok"), nuisance=NUISANCE)
    return _run(Phase.EXPLORE, "toy").add(Phase.SETTLE, Action.SKIP)


def _done(more: bool) -> Callable[[Store], Timeline]:
    def build(store: Store) -> Timeline:
        timeline = _settled(store).add(Phase.DECIDE, Action.NOT_YET, "toy").add(
            Phase.DONE, Action.DONE, budget=200)
        if more:
            timeline.add(Phase.DONE, Action.BUDGET, machinery={
                "budget": 260, "seconds": None, "workers": 1, "round2": None,
                "approve": False, "baseline": "main"})
        return timeline
    return build


def _exploited(kind: str = "ok", state: DecisionState = DecisionState.MADE,
               ) -> Callable[[Store], Timeline]:
    """An exploration round, then a Bayesian study warm-started from it, both over
    trials of ``kind``."""
    def build(store: Store) -> Timeline:
        make_study(store, "toy", _trials(kind), nuisance=NUISANCE)
        make_study(store, "toy-bayes", _trials(kind), nuisance=NUISANCE,
                   sampler={"type": "bayes", "warm_start": "toy"})
        return _run(Phase.EXPLORE, "toy").add(Phase.EXPLOIT, Action.RUN, "toy-bayes", state)
    return build


# (phase, outcome) → (build the timeline, the context's budget, timed, round2, what the
# next decision must be: phase and action)
Case = tuple[Callable[[Store], Timeline], float, bool, float | None, Phase | None,
             Action | None]
CASES: dict[tuple[Phase, Outcome], Case] = {
    (Phase.START, Outcome.BEGUN): (lambda s: Timeline(), 200, False, None, Phase.EXPLORE,
                                   Action.RUN),
    (Phase.EXPLORE, Outcome.SPACE_SETTLED): (_round("ok"), 200, False, None, Phase.EXPLOIT,
                                             Action.RUN),
    (Phase.EXPLORE, Outcome.SPACE_NARROWED): (_round("wall"), 200, False, None,
                                              Phase.EXPLOIT, Action.RUN),
    (Phase.EXPLORE, Outcome.SPACE_WRONG): (_round("edge"), 200, False, None, Phase.FIX,
                                           Action.RUN),
    (Phase.EXPLORE, Outcome.NO_ROOM): (_round("edge"), 40, False, None, Phase.EXPLOIT,
                                       Action.SKIP),
    (Phase.EXPLORE, Outcome.FIXES_SPENT): (_round("edge", fixes=3), 200, False, None,
                                           Phase.EXPLOIT, Action.RUN),
    (Phase.EXPLORE, Outcome.ALL_FAILED): (_round("failed"), 200, False, None, Phase.STOP,
                                          Action.STOP),
    (Phase.EXPLORE, Outcome.ALL_DIVERGED): (_round("diverged"), 200, False, None, Phase.FIX,
                                            Action.RUN),
    (Phase.EXPLORE, Outcome.REJECTED): (_round("ok", state=DecisionState.REJECTED), 200,
                                        False, None, Phase.STOP, Action.STOP),
    (Phase.FIX, Outcome.SPACE_SETTLED): (_round("ok", Phase.FIX), 200, False, None,
                                         Phase.EXPLOIT, Action.RUN),
    (Phase.FIX, Outcome.SPACE_NARROWED): (_round("wall", Phase.FIX), 200, False, None,
                                          Phase.EXPLOIT, Action.RUN),
    (Phase.FIX, Outcome.SPACE_WRONG): (_round("edge", Phase.FIX), 200, False, None,
                                       Phase.FIX, Action.RUN),
    (Phase.FIX, Outcome.FIXES_SPENT): (_round("edge", Phase.FIX, fixes=2), 200, False, None,
                                       Phase.EXPLOIT, Action.RUN),
    (Phase.FIX, Outcome.NO_ROOM): (_round("edge", Phase.FIX), 40, False, None,
                                   Phase.EXPLOIT, Action.SKIP),
    (Phase.FIX, Outcome.ALL_FAILED): (_round("failed", Phase.FIX), 200, False, None,
                                      Phase.STOP, Action.STOP),
    (Phase.FIX, Outcome.ALL_DIVERGED): (_round("diverged", Phase.FIX), 200, False, None,
                                        Phase.FIX, Action.RUN),
    (Phase.FIX, Outcome.REJECTED): (_round("ok", Phase.FIX, state=DecisionState.REJECTED),
                                    200, False, None, Phase.EXPLOIT, Action.RUN),
    (Phase.STOP, Outcome.RETRIED): (_stopped(queued=True), 200, False, None, Phase.EXPLORE,
                                    Action.RUN),
    (Phase.STOP, Outcome.STOPPED): (_stopped(queued=False), 200, False, None, None, None),
    (Phase.EXPLOIT, Outcome.SEARCH_LEFT): (_exploited(), 200, False, None, Phase.EXPLOIT,
                                           Action.RUN),
    (Phase.EXPLOIT, Outcome.SPACE_WRONG): (_exploited("edge"), 200, False, None, Phase.FIX,
                                           Action.RUN),
    (Phase.EXPLOIT, Outcome.SEARCHED): (_exploited(), 70, False, None, Phase.SETTLE,
                                        Action.CHILD),
    (Phase.EXPLOIT, Outcome.REJECTED): (_exploited(state=DecisionState.REJECTED), 200, False,
                                        None, Phase.SETTLE, Action.CHILD),
    (Phase.SETTLE, Outcome.SETTLED): (_settled, 200, False, None, Phase.DECIDE,
                                      Action.NOT_YET),
    (Phase.DECIDE, Outcome.DECIDED): (
        lambda s: _settled(s).add(Phase.DECIDE, Action.NOT_YET, "toy"), 200, False, None,
        Phase.DONE, Action.DONE),
    (Phase.DECIDE, Outcome.ROUND2_ASKED): (
        lambda s: _settled(s).add(Phase.DECIDE, Action.NOT_YET, "toy"), 200, False, 2.0,
        Phase.ROUND2, Action.CHILD),
    (Phase.ROUND2, Outcome.TRAINED): (
        lambda s: _settled(s).add(Phase.DECIDE, Action.NOT_YET, "toy").add(
            Phase.ROUND2, Action.SKIP), 200, False, 2.0, Phase.DONE, Action.DONE),
    (Phase.DONE, Outcome.FINISHED): (_done(more=False), 200, False, None, None, None),
    (Phase.DONE, Outcome.MORE_BUDGET): (_done(more=True), 260, False, None, Phase.SETTLE,
                                        Action.CHILD),
}


def test_every_transition_has_a_case() -> None:
    assert set(CASES) == set(TRANSITIONS)


@pytest.mark.parametrize("row", list(CASES), ids=lambda r: f"{r[0].value}-{r[1].name}")
def test_a_transition(row: tuple[Phase, Outcome]) -> None:
    build, budget, timed, round2, phase, action = CASES[row]
    store = MemoryStore()
    ctx = build(store).context(store, budget=budget, round2=round2, timed=timed)
    moved = [d for d in ctx.timeline if not d.action.settings] or [ctx.timeline[0]]
    judged = judge(row[0])(ctx, moved[-1])
    assert judged.outcome is row[1], judged.why
    step = next_step(ctx)
    got = (step.phase, step.action) if step is not None else (None, None)
    assert got == (phase, action), step


def test_an_unknown_transition_is_an_error_not_a_guess() -> None:
    with pytest.raises(UnknownTransition, match="no transition from settle"):
        next_phase(Phase.SETTLE, Outcome.SPACE_WRONG)


def test_the_docs_show_the_table_as_generated() -> None:
    doc = (REPO / "docs" / "autopilot.md").read_text()
    assert with_table(doc) == doc, "run python scripts/gen-docs.py"


def test_a_widened_bound_is_planned_from_the_judged_change() -> None:
    store = MemoryStore()
    ctx = _round("edge")(store).context(store)
    step = next_step(ctx)
    assert step is not None and step.phase is Phase.FIX
    changes = step.evidence["changes"]
    assert changes[0]["what"] == "nuisance.learning_rate.high" and changes[0]["to"] > 1.0
    assert "widened" not in changes[0]["why"]  # the reason says why, not what was done


def test_a_round_where_every_trial_diverged_moves_the_learning_rate_below_it() -> None:
    store = MemoryStore()
    ctx = _round("diverged")(store).context(store)
    lowest = min(t.params["learning_rate"] for t in store.trials(store.tree("toy").ids))
    step = next_step(ctx)
    assert step is not None and step.phase is Phase.FIX
    moved = {c["what"]: c["to"] for c in step.evidence["changes"]}
    assert moved == {"nuisance.learning_rate.high": float(f"{lowest:.3g}"),
                     "nuisance.learning_rate.low": float(f"{lowest / 1e4:.3g}")}
    assert "all 30 trials diverged" in step.why and "wd" not in "".join(moved)


def test_a_round_that_diverged_with_no_learning_rate_to_move_stops() -> None:
    store = MemoryStore()
    trials = [Fake({"step_size": t.params["learning_rate"], "wd": t.params["wd"]}, None,
                   TrialStatus.INFEASIBLE, reason="diverged") for t in _trials("ok")]
    make_study(store, "toy", trials, nuisance={"step_size": NUISANCE["learning_rate"],
                                               "wd": NUISANCE["wd"]})
    ctx = Timeline().add(Phase.EXPLORE, Action.RUN, "toy").context(store)
    step = next_step(ctx)
    assert step is not None and step.phase is Phase.STOP  # no named learning rate: not read


def test_exploitation_after_a_widening_learns_from_every_trial_inside_the_new_space() -> None:
    store = MemoryStore()  # explored, exploited, sent back to widen, the widened round ok
    make_study(store, "toy", _trials("ok"), nuisance=NUISANCE)
    make_study(store, "toy-bayes", _trials("ok", 12), nuisance=NUISANCE,
               sampler={"type": "bayes", "warm_start": "toy"})
    wide = {**NUISANCE, "learning_rate": {"low": 1e-4, "high": 10.0, "scale": "log"}}
    make_study(store, "toy-r2", _trials("ok"), nuisance=wide)
    ctx = (_run(Phase.EXPLORE, "toy").add(Phase.EXPLOIT, Action.RUN, "toy-bayes")
           .add(Phase.FIX, Action.RUN, "toy-r2").context(store))
    step = next_step(ctx)
    assert step is not None and step.phase is Phase.EXPLOIT
    assert "from the 72 trials of toy, toy-bayes, toy-r2 inside its space" in step.summary


def _finish_queued(store: Store, name: str, value: Callable[[dict[str, object]], float]) -> None:
    """Complete the queued trials of ``name`` as a training would, with ``value``."""
    study = store.get_study(name)
    while (claimed := store.claim("synthetic", [study.id])) is not None:
        store.finish(claimed.id, claimed.attempts, TrialStatus.COMPLETED,
                     value=value(claimed.params))


def test_no_configuration_is_adopted_while_the_round_it_came_from_fails_its_checklist(
        ) -> None:
    store = MemoryStore()  # the best trials crowd lr's upper bound: the space is wrong
    make_study(store, "toy", _trials("edge", 40), nuisance=NUISANCE)
    seeds = rerun_study(store, "toy", seeds=3)
    _finish_queued(store, seeds.study.name,
                   lambda p: 1.0 - math.log10(float(p["learning_rate"])))  # type: ignore[arg-type]
    ctx = _run(Phase.EXPLORE, "toy").add(Phase.SETTLE, Action.CHILD, "toy-seeds").context(
        store)
    step = next_step(ctx)
    assert step is not None and (step.phase, step.action) == (Phase.DECIDE, Action.NOT_YET)
    assert "toy: the checklist fails on 'Is the search space big enough?'" in step.why


def test_a_tie_is_called_a_tie_in_the_headline() -> None:
    store = MemoryStore()  # both values' best configurations re-run: identical means
    runs = [Fake({"act": act, "learning_rate": 0.01, "wd": 0.5}, value)
            for act in ("a", "b") for value in (1.0, 1.2, 0.8)]
    make_study(store, "toy", runs, nuisance=NUISANCE,
               scientific={"act": {"values": ["a", "b"]}})
    timeline = _run(Phase.EXPLORE, "toy").add(Phase.SETTLE, Action.SKIP)
    ctx = timeline.context(store)
    step = next_step(ctx)
    assert step is not None and step.action is Action.NOT_YET
    assert step.summary in ("not yet: act=a and act=b tie", "not yet: act=b and act=a tie")


def test_no_workflow_module_is_shadowed_by_a_function() -> None:
    import importlib
    import pkgutil

    import tunebook.workflows as package

    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"tunebook.workflows.{info.name}")
        assert getattr(package, info.name) is module, info.name
    assert {"Change", "ChangeKind", "Derivation", "Blocker", "Settings"} <= set(package.__all__)


def test_a_thin_round_whose_trials_diverge_is_topped_up_to_the_completed_count_asked(
        ) -> None:
    rng = random.Random(1)
    fakes = []
    for i in range(12):  # a third of the trials diverge, wherever they are
        params = {"learning_rate": 10 ** rng.uniform(-4, 0), "wd": rng.uniform(0, 1)}
        d = math.log10(params["learning_rate"]) + 2
        fakes.append(Fake(params, None, TrialStatus.INFEASIBLE, reason="diverged") if i % 3 == 0
                     else Fake(params, 1 + d * d + rng.gauss(0, 0.01)))
    store = MemoryStore()
    make_study(store, "toy", fakes, nuisance=NUISANCE)
    ctx = _run(Phase.EXPLORE, "toy").context(store)
    judged = judge(Phase.EXPLORE)(ctx, ctx.timeline[-1])
    assert judged.outcome is Outcome.SPACE_WRONG and judged.changes[0].thin
    wanted = int(judged.changes[0].value)  # completed trials the sampling check asks for
    step = next_step(ctx)
    assert step is not None and step.phase is Phase.FIX
    added = step.evidence["trials"] - 12
    assert added * 8 / 12 >= wanted - 8  # expected completions cover what is missing


def test_crowding_seen_only_by_the_exploitation_sends_it_back_to_fix_the_space() -> None:
    store = MemoryStore()  # the Bayesian study's best trials sit at lr's upper bound
    ctx = _exploited("edge")(store).context(store)
    step = next_step(ctx)
    assert step is not None and step.phase is Phase.FIX
    assert step.study == "toy-r2" and "crowd a bound" in step.why
    spec = spec_from_snapshot(step.stats["machinery"]["spec"], "toy-r2")
    assert spec.model.sampler.type == "quasi_random"  # sampled as the exploration was
    assert spec.model.nuisance["learning_rate"].high > 1.0  # widened
    assert spec.model.budget.trials <= ctx.spare // 2  # exploitation keeps the rest


def test_a_time_budget_exploits_in_slices() -> None:
    store = MemoryStore()
    ctx = _exploited()(store).context(store, timed=True)
    step = next_step(ctx)
    assert step is not None and step.phase is Phase.EXPLOIT
    assert step.evidence["trials"] - 30 < ctx.spare  # a slice, not all that is left
