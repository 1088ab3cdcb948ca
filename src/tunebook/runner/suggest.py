"""Choose a new trial's params now, from what the study has learned so far."""

from __future__ import annotations

from tunebook.records import TrialRecord, trial_seed
from tunebook.runner.plan import StudyPlan
from tunebook.samplers import Ask
from tunebook.store import Store


def ask_for(store: Store, plan: StudyPlan, trial: TrialRecord) -> Ask:
    """The sampler's view of ``trial``'s study: history and pending trials if it adapts.

    A non-adaptive sampler gets neither, so quasi-random search costs no query here.
    """
    ask = Ask(plan.spec.space, plan.combos, trial.index, plan.objective)
    if not plan.sampler.adaptive:
        return ask
    others = [t for t in store.trials([trial.study_id]) if t.id != trial.id]
    history = [t for t in others if t.status.finished]
    points = store.metric_points([t.id for t in history], [plan.objective.metric])
    return Ask(ask.space, ask.combos, ask.index, ask.objective, history=history,
               pending=[t for t in others if not t.status.finished],
               intermediate={trial_id: series for (trial_id, _), series in points.items()})


def choose_params(store: Store, plan: StudyPlan, trial: TrialRecord) -> TrialRecord:
    """Ask the sampler (outside any database lock) and write its answer for the claim.

    Raises:
        StaleClaim: the trial was re-queued while the sampler was thinking.
    """
    params = plan.sampler.suggest(ask_for(store, plan, trial))
    seed = trial_seed(plan.spec.model.sampler.seed, trial.index)
    return store.set_params(trial.id, trial.attempts, params, seed)
