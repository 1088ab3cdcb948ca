"""Choose a new trial's params now, from what the study has learned so far."""

from __future__ import annotations

from collections.abc import Sequence

from tunebook.errors import SpecError
from tunebook.records import StudyRecord, TrialRecord, trial_seed
from tunebook.runner.plan import StudyPlan
from tunebook.samplers import Ask
from tunebook.space import Dimension, FloatDomain, IntDomain
from tunebook.spec import StudySpec, study_spec
from tunebook.store import Store


def warm_sources(store: Store, spec: StudySpec) -> list[StudyRecord]:
    """The studies named by ``sampler.warm_start``, checked usable (none without one).

    Raises:
        SpecError: no such study, or one that did not search this study's nuisance
            parameters on the same scales (its values would be read on the wrong axes).
    """
    where = str(spec.path) if spec.path else None
    found: list[StudyRecord] = []
    for name in spec.model.sampler.warm_sources:
        study = store.find_study(name)
        if study is None:
            raise SpecError(f"no study named {name!r} to warm-start from; run it first or fix "
                            "the name", path=where, field="sampler.warm_start")
        if not _same_axes(spec.space.nuisance, study_spec(study).space.nuisance):
            raise SpecError(f"study {name!r} searched a different nuisance space; warm-start "
                            "from a study that searched every nuisance (and conditional) "
                            "parameter of this one, on the same scales (its trials inside "
                            "this study's ranges are used)", path=where,
                            field="sampler.warm_start")
        found.append(study)
    return found


def _same_axes(new: Sequence[Dimension], old: Sequence[Dimension]) -> bool:
    """``old`` searched every dimension of ``new``, of the same kind and scale. Its ranges
    may be wider (a narrowed space: what was learned still holds inside it) or narrower (a
    widened one: its trials are still trials of this space, only fewer of it)."""
    searched = {d.key: d.domain for d in old}
    for dim in new:
        was, now = searched.get(dim.key), dim.domain
        if was is None or type(was) is not type(now):
            return False
        if isinstance(was, FloatDomain | IntDomain) and isinstance(
                now, FloatDomain | IntDomain) and was.scale is not now.scale:
            return False
    return True


def warm_trials(store: Store, spec: StudySpec) -> list[TrialRecord]:
    """Finished trials of the studies named by ``sampler.warm_start`` that lie inside this
    study's space (none without one)."""
    dims = spec.space.nuisance
    return [t for study in warm_sources(store, spec) for t in store.trials(store.tree(study).ids)
            if t.status.finished
            and all(d.domain.contains(t.params[d.key]) for d in dims if d.key in t.params)]


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
               intermediate={trial_id: series for (trial_id, _), series in points.items()},
               warm=warm_trials(store, plan.spec))


def choose_params(store: Store, plan: StudyPlan, trial: TrialRecord) -> TrialRecord:
    """Ask the sampler (outside any database lock) and write its answer for the claim.

    Raises:
        StaleClaim: the trial was re-queued while the sampler was thinking.
    """
    params = plan.sampler.suggest(ask_for(store, plan, trial))
    seed = trial_seed(plan.spec.model.sampler.seed, trial.index)
    return store.set_params(trial.id, trial.attempts, params, seed)
