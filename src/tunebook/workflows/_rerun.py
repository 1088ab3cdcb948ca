"""Re-runs over seeds: the playbook's yardstick for "is the difference real?" (§2.4).

A study compares scientific values by their best trials, but a best trial is the luckiest
of many draws. ``rerun_study`` makes a child study that trains the best configuration of
each scientific value (or its top K) again with new seeds; its isolation then compares
means over seeds against the spread over seeds (see docs/checklist.md).

    >>> done = rerun(store, "act-study", seeds=5)
    >>> done.report.conclusion.text
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace

from tunebook._spec_derive import Derivation
from tunebook.analysis.report import StudyReport, study_report
from tunebook.errors import SpecError, StudyExists
from tunebook.records import (
    StudyRecord,
    TrialRecord,
    TrialStatus,
    config_key,
    distinct_configs,
    trial_seed,
)
from tunebook.runner.local import RunResult
from tunebook.space import Params
from tunebook.spec import StudySpec, study_spec
from tunebook.store import Store
from tunebook.workflows._run import RunOptions, run

#: Mixed into the parent's sampler seed so re-runs never repeat a parent trial's seed.
RERUN_SALT = 0x5EED
#: Configurations re-run by default when a study has no scientific values: re-running only
#: the best one could confirm it but never change the pick. On the noisy workloads of
#: ``benchmarks.generalise`` the best mean of the top 3 over 3 seeds cut held-out regret at
#: 40 trials from 0.228 to 0.206 (bayes) and 0.246 to 0.212 (TPE), more than any sampler
#: change measured there (docs/samplers.md).
TOP_WITHOUT_VALUES = 3


def default_top(spec: StudySpec) -> int:
    """Configurations per scientific value re-run when ``--top`` is not given: the best one
    of each value when values are compared (its mean over seeds is the value's result), the
    best three when there is no scientific question (the re-runs then choose among them)."""
    return 1 if spec.space.scientific else TOP_WITHOUT_VALUES


@dataclass(frozen=True)
class Rerun:
    """The child study, its spec (to run it), and the configurations it re-runs."""

    study: StudyRecord
    spec: StudySpec
    configs: list[Params]
    seeds: int
    added: int = 0


def best_configs(store: Store, spec: StudySpec, studies: Sequence[StudyRecord | str],
                 top: int) -> list[Params]:
    """The ``top`` best distinct completed configurations of each of ``spec``'s scientific
    values, over the trials of ``studies`` (and their sub-studies)."""
    done = [t for study in studies for t in store.trials(store.tree(study).ids,
                                                         TrialStatus.COMPLETED)
            if t.value is not None and math.isfinite(t.value)]
    sign = spec.objective.sign()
    chosen: list[Params] = []
    for combo in spec.space.combos() or [{}]:
        mine = sorted((t for t in done if all(t.params.get(k) == v for k, v in combo.items())),
                      key=lambda t: sign * float(t.value or 0.0))
        chosen += [dict(t.params) for t in distinct_configs(mine)[:top]]
    return chosen


def seed_trials(parent: StudySpec, configs: Sequence[Params], seeds: int,
                held: Sequence[TrialRecord] = ()) -> list[tuple[int, Params, int]]:
    """The re-run trials ``(index, configuration, seed)``: each configuration ``seeds``
    times, with seeds drawn from the parent's sampler seed and a salt, so no re-run repeats
    a parent trial's seed. ``held`` (a child's existing trials) keep their index and seed;
    the seeds a configuration still needs are numbered after them, so extending a child
    changes none of the trials it ran."""
    salt = parent.model.sampler.seed + RERUN_SALT
    out = [(t.index, dict(t.params), t.seed) for t in held]
    have = Counter(config_key(t.params) for t in held)
    index = max((t.index for t in held), default=-1) + 1
    for config in configs:
        for _ in range(seeds - have[config_key(config)]):
            out.append((index, dict(config), trial_seed(salt, index)))
            index += 1
    return out


def rerun_study(store: Store, name: str, *, top: int | None = None, seeds: int = 3,
                child: str | None = None) -> Rerun:
    """Create, find or extend the child study re-running ``name``'s best configurations
    (``top`` per scientific value; None: :func:`default_top`), ``seeds`` times each.

    A child that exists already is extended with the seeds its configurations lack; it
    only ever holds re-runs of the chosen configurations.

    Raises:
        SpecError: bad ``top``/``seeds``, no completed trial to re-run, or a child of that
            name that re-runs other configurations (or is no re-run of ``name``).
    """
    if (top is not None and top < 1) or seeds < 2:
        raise SpecError("re-runs need --top ≥ 1 and --seeds ≥ 2 (one seed has no spread)",
                        field="rerun")
    parent = store.get_study(name)
    parent_spec = study_spec(parent)
    top = default_top(parent_spec) if top is None else top
    configs = best_configs(store, parent_spec, [parent], top)
    if not configs:
        raise SpecError(f"study {name!r} has no completed trial to re-run; run it (or fix "
                        "its failures) first", field="rerun")
    child = child or f"{name}-seeds"
    held = _held_reruns(store, parent, child, configs)
    trials = seed_trials(parent_spec, configs, seeds, held)
    record, spec = create_child(store, parent, trials, Derivation(
        name=child, description=f"seeds of the best {top} configuration(s) per scientific "
                                f"value of {name}"))
    per_config = Counter(config_key(p) for _, p, _ in trials)
    return Rerun(record, spec, configs, min(per_config.values()), len(trials) - len(held))


def _held_reruns(store: Store, parent: StudyRecord, child: str,
                 configs: Sequence[Params]) -> list[TrialRecord]:
    """The trials child study ``child`` already holds, if it re-runs exactly ``configs``
    of ``parent`` (it is then extended); none when it does not exist yet.

    Raises:
        SpecError: ``child`` exists and holds anything else.
    """
    found = store.find_study(child)
    if found is None:
        return []
    held = store.trials(store.tree(found).ids)
    had = {config_key(t.params) for t in held}
    wanted = {config_key(c) for c in configs}
    if found.parent_id != parent.id or had != wanted:
        what = (f"is not a re-run of {parent.name}" if found.parent_id != parent.id else
                f"re-runs {len(had)} configuration(s) of {parent.name}, and these options "
                f"choose {len(wanted)} (or others)")
        raise SpecError(f"study {child!r} {what}: a seeds study only ever holds re-runs of "
                        "the configurations it was made for. Pass --name NEW-NAME for a new "
                        "child study, or the --top it was made with to add seeds to it",
                        field="--name")
    return held


def create_child(store: Store, parent: StudyRecord, trials: list[tuple[int, Params, int]],
                 change: Derivation) -> tuple[StudyRecord, StudySpec]:
    """The next-round child study of ``parent`` holding exactly ``trials``, queued.

    Its spec is the parent's derived by ``change`` (which names it), as a joint study of
    ``len(trials)`` trials: the trials are given, not sampled; the trainer is resolved
    from the parent's folder. Made before (same name): found and, when ``trials`` holds
    more, extended with the rest (its budget grows with them, so running it never samples
    a trial of its own); running it again finishes what is left.

    Raises:
        SpecError: a study of that name exists that is no child of ``parent``, or holds
            other trials at the places ``trials`` names.
    """
    spec = study_spec(parent).derive(replace(change, mode="joint", budget=len(trials)))
    name = spec.name
    try:
        record = store.create_study(name, spec.snapshot(), spec.identity_hash(),
                                    round=parent.round + 1, parent_id=parent.id,
                                    budget=len(trials))
    except StudyExists:
        record = store.get_study(name)
        _check_extends(store, record, parent, trials)
        if len(trials) > (record.budget or 0):
            store.update_study(record.id, spec=spec.snapshot(), budget=len(trials))
            record = store.get_study(name)
    store.enqueue(record.id, trials)
    return record, study_spec(record)


def _check_extends(store: Store, child: StudyRecord, parent: StudyRecord,
                   trials: Sequence[tuple[int, Params, int]]) -> None:
    """``child`` is ``parent``'s, and every trial it holds is one of ``trials``."""
    given = {i: (config_key(p), s) for i, p, s in trials}
    foreign = [t for t in store.trials(store.tree(child).ids)
               if given.get(t.index) != (config_key(t.params), t.seed)]
    if child.parent_id != parent.id or foreign:
        raise SpecError(f"study {child.name!r} exists and is not this re-run of "
                        f"{parent.name} (it holds other trials); give the new child study "
                        "another name", field="--name")


@dataclass(frozen=True)
class RerunResult:
    """What ``rerun`` did: the child study, its run, and its report (the comparison of
    means over seeds against the spread over seeds)."""

    made: Rerun
    run: RunResult
    report: StudyReport | None


def rerun(store: Store, name: str, *, top: int | None = None, seeds: int = 3,
          child: str | None = None,
          options: RunOptions | None = None) -> RerunResult:
    """Create (or find) the seed re-run of ``name`` and run it to the end."""
    made = rerun_study(store, name, top=top, seeds=seeds, child=child)
    done = run(made.spec, store, options or RunOptions())
    report = study_report(store, made.study.name) if done.stopped_by is None else None
    return RerunResult(made, done, report)
