"""``tunebook autopilot``: the playbook's whole loop under a budget, every decision explained.

The autopilot answers the study file's question (which scientific value is best, or, with
none, which configuration) the way the playbook's incremental strategy does:

1. **explore** the study as written (quasi-random search), with a share of the budget;
2. **fix** the space while its checklist fails on the space or the sampling (a crowded
   bound widened, an infeasible edge cut, an inert parameter fixed, more points), through
   ``next``'s typed changes; a change the evidence does not support is held back, saying so;
3. **exploit** with Bayesian optimisation warm-started from the last exploration round;
4. **settle**: the best configuration of each value re-run over seeds;
5. **decide**: launch the leader into the baseline when the evidence holds (the rules of
   ``tunebook launch``), else "not yet" with the reason and what more seeds would buy;
6. optionally **round 2**: each value's leader trained F× longer, and whether the ranking
   held.

Each decision is recorded in the store before it is acted on (phase, what, why, the
statistic, budget spent and total), so the timeline explains itself and an interrupted
autopilot resumes at the decision it was acting on, never repeating a finished phase
(the studies it runs resume like ``tunebook run``). With ``approve=True`` each decision
that spends budget or changes the baseline is only proposed; :func:`approve` or
:func:`reject` resolves it, and a rejection makes the autopilot take the next best action.

    >>> pilot = autopilot(load_spec("study.yaml"), open_store("tunebook.db"), budget=60)
    >>> [(d.phase, d.summary) for d in pilot.timeline], pilot.outcome
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import assert_never

from tunebook.errors import SpecError, StudyNotFound, TunebookError
from tunebook.records import Action, DecisionRecord, DecisionState, Phase
from tunebook.spec import (
    MUTABLE_FIELDS,
    StudySpec,
    changed_fields,
    spec_from_snapshot,
)
from tunebook.store import Store
from tunebook.workflows import _pilot_steps as steps
from tunebook.workflows import _pilot_verdict as verdict
from tunebook.workflows._launch import DEFAULT_BASELINE
from tunebook.workflows._pilot_act import act
from tunebook.workflows._pilot_budget import plan_budget, time_worth
from tunebook.workflows._pilot_machine import Judgement, next_phase
from tunebook.workflows._pilot_payload import Settings, payload_of
from tunebook.workflows._pilot_steps import ROUNDS, Context, Step, ran, steps_of
from tunebook.workflows._run import RunOptions

OnDecision = Callable[[DecisionRecord], None]
Judge = Callable[[Context, DecisionRecord], Judgement]
Planner = Callable[[Context, Judgement], Step]


@dataclass(frozen=True)
class Pilot:
    """Where an autopilot stands: its timeline, and why it returned.

    Attributes:
        name: the autopilot (its study file's study name).
        timeline: every decision, in order.
        stopped_by: ``SIGINT``/``SIGTERM`` when a run was interrupted (run it again to go
            on), else None.
    """

    name: str
    timeline: list[DecisionRecord]
    stopped_by: str | None = None

    @property
    def last(self) -> DecisionRecord:
        return self.timeline[-1]

    @property
    def finished(self) -> bool:
        """It decided and ended (a larger budget can still make it go on)."""
        return self.last.action is Action.DONE

    @property
    def halted(self) -> bool:
        """It stopped on a cause to fix (every trial of a round failed, or the
        exploration was rejected); fixed and re-queued, it goes on."""
        return self.last.action is Action.STOP

    @property
    def waiting(self) -> DecisionRecord | None:
        """The decision waiting for ``approve``/``reject`` (None when none waits)."""
        return self.last if self.last.state is DecisionState.PROPOSED else None

    @property
    def outcome(self) -> str:
        """The conclusion in a line (the last decision's summary)."""
        return self.last.summary


def autopilot(spec: StudySpec, store: Store, *, budget: float | str,
              round2: float | None = None, approve: bool = False,
              baseline: str = DEFAULT_BASELINE, options: RunOptions | None = None,
              on_decision: OnDecision | None = None) -> Pilot:
    """Run (or resume) the autopilot for ``spec`` under ``budget``.

    ``budget`` is a number of trainings (``40``), or a time (``"6h"``): the wall time the
    autopilot may train for with ``options.workers`` at once, turned into trainings once
    the first round shows how long one takes. A second call with the same study resumes
    it; a different budget, ``round2`` or ``approve`` is recorded as a decision and applies
    from there on. A finished autopilot given a larger budget goes on: more seeds of the
    settled configurations, then the decision again.

    Raises:
        SpecError: the budget cannot answer the study (the message gives the minimum), or
            it is spent and the autopilot still needs trainings.
    """
    workers = (options or RunOptions()).workers or 1  # with GPUs: a floor, for time budgets
    trainings, seconds = parse_budget(budget)
    settings = Settings(trainings, seconds, workers=workers, round2=round2, approve=approve,
                        baseline=baseline)
    if settings.budget is not None:  # a time is checked once it is worth trainings
        plan_budget(spec, float(settings.budget), round2)
    timeline = store.decisions(spec.name)
    if not timeline:
        _record(store, spec.name, 0, Step(
            Phase.START, Action.START, f"autopilot for {spec.name}: {_budget_text(settings)}",
            _question(spec), payload=replace(settings, spec=spec.snapshot())),
            0.0, settings.budget or -1.0, DecisionState.MADE, on_decision)
    else:
        _same_study(spec, timeline[0])
    if timeline and _changed(settings_of(timeline), settings) \
            and (not Pilot(spec.name, timeline).finished or _grew(timeline, settings)):
        ctx = _context(store, timeline)
        _record(store, spec.name, len(timeline), Step(
            timeline[-1].phase, Action.BUDGET,
            f"settings changed: {_budget_text(settings)}"
            + (f", round 2 ×{round2:g}" if round2 else "") + (", approve" if approve else ""),
            "given on resume", payload=settings), ctx.spent().done, _total(ctx.plan.total),
            DecisionState.MADE, on_decision)
    return resume(store, spec.name, options=options, on_decision=on_decision)


def _same_study(spec: StudySpec, start: DecisionRecord) -> None:
    """An autopilot resumes the study it started on: an edited study file is refused."""
    began = spec_from_snapshot(_start_spec(start), start.pilot)
    differs = [f for f in changed_fields(began.config(), spec.config())
               if f.split(".")[0] not in MUTABLE_FIELDS]  # the budget is the autopilot's
    if differs:
        raise SpecError(f"the study file changed since autopilot {spec.name!r} started (in "
                        f"{', '.join(differs[:5])}); give the study a new name to start "
                        "another autopilot, or undo the change to resume this one",
                        path=str(spec.path) if spec.path else None, field="name")


def _start_spec(start: DecisionRecord) -> dict[str, object]:
    settings = payload_of(start)
    assert isinstance(settings, Settings) and settings.spec is not None  # the start's
    return settings.spec


def _changed(old: Settings, new: Settings) -> bool:
    """Settings given on resume differ (the worker count does not count: it only sets the
    pace, which a time budget measures anyway)."""
    return replace(old, workers=0, spec=None) != replace(new, workers=0, spec=None)


def _grew(timeline: Sequence[DecisionRecord], new: Settings) -> bool:
    """``new`` gives a finished autopilot more to spend (trainings, or time)."""
    old = settings_of(timeline)
    if new.budget is not None and old.budget is not None:
        return new.budget > old.budget
    return new.seconds is not None and old.seconds is not None and new.seconds > old.seconds


def parse_budget(budget: float | str) -> tuple[float | None, float | None]:
    """``40`` → (40 trainings, None); ``"6h"``, ``"90m"`` → (None, that many seconds of
    training).

    Raises:
        SpecError: neither a positive number nor a duration.
    """
    from tunebook._spec_model import parse_duration

    text = str(budget).strip()
    try:
        trainings = float(text)
    except ValueError:
        try:
            seconds = parse_duration(text)
        except ValueError as exc:
            raise SpecError(f"{exc}: a budget is a number of trainings (40) or a time "
                            "(6h, 90m)", field="--budget") from None
        return None, seconds
    if not trainings > 0:
        raise SpecError(f"a budget must be positive, got {text}", field="--budget")
    return trainings, None


def _budget_text(settings: Settings) -> str:
    if settings.budget is not None:
        return f"{settings.budget:g} trainings"
    seconds = float(settings.seconds or 0.0)
    took = (f"{seconds / 3600:.3g} h" if seconds >= 3600 else f"{seconds / 60:.3g} min"
            if seconds >= 60 else f"{seconds:g} s")
    return f"{took} of training, {settings.workers} at a time"


def _total(total: float) -> float:
    """A budget as stored: -1 while a time is not yet worth a known number of trainings."""
    return total if math.isfinite(total) else -1.0


def resume(store: Store, name: str, *, options: RunOptions | None = None,
           on_decision: OnDecision | None = None) -> Pilot:
    """Go on from the last decision of autopilot ``name`` until it finishes, stops, waits
    for approval, or is interrupted.

    Raises:
        StudyNotFound: no autopilot of that name.
        SpecError: its budget is spent while it still needs trainings.
    """
    options = options or RunOptions()
    acted: set[int] = set()
    _check_budget(store, timeline_of(store, name))
    while True:
        timeline = timeline_of(store, name)
        last = timeline[-1]
        if last.state is DecisionState.PROPOSED:
            return Pilot(name, timeline)
        ctx = _context(store, timeline)
        if last.state.acted and last.action.asks and last.id not in acted:
            acted.add(last.id)
            stopped = act(ctx, last, options)
            if stopped is not None:
                return Pilot(name, timeline, stopped)
            continue
        step = next_step(ctx)
        if step is None:
            return Pilot(name, timeline)
        state = (DecisionState.PROPOSED if settings_of(timeline).approve
                 and step.action.asks else DecisionState.MADE)
        _record(store, name, len(timeline), step, ctx.spent().done, _total(ctx.plan.total),
                state, on_decision)


def timeline_of(store: Store, name: str) -> list[DecisionRecord]:
    """Autopilot ``name``'s decisions.

    Raises:
        StudyNotFound: it has none (the message lists the autopilots there are).
    """
    timeline = store.decisions(name)
    if not timeline:
        known = sorted({d.pilot for d in store.decisions()})
        hint = f"autopilots here: {', '.join(known)}" if known else "none ran here"
        raise StudyNotFound(f"no autopilot named {name!r} in {store.url} ({hint}); start one "
                            "with `tunebook autopilot STUDY.yaml --budget N`")
    return timeline


def approve(store: Store, name: str, why: str = "") -> DecisionRecord:
    """Approve the decision autopilot ``name`` proposed (then :func:`resume` it)."""
    return _resolve(store, name, DecisionState.APPROVED, why)


def reject(store: Store, name: str, why: str = "") -> DecisionRecord:
    """Reject the proposed decision: it is recorded, and on :func:`resume` the autopilot
    takes the next best action (a rejected fix round: exploit; a rejected launch: none)."""
    return _resolve(store, name, DecisionState.REJECTED, why)


def _resolve(store: Store, name: str, state: DecisionState, why: str) -> DecisionRecord:
    last = timeline_of(store, name)[-1]
    if last.state is not DecisionState.PROPOSED or not store.resolve_decision(
            last.id, state, why):
        raise TunebookError(f"nothing of autopilot {name!r} waits for approval: its last "
                            f"decision (#{last.seq}, {last.summary}) is {last.state.value}; "
                            "only an autopilot run with --approve proposes decisions")
    return timeline_of(store, name)[-1]


def settings_of(timeline: Sequence[DecisionRecord]) -> Settings:
    """The autopilot's settings in force: the last ones recorded."""
    latest = payload_of([d for d in timeline if d.action.settings][-1])
    assert isinstance(latest, Settings)  # a settings decision's payload
    return latest


def _context(store: Store, timeline: Sequence[DecisionRecord]) -> Context:
    """What the next decision reads; a time budget is turned into trainings here, at the
    seconds one training has taken so far (re-estimated at every decision)."""
    start = timeline[0]
    spec = spec_from_snapshot(_start_spec(start), start.pilot)
    settings = settings_of(timeline)
    if settings.budget is not None:
        plan = plan_budget(spec, float(settings.budget), settings.round2)
    else:
        total = time_worth(store, ran(timeline), spec.model.max_steps,
                           float(settings.seconds or 0.0))
        plan = plan_budget(spec, math.floor(total) if math.isfinite(total) else total,
                           settings.round2, strict=False)
    return Context(store, spec, plan, settings.round2, settings.baseline, timeline,
                   timed=settings.budget is None)


def _check_budget(store: Store, timeline: Sequence[DecisionRecord]) -> None:
    ctx = _context(store, timeline)
    moved = steps_of(timeline)
    searching = not moved or moved[-1].phase in (*ROUNDS, Phase.EXPLOIT)
    used = ctx.spent().done
    if searching and moved and moved[-1].action is not Action.STOP \
            and used >= ctx.plan.total:
        raise SpecError(f"the budget of {ctx.plan.total:g} trainings is spent ({used:g} "
                        f"used) and autopilot {ctx.name} still has to settle its question; "
                        "pass a larger --budget to go on", field="--budget")


def next_step(ctx: Context) -> Step | None:
    """The next decision: the last one that moved the autopilot along is judged by its
    phase, :data:`~tunebook.workflows._pilot_machine.TRANSITIONS` names the next phase,
    and that phase plans it. None: the autopilot waits (finished, or stopped)."""
    moved = steps_of(ctx.timeline)
    last = moved[-1] if moved else ctx.timeline[0]
    phase = Phase.STOP if last.action is Action.STOP else last.phase
    judged = judge(phase)(ctx, last)
    then = next_phase(phase, judged.outcome)
    return None if then is None else planner(then)(ctx, judged)


def judge(phase: Phase) -> Judge:
    """The function that reads what a decision of ``phase`` led to."""
    return _handlers(phase)[0]


def planner(phase: Phase) -> Planner:
    """The function that builds the next decision of ``phase``.

    Raises:
        TunebookError: ``phase`` is the start, which :func:`autopilot` records.
    """
    plan = _handlers(phase)[1]
    if plan is None:
        raise TunebookError(f"no decision plans the {phase.value}: autopilot() records it")
    return plan


def _handlers(phase: Phase) -> tuple[Judge, Planner | None]:
    """Each phase's judge and planner (mypy checks that every phase has its case)."""
    match phase:
        case Phase.START:
            return steps.judge_start, None
        case Phase.EXPLORE:
            return steps.judge_round, steps.explore
        case Phase.FIX:
            return steps.judge_round, steps.fix
        case Phase.STOP:
            return steps.judge_stop, steps.stop
        case Phase.EXPLOIT:
            return steps.judge_exploit, steps.exploit
        case Phase.SETTLE:
            return verdict.judge_settle, verdict.settle
        case Phase.DECIDE:
            return verdict.judge_decide, verdict.decide
        case Phase.ROUND2:
            return verdict.judge_round2, verdict.round2
        case Phase.DONE:
            return verdict.judge_done, verdict.done
        case _:
            assert_never(phase)


def _record(store: Store, name: str, seq: int, step: Step, spent: float, budget: float,
            state: DecisionState, on_decision: OnDecision | None) -> DecisionRecord:
    record = store.add_decision(name, seq, phase=step.phase.value, action=step.action.value,
                                summary=step.summary, why=step.why, stats=step.stats,
                                study=step.study, spent=spent, budget=budget, state=state)
    if on_decision is not None:
        on_decision(record)
    return record


def _question(spec: StudySpec) -> str:
    """The study's question, in words."""
    sci = spec.model.scientific
    if not sci:
        return ("no scientific parameter: the question is the best configuration of the "
                f"{len(spec.space.nuisance)} searched parameter(s)")
    names = ", ".join(sci)
    return (f"which value of {names} is best ({len(spec.space.combos())} values), each "
            "compared at its own best nuisance settings")
