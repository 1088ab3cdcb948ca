"""The autopilot's decisions once the search is over: settle, decide, round 2, done.

Settling re-runs the best configuration of each scientific value over seeds (the
playbook's yardstick for "is the difference real?", §2.4); deciding applies the same rules
as ``tunebook launch`` to that evidence, and when they do not hold says why and what more
seeds would buy; round 2 trains each value's leader longer and checks the ranking (§3.1).
"""

from __future__ import annotations

import math
import statistics
from typing import Any

from tunebook._spec_derive import Change
from tunebook.analysis.data import load_study
from tunebook.analysis.isolation import ValueBest, ranked
from tunebook.analysis.report import StudyReport, study_report
from tunebook.analysis.rounds import compare_rounds
from tunebook.analysis.summary import margin, value_noise
from tunebook.records import Action, DecisionRecord, Phase
from tunebook.space import Params
from tunebook.spec import StudySpec, study_spec
from tunebook.workflows._launch import BlockerKind, checklist_blockers, gather, lineage
from tunebook.workflows._pilot_machine import Judgement, Outcome
from tunebook.workflows._pilot_payload import Adopt, LongerRun, SeedRuns, payload_of
from tunebook.workflows._pilot_steps import ROUNDS, Context, Step, crowded_bounds, dimension_of
from tunebook.workflows._rerun import best_configs, seed_trials

#: "At the bound": within this share of the range (on its own scale) from it.
AT_BOUND = 0.02

# -- judges ---------------------------------------------------------------------------


def judge_settle(ctx: Context, last: DecisionRecord) -> Judgement:
    return Judgement(Outcome.SETTLED)


def judge_decide(ctx: Context, last: DecisionRecord) -> Judgement:
    return Judgement(Outcome.ROUND2_ASKED if ctx.round2 else Outcome.DECIDED)


def judge_round2(ctx: Context, last: DecisionRecord) -> Judgement:
    return Judgement(Outcome.TRAINED)


def judge_done(ctx: Context, last: DecisionRecord) -> Judgement:
    """A finished autopilot goes on only when it was since given a larger budget."""
    raised = [d for d in ctx.timeline if d.seq > last.seq and d.action is Action.BUDGET]
    if raised and (last.budget < 0 or ctx.plan.total > last.budget):
        return Judgement(Outcome.MORE_BUDGET, f"the budget grew from {last.budget:g} to "
                         f"{ctx.plan.total:g} trainings after the autopilot finished: more "
                         "seeds of the settled configurations, then the decision again")
    return Judgement(Outcome.FINISHED)


# -- planners -------------------------------------------------------------------------


def settle(ctx: Context, judged: Judgement) -> Step:
    """Phase 4: the best configuration of each value again, over new seeds; with a
    larger budget after the decision, more seeds of the same configurations."""
    why = judged.why
    rounds, exploits = ctx.studies(*ROUNDS), ctx.studies(Phase.EXPLOIT)
    if not rounds:
        return Step(Phase.SETTLE, Action.SKIP, "nothing to settle: nothing was explored", why)
    # The child descends from the last exploration round, so a launch weighs that
    # round's checklist: the Bayesian study alone is no sample of the space (it
    # concentrates where the model expects the best, by design).
    parent = ctx.store.get_study(rounds[-1])
    configs = best_configs(ctx.store, ctx.spec, [parent, *exploits], ctx.plan.candidates)
    child = f"{ctx.name}-seeds"
    found = ctx.store.find_study(child)
    held = ctx.store.trials(ctx.store.tree(found).ids) if found is not None else []
    had = len(held) // max(1, len(configs))
    affordable = math.floor((ctx.left - ctx.plan.round2) / max(1, len(configs)))
    seeds = had + (affordable if held else min(ctx.plan.seeds, affordable))
    if seeds < 2 or seeds <= had or not configs:
        return Step(Phase.SETTLE, Action.SKIP, "no more seed re-runs: the budget is spent"
                    if held else "no seed re-runs: the budget is spent",
                    f"{max(ctx.left, 0):g} trainings left; two seeds per value is the least "
                    "that shows a spread", {"left": ctx.left})
    trials = seed_trials(study_spec(parent), configs, seeds, held)
    what = (f"the {len(configs)} best configurations" if ctx.plan.candidates > 1
            else "the best configuration of each value")
    added = len(trials) - len(held)
    return Step(Phase.SETTLE, Action.CHILD, f"settle: {what}, {seeds} seeds each ({added} "
                "trainings" + (f" beside the {len(held)} already run" if held else "") + ")", (
                    (f"{why}. " if why else "") + "A best trial is the luckiest of many "
                    "draws; the playbook judges a difference against the spread of the "
                    "best configurations re-run with other seeds (§2.4)"),
                {"seeds": seeds, "configurations": len(configs)}, child,
                SeedRuns(parent.name, trials, seeds,
                         f"autopilot {ctx.name}: seeds of the best configuration(s) of each "
                         f"value of {parent.name}"))


def decide(ctx: Context, judged: Judgement) -> Step:
    """Phase 5: launch the leader when the evidence holds, else "not yet" and why."""
    settled = ctx.studies(Phase.SETTLE)
    study = (settled or ctx.studies())[-1] if ctx.studies() else None
    if study is None:
        return Step(Phase.DECIDE, Action.NOT_YET, "not yet: no study ran",
                    "nothing to decide from")
    report = study_report(ctx.store, study)
    rows = ranked(report.isolation, report.data.minimize)
    if not rows:
        return Step(Phase.DECIDE, Action.NOT_YET, f"not yet: no trial of {study} completed",
                    report.conclusion.text, study=study)
    leader = rows[0]
    stats = _gap_stats(rows)
    wrong = _still_wrong(ctx, dict(leader.best.params) if leader.best else {})
    if wrong:
        return Step(Phase.DECIDE, Action.NOT_YET, "not yet: the best trials sit at a bound, "
                    "the search space is still wrong", wrong, stats, study)
    if not leader.combo:  # no scientific question: the best configuration
        return _adopt(ctx, study, report, leader, stats, bool(settled))
    evidence = gather(ctx.store, study, leader.label, baseline=ctx.baseline)
    if not evidence.blockers:
        return Step(Phase.DECIDE, Action.LAUNCH, f"launch {leader.label} into baseline "
                    f"{ctx.baseline}", evidence.conclusion, {**stats, "value": leader.label},
                    study, Adopt(value=leader.label))
    more = _more_seeds(rows, len(ctx.spec.space.combos()))
    if evidence.blocked_by(BlockerKind.CHECKLIST):
        more += ("; " if more else "") + ("the exploration ended with its checklist "
                                          "failing: a larger budget gives the fix rounds "
                                          "room to settle the space")
    tie = len(rows) > 1 and stats.get("gap") == 0.0
    headline = (f"{leader.label} and {rows[1].label} tie" if tie
                else f"{leader.label} leads, but the evidence does not hold")
    return Step(Phase.DECIDE, Action.NOT_YET, f"not yet: {headline}",
                " | ".join(evidence.texts) + (f" | {more}" if more else ""),
                {**stats, "value": leader.label}, study)


def _still_wrong(ctx: Context, config: Params) -> str:
    """Why the space is still wrong at the end, when the configuration to adopt sits at a
    bound the last exploitation's best trials crowd (the best lies at or beyond it), or
    "" when it does not."""
    exploits = ctx.studies(Phase.EXPLOIT)
    if not exploits:
        return ""
    spec = study_spec(ctx.store.get_study(exploits[-1]))
    at = [c for c in crowded_bounds(ctx, exploits[-1]) if _at_bound(spec, c, config)]
    if not at:
        return ""
    return ("; ".join(f"{c.where}: {c.reason}" for c in at) + f" in {exploits[-1]}, and "
            "the best configuration sits at that bound. Adopting it would adopt the range's "
            "mistake: a larger budget gives the fix rounds room to widen it (" + ", ".join(
                f"{c.where} to ~{c.value:g}" for c in at) + ")")


def _at_bound(spec: StudySpec, change: Change, config: Params) -> bool:
    """``config``'s value of the widened parameter lies within 2 % of its range from the
    bound (in the range's unit scale, as the checklist measures "near the edge")."""
    dim = dimension_of(spec, change.target) if change.target else None
    value = config.get(dim.key) if dim is not None else None
    if dim is None or not isinstance(value, (int, float)):
        return False
    u = float(dim.domain.to_unit(value))
    return (1.0 - u if change.edge == "high" else u) <= AT_BOUND


def _adopt(ctx: Context, study: str, report: StudyReport, leader: ValueBest,
           stats: dict[str, Any], settled: bool) -> Step:
    """No scientific question: adopt the best configuration, on the evidence a launch
    needs (seed re-runs, and no failing checklist in the study or its ancestors)."""
    failing = checklist_blockers(lineage(ctx.store, report))
    if settled and not failing:
        # the isolation row already holds the configuration with the best mean over
        # its seeds (a settled study is one of re-runs)
        assert leader.best is not None and leader.center is not None
        config, mean = dict(leader.best.params), leader.center
        values = list(leader.seed_values)
        return Step(Phase.DECIDE, Action.LAUNCH, f"adopt the best configuration into "
                    f"baseline {ctx.baseline}", f"the best mean {report.data.metric} over "
                    f"seeds of the configurations settled: {mean:.4g} ({len(values)} seeds, "
                    f"from {min(values):.4g} to {max(values):.4g})",
                    {**stats, "center": mean}, study, Adopt(config=config))
    return Step(Phase.DECIDE, Action.NOT_YET, "not yet: the best configuration is not "
                "settled", " | ".join(b.text for b in failing) or "no seed re-runs of it",
                stats, study)


def _gap_stats(rows: list[ValueBest]) -> dict[str, Any]:
    out: dict[str, Any] = {"leader": rows[0].label, "center": rows[0].center,
                           "seeds": len(rows[0].seed_values)}
    if len(rows) > 1:
        gap = margin(rows[0].center or 0.0, rows[1].center or 0.0)
        spread, _ = value_noise(rows[0], rows[1])
        out |= {"runner_up": rows[1].label, "gap": gap, "spread": spread,
                "gap_in_spreads": gap / spread if spread else None}
    return out


def _more_seeds(rows: list[ValueBest], values: int) -> str:
    """What more seeds would buy, when the two leaders were re-run over seeds."""
    if len(rows) < 2 or min(len(r.seed_values) for r in rows[:2]) < 2:
        return ""
    a, b = rows[0], rows[1]
    gap = margin(a.center or 0.0, b.center or 0.0)
    spread, _ = value_noise(a, b)
    if gap > spread:
        return ""  # the gap clears the noise: something else blocks the launch
    k = min(len(a.seed_values), len(b.seed_values))
    sd = math.sqrt((statistics.variance(a.seed_values) + statistics.variance(b.seed_values))
                   / 2)
    if sd == 0 or spread == 0:
        return ""
    z = gap / (sd * math.sqrt(2 / k))
    text = (f"the gap is {gap / spread:.2f} seed-spreads (a launch needs more than 1); the "
            f"means differ by {z:.2g} standard errors")
    need = math.ceil(8 * sd * sd / gap / gap) if gap > 0 else None
    if need is not None and need > k and need - k <= 100:
        text += (f"; about {need - k} more seeds per value ({(need - k) * values} trainings)"
                 " would put the means 2 standard errors apart, enough to tell whether the "
                 "difference is real")
    return text + ("; a gap inside one run's noise is not launched: if it stays there, the "
                   "values do not differ by more than that noise")


def round2(ctx: Context, judged: Judgement) -> Step:
    """Phase 6 (``--round2 F``): each value's leader trained F× longer."""
    factor = ctx.round2 or 1.0
    searched = ctx.studies(Phase.EXPLOIT) or ctx.studies(*ROUNDS)
    if not searched:
        return Step(Phase.ROUND2, Action.SKIP, "no round 2: nothing was searched", "")
    if ctx.spec.model.max_steps is None:
        return Step(Phase.ROUND2, Action.SKIP, "no round 2: the study has no max_steps",
                    "round 2 trains a factor longer than max_steps; set it in the study file")
    cost = factor * ctx.plan.values
    if ctx.left < cost:
        return Step(Phase.ROUND2, Action.SKIP, "no round 2: the budget is spent",
                    f"it needs {cost:g} trainings, {max(ctx.left, 0):g} are left")
    child = f"{ctx.name}-x{factor:g}"
    return Step(Phase.ROUND2, Action.CHILD, f"round 2: each value's leader trained "
                f"{factor:g}× longer ({cost:g} trainings)", "round 1 tuned on short runs; "
                "the playbook trains the best configurations longer under the schedule "
                "transfer rule and checks that the ranking holds (§3.1)",
                {"factor": factor}, child, LongerRun(searched[-1], factor))


def done(ctx: Context, judged: Judgement) -> Step:
    """The last decision: what the autopilot concluded, and what it spent."""
    verdict = next((d for d in reversed(ctx.timeline) if d.phase is Phase.DECIDE), None)
    rounds = ctx.studies(Phase.ROUND2)
    extra = ""
    if rounds:
        compared = compare_rounds(ctx.store, load_study(ctx.store, rounds[-1]))
        extra = f" Round 2: {compared.text}" if compared is not None else ""
    used = ctx.spent().done
    return Step(Phase.DONE, Action.DONE, _outcome(verdict, ctx.baseline), f"{used:g} of "
                f"{ctx.plan.total:g} trainings spent.{extra}", {"spent": used})


def _outcome(verdict: DecisionRecord | None, baseline: str) -> str:
    if verdict is None:
        return "finished without a decision"
    adopt = payload_of(verdict)
    if isinstance(adopt, Adopt):
        what = (f"{adopt.value} into baseline {baseline}" if adopt.value is not None
                else f"the best configuration into baseline {baseline}")
        return ("launched " if verdict.state.acted else "not launched (rejected): ") + what
    return verdict.summary
