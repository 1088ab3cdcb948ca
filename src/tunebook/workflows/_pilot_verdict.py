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

from tunebook.analysis.data import load_study
from tunebook.analysis.isolation import ValueBest, ranked
from tunebook.analysis.report import study_report
from tunebook.analysis.rounds import compare_rounds
from tunebook.analysis.summary import margin
from tunebook.records import (
    DecisionRecord,
    TrialStatus,
    distinct_configs,
    trial_seed,
)
from tunebook.space import Params
from tunebook.spec import study_spec
from tunebook.workflows._pilot_steps import Context, Step
from tunebook.workflows.launch import gather
from tunebook.workflows.rerun import RERUN_SALT


def settle(ctx: Context, why: str = "") -> Step:
    """Phase 4: the best configuration of each value again, over new seeds."""
    rounds, exploits = ctx.studies("explore", "fix"), ctx.studies("exploit")
    if not rounds:
        return Step("settle", "skip", "nothing to settle: nothing was explored", why)
    # The child descends from the last exploration round, so a launch weighs that
    # round's checklist: the Bayesian study alone is no sample of the space (it
    # concentrates where the model expects the best, by design).
    parent = rounds[-1]
    configs = _leaders(ctx, [rounds[-1], *exploits], ctx.plan.candidates)
    seeds = min(ctx.plan.seeds, math.floor((ctx.left - ctx.plan.round2) / max(1, len(configs))))
    if seeds < 2 or not configs:
        return Step("settle", "skip", "no seed re-runs: the budget is spent",
                    f"{max(ctx.left, 0):g} trainings left; two seeds per value is the least "
                    "that shows a spread", {"left": ctx.left})
    salt = study_spec(ctx.store.get_study(parent)).model.sampler.seed + RERUN_SALT
    trials = [[i, config, trial_seed(salt, i)]
              for i, config in enumerate(c for c in configs for _ in range(seeds))]
    child = f"{ctx.name}-seeds"
    what = (f"the {len(configs)} best configurations" if ctx.plan.candidates > 1
            else "the best configuration of each value")
    return Step("settle", "child", f"settle: {what}, {seeds} seeds each ({len(trials)} "
                "trainings)", (
                    (f"{why}. " if why else "") + "a best trial is the luckiest of many "
                    "draws; the playbook judges a difference against the spread of the "
                    "best configurations re-run with other seeds (§2.4)"),
                {"parent": parent, "trials": trials, "seeds": seeds,
                 "description": f"autopilot {ctx.name}: {seeds} seeds of the best "
                                f"configuration of each value of {parent}"}, child)


def _leaders(ctx: Context, names: list[str], top: int) -> list[Params]:
    """The ``top`` best completed configurations of each scientific value in ``names``."""
    done = [t for name in names for t in ctx.store.trials(ctx.store.tree(name).ids,
                                                          TrialStatus.COMPLETED)
            if t.value is not None and math.isfinite(t.value)]
    sign = ctx.spec.objective.sign()
    out = []
    for combo in ctx.spec.space.combos() or [{}]:
        mine = sorted((t for t in done if all(t.params.get(k) == v for k, v in combo.items())),
                      key=lambda t: sign * float(t.value or 0.0))
        out += [dict(t.params) for t in distinct_configs(mine)[:top]]
    return out


def decide(ctx: Context) -> Step:
    """Phase 5: launch the leader when the evidence holds, else "not yet" and why."""
    settled = ctx.studies("settle")
    study = (settled or ctx.studies())[-1] if ctx.studies() else None
    if study is None:
        return Step("decide", "not_yet", "not yet: no study ran", "nothing to decide from")
    report = study_report(ctx.store, study)
    rows = ranked(report.isolation, report.data.minimize)
    if not rows:
        return Step("decide", "not_yet", f"not yet: no trial of {study} completed",
                    report.conclusion.text, study=study)
    leader = rows[0]
    stats = _gap_stats(rows)
    if not leader.combo:  # no scientific question: the best configuration
        failing = [f.question for f in report.findings if f.verdict.value == "fail"]
        if settled and not failing:
            # the isolation row already holds the configuration with the best mean over
            # its seeds (a settled study is one of re-runs)
            assert leader.best is not None and leader.center is not None
            config, mean = dict(leader.best.params), leader.center
            values = list(leader.seed_values)
            return Step("decide", "launch", f"adopt the best configuration into baseline "
                        f"{ctx.baseline}", f"the best mean {report.data.metric} over seeds "
                        f"of the configurations settled: {mean:.4g} ({len(values)} seeds, "
                        f"from {min(values):.4g} to {max(values):.4g})",
                        {**stats, "center": mean, "config": config}, study)
        return Step("decide", "not_yet", "not yet: the best configuration is not settled",
                    "; ".join(failing) or "no seed re-runs of it", stats, study)
    evidence = gather(ctx.store, study, leader.label, baseline=ctx.baseline)
    if not evidence.blockers:
        return Step("decide", "launch", f"launch {leader.label} into baseline "
                    f"{ctx.baseline}", evidence.conclusion, {**stats, "value": leader.label},
                    study)
    more = _more_seeds(rows, len(ctx.spec.space.combos()))
    if any(": the checklist fails on" in b for b in evidence.blockers):
        more += ("; " if more else "") + ("the exploration ended with its checklist "
                                          "failing: a larger budget gives the fix rounds "
                                          "room to settle the space")
    return Step("decide", "not_yet", f"not yet: {leader.label} leads, but the evidence "
                "does not hold", " | ".join(evidence.blockers) + (f" | {more}" if more else ""),
                {**stats, "value": leader.label}, study)


def _gap_stats(rows: list[ValueBest]) -> dict[str, Any]:
    out: dict[str, Any] = {"leader": rows[0].label, "center": rows[0].center,
                           "seeds": len(rows[0].seed_values)}
    if len(rows) > 1:
        gap = margin(rows[0].center or 0.0, rows[1].center or 0.0)
        spread = max(r.spread or 0.0 for r in rows[:2])
        out |= {"runner_up": rows[1].label, "gap": gap, "spread": spread,
                "gap_in_spreads": gap / spread if spread else None}
    return out


def _more_seeds(rows: list[ValueBest], values: int) -> str:
    """What more seeds would buy, when the two leaders were re-run over seeds."""
    if len(rows) < 2 or min(len(r.seed_values) for r in rows[:2]) < 2:
        return ""
    a, b = rows[0], rows[1]
    if abs((a.center or 0.0) - (b.center or 0.0)) > max(a.spread or 0.0, b.spread or 0.0):
        return ""  # the gap clears the noise: something else blocks the launch
    k = min(len(a.seed_values), len(b.seed_values))
    sd = math.sqrt((statistics.variance(a.seed_values) + statistics.variance(b.seed_values))
                   / 2)
    gap = margin(a.center or 0.0, b.center or 0.0)
    spread = max(a.spread or 0.0, b.spread or 0.0)
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


def round2(ctx: Context, factor: float) -> Step:
    """Phase 6 (``--round2 F``): each value's leader trained F× longer."""
    searched = ctx.studies("exploit") or ctx.studies("explore", "fix")
    if not searched:
        return Step("round2", "skip", "no round 2: nothing was searched", "")
    if ctx.spec.model.max_steps is None:
        return Step("round2", "skip", "no round 2: the study has no max_steps",
                    "round 2 trains a factor longer than max_steps; set it in the study file")
    cost = factor * ctx.plan.values
    if ctx.left < cost:
        return Step("round2", "skip", "no round 2: the budget is spent",
                    f"it needs {cost:g} trainings, {max(ctx.left, 0):g} are left")
    child = f"{ctx.name}-x{factor:g}"
    return Step("round2", "child", f"round 2: each value's leader trained {factor:g}× "
                f"longer ({cost:g} trainings)", "round 1 tuned on short runs; the playbook "
                "trains the best configurations longer under the schedule transfer rule "
                "and checks that the ranking holds (§3.1)",
                {"parent": searched[-1], "factor": factor}, child)


def done(ctx: Context) -> Step:
    """The last decision: what the autopilot concluded, and what it spent."""
    verdict = next((d for d in reversed(ctx.timeline) if d.phase == "decide"), None)
    rounds = ctx.studies("round2")
    extra = ""
    if rounds:
        compared = compare_rounds(ctx.store, load_study(ctx.store, rounds[-1]))
        extra = f" Round 2: {compared.text}" if compared is not None else ""
    used = ctx.spent().done
    return Step("done", "done", _outcome(verdict), f"{used:g} of {ctx.plan.total:g} "
                f"trainings spent.{extra}", {"spent": used})


def _outcome(verdict: DecisionRecord | None) -> str:
    if verdict is None:
        return "finished without a decision"
    if verdict.action == "launch":
        what = verdict.summary.removeprefix("launch ").removeprefix("adopt ")
        return ("launched " if verdict.state.acted else "not launched (rejected): ") + what
    return verdict.summary
