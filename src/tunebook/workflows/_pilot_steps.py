"""The autopilot's decisions while it searches: explore, fix the space, exploit.

Each decision is a function of the timeline so far and the studies it ran, so a resumed
autopilot decides exactly what it would have decided without the interruption. A
decision is a :class:`Step`: what to do, why, and the statistic behind it; the studies it
runs are carried as spec snapshots, so acting on a recorded step needs nothing else.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tunebook._spec_derive import Change, ChangeKind, Derivation, from_changes
from tunebook._spec_model import SamplerModel
from tunebook.analysis.nextstudy import next_name, plan_next
from tunebook.analysis.report import StudyReport, study_report
from tunebook.records import DecisionRecord, DecisionState
from tunebook.spec import StudySpec, study_spec
from tunebook.store import Store
from tunebook.workflows._pilot_budget import BudgetPlan, Spent, spent

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
#: Actions that spend the budget or change the baseline: ``--approve`` asks first.
ASKING = ("run", "child", "launch")
#: Actions after which the autopilot has nothing more to do.
FINAL = ("stop", "done")


@dataclass(frozen=True)
class Step:
    """One decision before it is recorded (see :class:`~tunebook.records.DecisionRecord`)."""

    phase: str
    action: str
    summary: str
    why: str
    stats: dict[str, Any] = field(default_factory=dict)
    study: str | None = None

    @property
    def asks(self) -> bool:
        return self.action in ASKING


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

    def studies(self, *phases: str) -> list[str]:
        """The studies the autopilot ran (in these phases), in order."""
        return ran(self.timeline, *phases)

    def spent(self, *phases: str) -> Spent:
        return spent(self.store, self.studies(*phases), self.spec.model.max_steps)

    @property
    def left(self) -> float:
        """Trainings not yet spent or committed."""
        return self.plan.total - self.spent().committed

    @property
    def reserved(self) -> float:
        """What settling (and round 2) will need once the search is over."""
        return self.plan.settle + self.plan.round2


def ran(timeline: Sequence[DecisionRecord], *phases: str) -> list[str]:
    """The studies a timeline ran (in these phases), in order."""
    return [d.study for d in timeline if d.study and d.state.acted
            and d.action in ("run", "child") and (not phases or d.phase in phases)]


def steps_of(timeline: Sequence[DecisionRecord]) -> list[DecisionRecord]:
    """The decisions that move the autopilot along (not its start and budget notes)."""
    return [d for d in timeline if d.action not in ("start", "budget")]


def run_step(phase: str, spec: StudySpec, summary: str, why: str, **stats: Any) -> Step:
    """A decision to run (or resume, or extend) the study ``spec``."""
    return Step(phase, "run", summary, why, {"spec": spec.snapshot(),
                                             "trials": spec.model.budget.trials, **stats},
                spec.name)


def explore(ctx: Context) -> Step:
    """Phase 1: the study as written, with the first share of the exploration budget."""
    size = ctx.plan.first_round
    spec = ctx.spec.derive(Derivation(budget=size))
    sampler = spec.model.sampler.type.replace("_", "-")
    return run_step("explore", spec, f"explore {spec.name} as written: {size} trials, "
                    f"{sampler} search", (
                        "the playbook explores before it exploits (§2.2): a space-filling "
                        "search over the nuisance parameters, each scientific value its "
                        f"share, shows where the good region is. Budget: {_total(ctx)}: "
                        f"exploring {ctx.plan.explore}, settling "
                        f"{ctx.plan.seeds} seeds × {ctx.plan.values} value(s)"
                        + (f", round 2 {ctx.plan.round2:g}" if ctx.plan.round2 else "")
                        + ", exploiting the rest"), plan=ctx.plan.as_json())


def after_round(ctx: Context, last: DecisionRecord) -> Step:
    """Phase 2: read the round's checklist; fix the space while it fails there."""
    if last.state is DecisionState.REJECTED:
        if last.phase == "explore":
            return Step("explore", "stop", "stopped: the exploration was rejected",
                        "without exploring there is nothing to tune from" + _note(last))
        return exploit(ctx, "the fix round was rejected" + _note(last))
    assert last.study is not None  # a run decision names its study
    report = study_report(ctx.store, last.study)
    if not report.data.completed():
        return _all_failed(report, last.phase)
    plan = plan_next(report.data, report.findings, report.noise)
    space = [c for c in plan.changes if c.kind in SPACE_CHANGES and not _searching_on(c)]
    held = [{"what": f"{h.kind.value} {h.target}", "why": h.reason} for h in plan.held]
    held += [{"what": c.where, "why": f"{c.reason}: not made here; --round2 trains longer"}
             for c in plan.changes if c.kind is ChangeKind.STEPS]
    held += [{"what": "more trials", "why": f"{c.reason}: left to the exploitation, "
              "which searches where the model expects the best"}
             for c in plan.changes if _searching_on(c)]
    if not space:
        return exploit(ctx, f"every space and sampling check of {last.study} passes: the "
                       "space is settled",
                       held=held)
    narrow = [c for c in space if c.kind in NARROWING]
    if narrow and all(c.kind in (*NARROWING, ChangeKind.BUDGET) for c in space):
        # More points asked beside a cut or a fix: exploitation adds them, inside the
        # narrowed space, where the round's infeasible trials no longer count against it.
        return exploit(ctx, "the checklist narrows the space: "
                       + "; ".join(f"{c.kind.value} {c.where} ({c.reason})" for c in narrow)
                       + ". What was learned still holds inside a narrower space, so "
                       "exploitation starts there, warm-started from the trials inside it",
                       held=held, narrow=narrow)
    fixes = len(ctx.studies("fix"))
    asked = "; ".join(f"{c.kind.value} {c.where} ({c.reason.removesuffix(': widened')})"
                      if c.target is not None else c.reason for c in space)
    if fixes >= MAX_FIX_ROUNDS:
        return exploit(ctx, f"after {fixes} fix rounds the checklist still asks: {asked}. "
                       "Exploiting the space as it is; the launch weighs what still fails",
                       held=held)
    explored = ctx.spent("explore", "fix").committed
    size = max(ctx.plan.round_size, math.ceil(ctx.plan.explore - explored))
    affordable = math.floor(ctx.left - ctx.reserved)
    if affordable < ctx.plan.round_size:
        return exploit(ctx, f"the checklist asks: {asked}; but a round of "
                       f"{ctx.plan.round_size} would leave too little to settle the "
                       f"question ({affordable:g} trainings to spare): exploiting the space "
                       "as it is",
                       held=held)
    size = min(size, affordable)
    return _fix_round(ctx, last, report, space, size, held)


def _fix_round(ctx: Context, last: DecisionRecord, report: StudyReport,
               space: Sequence[Any], size: int, held: list[dict[str, str]]) -> Step:
    old = study_spec(report.data.study)
    changes = [c for c in space if c.kind is not ChangeKind.BUDGET]
    stats = {"changes": _changes_json(space), "held": held}
    if not changes:  # only "too few points": sample the same space up to what it asks
        wanted = int(space[0].value) - old.model.budget.trials
        size = min(size, max(wanted, 2 * ctx.plan.values))
        total = old.model.budget.trials + size
        spec = old.derive(Derivation(budget=total))
        return run_step("fix", spec, f"{size} more trials of {spec.name} ({total} in all)",
                        space[0].reason, **stats)
    spec = old.derive(from_changes(changes, name=next_name(last.study or ctx.name),
                                   budget=size))
    what = ", ".join(f"{c.kind.value} {c.where}" + (f" to {_plain(c.value)}"
                                                   if c.kind is not ChangeKind.FIX else "")
                     for c in changes)
    return run_step("fix", spec, f"{spec.name}: {what}; {size} trials",
                    "; ".join(c.reason for c in changes), **stats)


def _searching_on(change: Any) -> bool:
    """More trials asked for because the search still pays off, not because the space
    was sampled too thinly to read: that is exploitation's work, not the space's."""
    return change.kind is ChangeKind.BUDGET and not change.statistic.get("too_few_points", 1)


def exploit(ctx: Context, why: str, held: list[dict[str, str]] | None = None,
            narrow: Sequence[Change] = ()) -> Step:
    """Phase 3: Bayesian optimisation warm-started from the last exploration round (in
    the space ``narrow`` cuts or fixes, when the round asked only for that)."""
    rounds = ctx.studies("explore", "fix")
    size = math.floor(ctx.left - ctx.reserved)
    extra = {"held": held} if held else {}
    if not rounds:
        return Step("exploit", "skip", "no exploitation: nothing was explored", why, extra)
    source = rounds[-1]
    if size < 2 * ctx.plan.values:
        return Step("exploit", "skip", "no exploitation: the budget is needed to settle",
                    f"{why}; {max(size, 0):g} trainings to spare after keeping "
                    f"{ctx.reserved:g} for settling", {**extra, "left": ctx.left})
    size = _chunk(ctx, size)
    old = study_spec(ctx.store.get_study(source))
    sampler = SamplerModel(type="bayes", warm_start=source, seed=old.model.sampler.seed)
    spec = old.derive(from_changes(narrow, name=f"{ctx.name}-bayes", sampler=sampler,
                                   budget=size))
    where = (" in the space narrowed by " + ", ".join(f"{c.kind.value} {c.where}"
                                                    for c in narrow)) if narrow else ""
    if narrow:
        extra["changes"] = _changes_json(narrow)
    return run_step("exploit", spec, f"exploit with Bayesian optimisation: {size} trials, "
                    f"warm-started from {source}{where}", f"{why}. The rest of the search "
                    "budget goes where the model expects the best (§2.2: exploitation once "
                    "exploration is done)", **extra)


def exploit_more(ctx: Context, last: DecisionRecord) -> Step | None:
    """With a time budget: another slice of exploitation while the time (at the pace just
    measured) allows one beside settling; None when it does not."""
    size = math.floor(ctx.left - ctx.reserved)
    if not ctx.timed or last.action != "run" or not last.state.acted or last.study is None \
            or size < 2 * ctx.plan.values:
        return None
    size = _chunk(ctx, size)
    old = study_spec(ctx.store.get_study(last.study))
    total = old.model.budget.trials + size
    spec = old.derive(Derivation(budget=total))
    return run_step("exploit", spec, f"{size} more trials of {spec.name} ({total} in all)",
                    f"time is left beside settling: {ctx.left:g} trainings at the pace of "
                    "the last step", left=ctx.left)


def _chunk(ctx: Context, size: int) -> int:
    if not ctx.timed:
        return size
    return min(size, max(2 * ctx.plan.values, math.ceil(TIMED_CHUNK * size)))


def _changes_json(changes: Sequence[Change]) -> list[dict[str, Any]]:
    return [{"what": c.where, "to": _plain(c.value), "why": c.reason,
             **{k: float(v) for k, v in c.statistic.items()}} for c in changes]


def _all_failed(report: StudyReport, phase: str) -> Step:
    bad = [t for t in report.data.trials if t.status.finished]
    reasons = list(dict.fromkeys((t.reason or t.status.value).strip().splitlines()[-1][:300]
                                 for t in bad))[:3]
    name = report.data.study.name
    return Step(phase, "stop", f"stopped: no trial of {name} completed",
                f"all {len(bad)} finished trials failed or were infeasible; the first "
                f"reasons: {' | '.join(reasons)}. Fix the trainer, then `tunebook retry "
                f"{name}` and run the autopilot again", {"reasons": reasons}, name)


def _total(ctx: Context) -> str:
    if math.isfinite(ctx.plan.total):
        return f"{ctx.plan.total:g} trainings"
    return ("a time, worth a number of trainings once this round shows how long one takes "
            "(so this round is the smallest that can be read)")


def _note(record: DecisionRecord) -> str:
    return f" ({record.note})" if record.note else ""


def _plain(value: Any) -> Any:
    return value if isinstance(value, (str, int, float, bool)) or value is None else str(value)
