"""The autopilot's decisions while it searches: explore, fix the space, exploit, stop.

Each phase has a *judge*, which reads what its last decision led to (an
:class:`~tunebook.workflows._pilot_machine.Outcome`), and a *planner*, which builds the
next decision of its phase from a judgement; which phase comes next is chosen only by
:data:`~tunebook.workflows._pilot_machine.TRANSITIONS`. Both read only the timeline and
the studies it ran, so a resumed autopilot decides exactly what it would have decided
without the interruption. A decision is a :class:`Step`: what to do, why, the evidence
behind it and, typed, what acting on it needs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from tunebook._spec_derive import Change, ChangeKind, Derivation, from_changes
from tunebook._spec_model import SamplerModel
from tunebook.analysis.checklist import is_fraction
from tunebook.analysis.nextstudy import below_divergence, next_name, plan_next
from tunebook.analysis.report import study_report
from tunebook.records import Action, DecisionRecord, DecisionState, Phase, TrialStatus
from tunebook.runner.suggest import warm_trials
from tunebook.space import ChoiceDomain, Dimension, ParamRef
from tunebook.spec import StudySpec, study_spec
from tunebook.store import Store
from tunebook.workflows._pilot_budget import BudgetPlan, Spent, spent
from tunebook.workflows._pilot_machine import Held, Judgement, Outcome
from tunebook.workflows._pilot_payload import Payload, RunStudy, as_stats

#: The changes the autopilot makes to the space before exploiting it; training length
#: (``steps``) is left to round 2, and ``sampler`` is the exploitation itself.
SPACE_CHANGES = (ChangeKind.WIDEN, ChangeKind.CUT, ChangeKind.FIX, ChangeKind.BUDGET)
#: Changes that only narrow the space: exploitation can start in the narrowed space at
#: once (what was learned still holds inside it), without another exploration round.
NARROWING = (ChangeKind.CUT, ChangeKind.FIX)
#: Rounds that fix the space, at most, before exploiting what there is.
MAX_FIX_ROUNDS = 3
#: With a time budget, the share of what is left that one exploitation step may take:
#: the pace is measured again after each, so a slower phase cannot overrun the time.
TIMED_CHUNK = 0.3
#: Phases whose studies sample the space (a round's checklist reads them).
ROUNDS = (Phase.EXPLORE, Phase.FIX)


@dataclass(frozen=True)
class Step:
    """One decision before it is recorded (see :class:`~tunebook.records.DecisionRecord`):
    ``evidence`` is what the timeline shows, ``payload`` what acting on it needs."""

    phase: Phase
    action: Action
    summary: str
    why: str
    evidence: dict[str, Any] = field(default_factory=dict)
    study: str | None = None
    payload: Payload | None = None

    @property
    def stats(self) -> dict[str, Any]:
        """The decision's ``stats`` as stored."""
        return as_stats(self.evidence, self.payload)


@dataclass(frozen=True)
class Context:
    """What every decision reads: the store, the study file as the autopilot began, how
    the budget is shared, the options, and the timeline so far."""

    store: Store
    spec: StudySpec
    plan: BudgetPlan
    round2: float | None
    baseline: str
    timeline: Sequence[DecisionRecord]
    timed: bool = False

    @property
    def name(self) -> str:
        return self.spec.name

    def studies(self, *phases: Phase) -> list[str]:
        """The studies the autopilot ran (in these phases), in order."""
        return ran(self.timeline, *phases)

    def spent(self, *phases: Phase) -> Spent:
        return spent(self.store, self.studies(*phases), self.spec.model.max_steps)

    @property
    def left(self) -> float:
        """Trainings not yet spent or committed."""
        return self.plan.total - self.spent().committed

    @property
    def reserved(self) -> float:
        """What settling (and round 2) will need once the search is over."""
        return self.plan.settle + self.plan.round2

    @property
    def spare(self) -> int:
        """Trainings the search may still spend beside what settling needs."""
        return math.floor(self.left - self.reserved)


def ran(timeline: Sequence[DecisionRecord], *phases: Phase) -> list[str]:
    """The studies a timeline ran (in these phases), in order."""
    return [d.study for d in timeline if d.study and d.state.acted
            and d.action in (Action.RUN, Action.CHILD) and (not phases or d.phase in phases)]


def steps_of(timeline: Sequence[DecisionRecord]) -> list[DecisionRecord]:
    """The decisions that move the autopilot along (not its start and budget notes)."""
    return [d for d in timeline if not Action(d.action).settings]


def run_step(phase: Phase, spec: StudySpec, summary: str, why: str, **evidence: Any) -> Step:
    """A decision to run (or resume, or extend) the study ``spec``."""
    return Step(phase, Action.RUN, summary, why,
                {"trials": spec.model.budget.trials, **evidence}, spec.name,
                RunStudy(spec.snapshot()))


# -- judges: what the last decision led to ---------------------------------------------


def judge_start(ctx: Context, last: DecisionRecord) -> Judgement:
    return Judgement(Outcome.BEGUN)


def judge_round(ctx: Context, last: DecisionRecord) -> Judgement:
    """An exploration or fix round: does its checklist still fail on the space?"""
    if last.state is DecisionState.REJECTED:
        what = "exploration" if last.phase is Phase.EXPLORE else "fix round"
        return Judgement(Outcome.REJECTED, f"the {what} was rejected" + _note(last))
    study = last.study or ""
    report = study_report(ctx.store, study)
    if not report.data.completed():
        return _nothing_completed(ctx, study, below_divergence(report.data))
    plan = plan_next(report.data, report.findings, report.noise)
    space = tuple(c for c in plan.changes if c.kind in SPACE_CHANGES and not c.searching)
    held = tuple([Held(f"{h.kind.value} {h.target}", h.reason) for h in plan.held]
                 + [Held(c.where, f"{c.reason}: not made here; --round2 trains longer")
                    for c in plan.changes if c.kind is ChangeKind.STEPS]
                 + [Held("more trials", f"{c.reason}: left to the exploitation, which "
                         "searches where the model expects the best")
                    for c in plan.changes if c.searching])
    if not space:
        return Judgement(Outcome.SPACE_SETTLED, f"every space and sampling check of {study} "
                         "passes: the space is settled", study, held=held)
    narrow = tuple(c for c in space if c.kind in NARROWING)
    if narrow and all(c.kind in (*NARROWING, ChangeKind.BUDGET) for c in space):
        # More points asked beside a cut or a fix: exploitation adds them, inside the
        # narrowed space, where the round's infeasible trials no longer count against it.
        return Judgement(Outcome.SPACE_NARROWED, "the checklist narrows the space: "
                         + "; ".join(f"{c.kind.value} {c.where} ({c.reason})" for c in narrow)
                         + ". What was learned still holds inside a narrower space, so "
                         "exploitation starts there, warm-started from the trials inside it",
                         study, narrow, held)
    fixes = len(ctx.studies(Phase.FIX))
    asked = "; ".join(f"{c.kind.value} {c.where} ({c.reason})" if c.target is not None
                      else c.reason for c in space)
    if fixes >= MAX_FIX_ROUNDS:
        return Judgement(Outcome.FIXES_SPENT, f"after {fixes} fix rounds the checklist still "
                         f"asks: {asked}. Exploiting the space as it is; the launch weighs "
                         "what still fails", study, space, held)
    if ctx.spare < ctx.plan.round_size:
        return Judgement(Outcome.NO_ROOM, f"the checklist asks: {asked}; but a round of "
                         f"{ctx.plan.round_size} would leave too little to settle the "
                         f"question ({ctx.spare:g} trainings to spare): exploiting the space "
                         "as it is", study, space, held)
    return Judgement(Outcome.SPACE_WRONG, asked, study, space, held)


def _nothing_completed(ctx: Context, study: str, moved: Sequence[Change]) -> Judgement:
    """A round with no completed trial: when every trial diverged and a learning rate is
    searched, its range moves below the divergence (a fix round, if one fits the budget
    and the fix rounds are not spent); else the autopilot stops until the cause is fixed."""
    fixes = len(ctx.studies(Phase.FIX))
    if moved and fixes < MAX_FIX_ROUNDS and ctx.spare >= ctx.plan.round_size:
        return Judgement(Outcome.ALL_DIVERGED, moved[0].reason, study, tuple(moved))
    return Judgement(Outcome.ALL_FAILED, study=study)


def judge_stop(ctx: Context, last: DecisionRecord) -> Judgement:
    """A stopped autopilot goes on once the stopped round has trials to run or results
    (``tunebook retry`` re-queues them after the cause is fixed)."""
    study = ctx.store.find_study(last.study) if last.study else None
    if study is None:
        return Judgement(Outcome.STOPPED, last.why)
    counts = ctx.store.counts(ctx.store.tree(study).ids)
    if counts.get(TrialStatus.QUEUED, 0) or counts.get(TrialStatus.COMPLETED, 0):
        return Judgement(Outcome.RETRIED, study=study.name,
                         evidence={"queued": counts.get(TrialStatus.QUEUED, 0)})
    return Judgement(Outcome.STOPPED, last.why, study.name)


def judge_exploit(ctx: Context, last: DecisionRecord) -> Judgement:
    """Exploitation: do its best trials crowd a bound (the strongest sign the range is
    wrong: the model went there because it expects the best there)? Then back to fixing
    the space, in at most half of what is left, so exploitation in the widened space gets
    the rest. Else another slice while the budget allows one."""
    if last.state is DecisionState.REJECTED:
        return Judgement(Outcome.REJECTED, "the exploitation was rejected" + _note(last))
    if last.action is not Action.RUN or not last.state.acted or not last.study:
        return Judgement(Outcome.SEARCHED)
    widen = crowded_bounds(ctx, last.study)
    fixes = len(ctx.studies(Phase.FIX))
    if widen and fixes < MAX_FIX_ROUNDS and ctx.spare // 2 >= ctx.plan.round_size:
        asked = "; ".join(f"{c.kind.value} {c.where} ({c.reason})" for c in widen)
        return Judgement(Outcome.SPACE_WRONG, f"the exploitation's best trials crowd a "
                         f"bound: {asked}", last.study, widen)
    if ctx.spare >= 2 * ctx.plan.values:
        held = tuple(Held(c.where, f"{c.reason}: {fixes} fix rounds ran, or a round "
                          "would take more than half of what is left to exploit")
                     for c in widen)
        return Judgement(Outcome.SEARCH_LEFT, study=last.study, held=held)
    return Judgement(Outcome.SEARCHED)


def crowded_bounds(ctx: Context, study: str) -> tuple[Change, ...]:
    """The bounds the best trials of ``study`` crowd, as ``next`` would widen them."""
    report = study_report(ctx.store, study)
    if not report.data.completed():
        return ()
    plan = plan_next(report.data, report.findings, report.noise)
    return tuple(c for c in plan.changes if c.kind is ChangeKind.WIDEN)


# -- planners: the next decision of a phase --------------------------------------------


def explore(ctx: Context, judged: Judgement) -> Step:
    """Phase 1: the study as written, with the first share of the exploration budget;
    after a stop whose trials were re-queued, that round again."""
    if judged.outcome is Outcome.RETRIED:
        spec = study_spec(ctx.store.get_study(judged.study or ""))
        return run_step(Phase.EXPLORE, spec, f"resume {spec.name} after the stop: "
                        f"{judged.evidence.get('queued', 0)} trial(s) queued again",
                        "the stopped round has trials to run again (tunebook retry): the "
                        "autopilot goes on from it", **judged.evidence)
    size = ctx.plan.first_round
    spec = ctx.spec.derive(Derivation(budget=size))
    sampler = spec.model.sampler.type.replace("_", "-")
    return run_step(Phase.EXPLORE, spec, f"explore {spec.name} as written: {size} trials, "
                    f"{sampler} search", (
                        "the playbook explores before it exploits (§2.2): a space-filling "
                        "search over the nuisance parameters, each scientific value its "
                        f"share, shows where the good region is. Budget: {_total(ctx)}: "
                        f"exploring {ctx.plan.explore}, settling "
                        f"{ctx.plan.seeds} seeds × {ctx.plan.values} value(s)"
                        + (f", round 2 {ctx.plan.round2:g}" if ctx.plan.round2 else "")
                        + ", exploiting the rest"), plan=ctx.plan.as_json())


def fix(ctx: Context, judged: Judgement) -> Step:
    """Phase 2: a round in the space the checklist asks for (or the same space, sampled
    up to what it asks). Sent back by the exploitation, the round widens the space the
    exploitation searched, sampled as the exploration was, in at most half of what is
    left."""
    old = study_spec(ctx.store.get_study(judged.study or ""))
    rounds = ctx.studies(*ROUNDS)
    judged = replace(judged, changes=tuple(_stretched(ctx, old, c) for c in judged.changes))
    evidence = {"changes": _changes_json(judged.changes), **_held(judged)}
    if old.model.sampler.type == "bayes" and rounds:
        explored = study_spec(ctx.store.get_study(rounds[-1]))
        size = min(max(ctx.plan.round_size, ctx.plan.first_round), ctx.spare // 2)
        spec = old.derive(from_changes(judged.changes, name=next_name(rounds[-1]),
                                       sampler=explored.model.sampler, budget=size))
        return run_step(Phase.FIX, spec, f"{spec.name}: " + ", ".join(
            f"{c.kind.value} {c.where} to {_plain(c.value)}" for c in judged.changes)
            + f"; {size} trials, sampled as the exploration was", judged.why
            + ". Back to fixing the space, with at most half of what is left, so that "
            "exploitation in the widened space gets the rest", **evidence)
    explored_so_far = ctx.spent(*ROUNDS).committed
    size = min(max(ctx.plan.round_size, math.ceil(ctx.plan.explore - explored_so_far)),
               ctx.spare)
    changes = [c for c in judged.changes if c.kind is not ChangeKind.BUDGET]
    if not changes:  # only "too few points": sample the same space up to what it asks
        size = min(size, _top_up(ctx, old, int(judged.changes[0].value)))
        total = old.model.budget.trials + size
        spec = old.derive(Derivation(budget=total))
        return run_step(Phase.FIX, spec, f"{size} more trials of {spec.name} ({total} in "
                        "all)", judged.changes[0].reason, **evidence)
    spec = old.derive(from_changes(changes, name=next_name(old.name), budget=size))
    what = ", ".join(f"{c.kind.value} {c.where}" + (f" to {_plain(c.value)}"
                                                   if c.kind is not ChangeKind.FIX else "")
                     for c in changes)
    return run_step(Phase.FIX, spec, f"{spec.name}: {what}; {size} trials",
                    "; ".join(dict.fromkeys(c.reason for c in changes)), **evidence)


def _stretched(ctx: Context, old: StudySpec, change: Change) -> Change:
    """A widening by what the evidence says: each round in a row that found the same
    bound crowded doubles the step (on a log range ×3, then ×9, about a decade, then ×81;
    on a linear one half a width, then a width, then two), so an optimum far outside is
    reached in a few rounds, not one ×3 at a time."""
    if change.kind is not ChangeKind.WIDEN or change.target is None:
        return change
    streak = 0
    for d in reversed([d for d in ctx.timeline if d.phase is Phase.FIX and d.state.acted]):
        changed = [c for c in d.evidence.get("changes") or [] if c.get("kind") != "budget"]
        if not changed:
            continue  # a top-up of the same round: no new reading of the edge
        if not any(c.get("kind") == "widen" and c.get("what") == change.where
                   for c in changed):
            break
        streak += 1
    dim = dimension_of(old, change.target)
    if not streak or dim is None or change.edge is None:
        return change
    bound, step = float(getattr(dim.domain, change.edge)), 2 ** streak
    value = float(change.value)
    to = (bound * (value / bound) ** step if dim.is_log
          else 1 - (1 - bound) * ((1 - value) / (1 - bound)) ** step
          if is_fraction(dim) and change.edge == "high" and bound < 1
          else bound + (value - bound) * step)
    return replace(change, value=float(f"{to:.3g}"), reason=f"{change.reason}; crowded "
                   f"{streak + 1} rounds in a row: a step {step}× as far",
                   statistic={**change.statistic, "rounds_crowded": float(streak + 1)})


def dimension_of(spec: StudySpec, ref: ParamRef) -> Dimension | None:
    """The searched numeric dimension ``ref`` names in ``spec`` (None when it has none)."""
    try:
        dim = spec.space.dimension(ref.key)
    except KeyError:
        return None
    return None if isinstance(dim.domain, ChoiceDomain) else dim


def _top_up(ctx: Context, old: StudySpec, wanted: int) -> int:
    """Trials that bring ``old`` to ``wanted`` *completed* ones (the count the sampling
    check reads), at the share of its trials that completed so far: trials that diverge
    or fail are made up for, so one top-up does what it was asked (never less than 2 per
    value: fewer cannot move a reading)."""
    counts = ctx.store.counts(ctx.store.tree(old.name).ids)
    completed = counts.get(TrialStatus.COMPLETED, 0)
    finished = sum(n for status, n in counts.items() if status.finished)
    rate = completed / finished if finished and completed else 1.0
    return max(math.ceil((wanted - completed) / rate), 2 * ctx.plan.values)


def stop(ctx: Context, judged: Judgement) -> Step:
    """The autopilot halts: a round with no completed trial (resumable once its trials
    are re-queued), or a rejected exploration."""
    if judged.outcome is Outcome.REJECTED:
        return Step(Phase.STOP, Action.STOP, "stopped: the exploration was rejected",
                    f"{judged.why}: without exploring there is nothing to tune from")
    name = judged.study or ""
    trials = ctx.store.trials(ctx.store.tree(name).ids)
    bad = [t for t in trials if t.status.finished]
    reasons = list(dict.fromkeys((t.reason or t.status.value).strip().splitlines()[-1][:300]
                                 for t in bad))[:3]
    return Step(Phase.STOP, Action.STOP, f"stopped: no trial of {name} completed",
                f"all {len(bad)} finished trials failed or were infeasible; the first "
                f"reasons: {' | '.join(reasons)}. Fix the trainer (or the space), then "
                f"`tunebook retry {name} --status failed,infeasible` and run the autopilot "
                "again: it goes on from this round", {"failed": len(bad), "reasons": reasons}, name)


def exploit(ctx: Context, judged: Judgement) -> Step:
    """Phase 3: Bayesian optimisation warm-started from the last exploration round (in
    the space the round's cuts and fixes narrow, when it asked only for that); with a
    time budget, the next slice of it."""
    if judged.outcome is Outcome.SEARCH_LEFT:
        return _exploit_more(ctx, judged)
    narrow = judged.changes if judged.outcome is Outcome.SPACE_NARROWED else ()
    rounds = ctx.studies(*ROUNDS)
    size, why = ctx.spare, judged.why
    evidence: dict[str, Any] = _held(judged)
    if not rounds:
        return Step(Phase.EXPLOIT, Action.SKIP, "no exploitation: nothing was explored", why,
                    evidence)
    source = rounds[-1]
    if size < 2 * ctx.plan.values:
        return Step(Phase.EXPLOIT, Action.SKIP, "no exploitation: the budget is needed to "
                    "settle", f"{why}; {max(size, 0):g} trainings to spare after keeping "
                    f"{ctx.reserved:g} for settling", {**evidence, "left": ctx.left})
    size = _chunk(ctx, size, first=True)
    old = study_spec(ctx.store.get_study(source))
    before = ctx.studies(Phase.EXPLOIT)
    warm = [n for n in dict.fromkeys(ctx.studies(*ROUNDS, Phase.EXPLOIT))
            if n != source and ctx.store.find_study(n) is not None]
    sampler = SamplerModel(type="bayes", warm_start=[*warm, source] if warm else source,
                           seed=old.model.sampler.seed)
    name = next_name(before[-1]) if before else f"{ctx.name}-bayes"
    spec = old.derive(from_changes(narrow, name=name, sampler=sampler, budget=size))
    where = (" in the space narrowed by " + ", ".join(f"{c.kind.value} {c.where}"
                                                    for c in narrow)) if narrow else ""
    if narrow:
        evidence["changes"] = _changes_json(narrow)
    inside = len(warm_trials(ctx.store, spec))
    sources = ", ".join([*warm, source])
    return run_step(Phase.EXPLOIT, spec, f"exploit with Bayesian optimisation: {size} "
                    f"trials, warm-started from the {inside} trials of {sources} inside its "
                    f"space{where}", f"{why}. The rest of the "
                    "search budget goes where the model expects the best (§2.2: "
                    "exploitation once exploration is done)", **evidence)


def _exploit_more(ctx: Context, judged: Judgement) -> Step:
    """The next slice of exploitation: the rest of the search budget (with a time budget,
    a share of it at the pace just measured)."""
    size = _chunk(ctx, ctx.spare, first=False)
    old = study_spec(ctx.store.get_study(judged.study or ""))
    total = old.model.budget.trials + size
    spec = old.derive(Derivation(budget=total))
    why = (f"time is left beside settling: {ctx.left:g} trainings at the pace of the last "
           "step" if ctx.timed else "its best trials crowd a bound, but the space cannot be "
           "widened now (held below): the rest of the search budget goes to exploiting"
           if judged.held else "its best trials crowd no bound: the rest of the search "
           "budget goes to exploiting")
    return run_step(Phase.EXPLOIT, spec, f"{size} more trials of {spec.name} ({total} in "
                    "all)", why, left=ctx.left, **_held(judged))


def _chunk(ctx: Context, size: int, *, first: bool) -> int:
    """One slice of exploitation: with a time budget a share of what is left (the pace is
    measured again after each); else half for the first slice in a space, so that its
    checklist can still send the autopilot back to fixing the space, and then the rest."""
    least = 2 * ctx.plan.values
    if ctx.timed:
        return min(size, max(least, math.ceil(TIMED_CHUNK * size)))
    if first and size >= 2 * least:
        return math.ceil(size / 2)
    return size


def _changes_json(changes: Sequence[Change]) -> list[dict[str, Any]]:
    return [{"kind": c.kind.value, "what": c.where, "to": _plain(c.value), "why": c.reason,
             **{k: float(v) for k, v in c.statistic.items()}} for c in changes]


def _total(ctx: Context) -> str:
    if math.isfinite(ctx.plan.total):
        return f"{ctx.plan.total:g} trainings"
    return ("a time, worth a number of trainings once this round shows how long one takes "
            "(so this round is the smallest that can be read)")


def _held(judged: Judgement) -> dict[str, Any]:
    return {"held": [h.as_json() for h in judged.held]} if judged.held else {}


def _note(record: DecisionRecord) -> str:
    return f" ({record.note})" if record.note else ""


def _plain(value: Any) -> Any:
    return value if isinstance(value, (str, int, float, bool)) or value is None else str(value)
