"""The autopilot's budget: how it is shared between the phases, and what was spent.

A budget is counted in *trainings*: one trial trained for the study file's ``max_steps``.
Everything counts, the way a user pays for it: exploration rounds, Bayesian exploitation,
the seed re-runs, round 2 (a trial trained F× longer counts F), failed and infeasible
trials (in full: the compute was reserved for them), and pruned trials by the steps they
ran. A study's queued and not-yet-created trials count as *committed*, so a resumed
autopilot never plans what an unfinished phase will still spend.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from tunebook.analysis.sampling import MIN_PER_VALUE, PER_DIMENSION
from tunebook.errors import SpecError
from tunebook.records import TrialStatus
from tunebook.spec import StudySpec, study_spec
from tunebook.store import Store

#: Seeds per scientific value for the settling re-runs: at least 3 (two give a spread
#: from one difference), at most 10 (past that the spread barely moves).
MIN_SEEDS, MAX_SEEDS = 3, 10
#: Of the budget: the share for seed re-runs, and of the rest the share for exploring.
SETTLE_SHARE, EXPLORE_SHARE = 0.2, 0.5
#: Configurations settled over seeds when a study has no scientific question.
CANDIDATES = 3
#: Round 1 takes this much of the exploration share; fix rounds take the rest.
FIRST_ROUND_SHARE = 0.6


@dataclass(frozen=True)
class BudgetPlan:
    """How ``total`` trainings are shared (the autopilot's first decision states it).

    Attributes:
        total: trainings in all.
        values: scientific combinations compared (1 without a scientific parameter).
        searched: nuisance parameters searched.
        round_size: the smallest exploration round worth reading: per value, 4 trials or
            2 per searched parameter (+2), whichever is more. Fewer points cannot show a
            crowded bound or a parameter's effect.
        seeds: seed re-runs per value when settling (the least, 3, for a study without
            a scientific question).
        candidates: configurations settled per value: 1 when values are compared (the
            isolation compares each value's best), 3 without a scientific question (the
            best mean over seeds of the 3 best, not the luckiest single trial, is kept).
        round2: trainings kept for round 2 (F per value), 0 without it.
        explore: trainings for exploring (round 1 and the rounds that fix its space).
    """

    total: float
    values: int
    searched: int
    round_size: int
    seeds: int
    round2: float
    explore: int

    @property
    def candidates(self) -> int:
        return CANDIDATES if self.values == 1 else 1

    @property
    def settle(self) -> int:
        return self.seeds * self.values * self.candidates

    @property
    def first_round(self) -> int:
        """Round 1: its share of the exploration, and when the share allows it as many
        points as the checklist's sampling check wants (else it asks for them, and a fix
        round is spent sampling what round 1 could have)."""
        wanted = self.values * max(MIN_PER_VALUE, PER_DIMENSION * self.searched)
        return min(self.explore, max(self.round_size, wanted,
                                     math.ceil(FIRST_ROUND_SHARE * self.explore)))

    def as_json(self) -> dict[str, float | None]:
        return {"total": self.total if math.isfinite(self.total) else None,
                "values": self.values, "searched": self.searched,
                "round_size": self.round_size, "seeds": self.seeds, "settle": self.settle,
                "candidates": self.candidates,
                "round2": self.round2, "explore": self.explore,
                "first_round": self.first_round}


def minimum(spec: StudySpec, round2_factor: float | None = None) -> tuple[int, str]:
    """The smallest budget the autopilot can answer the study's question with, and why."""
    values, searched = _shape(spec)
    size = _round_size(values, searched)
    extra = (round2_factor or 0.0) * values
    settle = MIN_SEEDS * values * (CANDIDATES if values == 1 else 1)
    why = (f"one exploration round of {size} trainings ({size // values} per value for "
           f"{searched} searched parameter(s)) and {MIN_SEEDS} seed re-runs "
           + ("per value" if values > 1 else f"of the {CANDIDATES} best configurations")
           + f" ({settle})") + (f" and round 2 ({extra:g})" if extra else "")
    return math.ceil(size + settle + extra), why


def plan_budget(spec: StudySpec, total: float, round2_factor: float | None = None, *,
                strict: bool = True) -> BudgetPlan:
    """Share ``total`` trainings between the phases.

    ``strict=False`` plans even a budget below the minimum (a time budget, whose worth in
    trainings is only known once some have run): the phases that cannot be afforded are
    then skipped, each saying so.

    Raises:
        SpecError: ``total`` is below :func:`minimum` (the message gives it and why).
    """
    least, why = minimum(spec, round2_factor)
    if strict and (not math.isfinite(total) or total < least):
        raise SpecError(f"a budget of {total:g} trainings cannot answer this study: it needs "
                        f"at least {least}: {why}. Pass --budget {least} or more",
                        field="--budget")
    values, searched = _shape(spec)
    # One value has nothing to be compared with: its seeds only say what its best
    # configuration is worth, and the least that shows a spread does that.
    seeds = (min(MAX_SEEDS, max(MIN_SEEDS, math.floor(SETTLE_SHARE * total / values)))
             if math.isfinite(total) and values > 1 else MIN_SEEDS)
    round2 = (round2_factor or 0.0) * values
    rest = total - seeds * values * (CANDIDATES if values == 1 else 1) - round2
    size = _round_size(values, searched)
    explore = max(size, math.ceil(EXPLORE_SHARE * rest)) if math.isfinite(rest) else size
    return BudgetPlan(total, values, searched, size, seeds, round2,
                      max(size, min(explore, math.floor(rest))) if math.isfinite(rest)
                      else size)


def _shape(spec: StudySpec) -> tuple[int, int]:
    return max(1, len(spec.space.combos())), len(spec.space.nuisance)


def _round_size(values: int, searched: int) -> int:
    return values * max(4, 2 * (searched + 1))


@dataclass(frozen=True)
class Spent:
    """Trainings used so far: ``done`` (finished and running trials) and ``committed``
    (that, plus what the studies' budgets still hold)."""

    done: float
    committed: float


def spent(store: Store, names: Sequence[str], base_steps: int | None) -> Spent:
    """Trainings the studies ``names`` used and committed (see the module docstring)."""
    done = committed = 0.0
    for name in dict.fromkeys(names):
        study = store.find_study(name)
        if study is None:
            continue
        tree = store.tree(study)
        unit = _unit(study_spec(study).model.max_steps, base_steps)
        trials = store.trials(tree.ids)
        pruned = [t.id for t in trials if t.status is TrialStatus.PRUNED]
        ran = _steps_ran(store, pruned)
        used = sum(unit for t in trials if t.status is not TrialStatus.QUEUED
                   and t.status is not TrialStatus.PRUNED)
        used += sum(min(unit, ran.get(i, 0) / base_steps) if base_steps else unit
                    for i in pruned)
        done += used
        committed += used + unit * max(0, tree.budget - len(trials)) + unit * sum(
            t.status is TrialStatus.QUEUED for t in trials)
    return Spent(done, committed)


def _unit(steps: int | None, base_steps: int | None) -> float:
    """One trial's cost in trainings: its length over the study file's."""
    return steps / base_steps if steps and base_steps else 1.0


def _steps_ran(store: Store, trial_ids: list[int]) -> dict[int, int]:
    """The last step each trial reported anything at."""
    out: dict[int, int] = {}
    for (trial_id, _), series in store.metric_points(trial_ids).items():
        out[trial_id] = max([out.get(trial_id, 0), *(step for step, _ in series)])
    return out


def time_worth(store: Store, names: Sequence[str], base_steps: int | None,
               seconds: float) -> float:
    """What a time budget of ``seconds`` is worth in trainings: those done, plus what the
    time left buys at the pace so far. Time is counted while any trial of the studies
    ``names`` was running (the union of their run intervals): wall time as the user pays
    for it, idle workers included, but not the time the autopilot was stopped or waited
    for an approval. Infinite before anything finished."""
    spans = sorted((t.started_at, t.finished_at) for name in dict.fromkeys(names)
                   if (study := store.find_study(name)) is not None
                   for t in store.trials(store.tree(study).ids)
                   if t.started_at and t.finished_at)
    elapsed, edge = 0.0, -math.inf
    for start, end in spans:
        elapsed += max(0.0, end - max(start, edge))
        edge = max(edge, end)
    done = spent(store, names, base_steps).done
    if not elapsed or not done:
        return math.inf
    return done + done / elapsed * max(0.0, seconds - elapsed)
