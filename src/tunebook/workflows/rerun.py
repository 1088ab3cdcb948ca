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
from dataclasses import dataclass, replace

from tunebook._spec_derive import Derivation
from tunebook.analysis.report import StudyReport, study_report
from tunebook.errors import SpecError, StudyExists
from tunebook.records import StudyRecord, TrialStatus, distinct_configs, trial_seed
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


def best_configs(store: Store, parent: StudyRecord, top: int) -> list[Params]:
    """The ``top`` best distinct completed configurations of each scientific value."""
    spec = study_spec(parent)
    tree = store.tree(parent)
    done = [t for t in store.trials(tree.ids, TrialStatus.COMPLETED)
            if t.value is not None and math.isfinite(t.value)]
    sign = spec.objective.sign()
    chosen: list[Params] = []
    for combo in spec.space.combos() or [{}]:
        mine = sorted((t for t in done if all(t.params.get(k) == v for k, v in combo.items())),
                      key=lambda t: sign * float(t.value or 0.0))
        chosen += [dict(t.params) for t in distinct_configs(mine)[:top]]
    return chosen


def rerun_study(store: Store, name: str, *, top: int | None = None, seeds: int = 3,
                child: str | None = None) -> Rerun:
    """Create (or find) the child study re-running ``name``'s best configurations
    (``top`` per scientific value; None: :func:`default_top`).

    Raises:
        SpecError: bad ``top``/``seeds``, or no completed trial to re-run.
    """
    if (top is not None and top < 1) or seeds < 2:
        raise SpecError("re-runs need --top ≥ 1 and --seeds ≥ 2 (one seed has no spread)",
                        field="rerun")
    parent = store.get_study(name)
    parent_spec = study_spec(parent)
    top = default_top(parent_spec) if top is None else top
    configs = best_configs(store, parent, top)
    if not configs:
        raise SpecError(f"study {name!r} has no completed trial to re-run; run it (or fix "
                        "its failures) first", field="rerun")
    salt = parent_spec.model.sampler.seed + RERUN_SALT
    trials = [(i, config, trial_seed(salt, i))
              for i, config in enumerate(c for c in configs for _ in range(seeds))]
    record, spec = create_child(store, parent, trials, Derivation(
        name=child or f"{name}-seeds", description=f"{seeds} seeds of the best {top} "
                                                    f"configuration(s) per scientific value "
                                                    f"of {name}"))
    return Rerun(record, spec, configs, seeds)


def create_child(store: Store, parent: StudyRecord, trials: list[tuple[int, Params, int]],
                 change: Derivation) -> tuple[StudyRecord, StudySpec]:
    """The next-round child study of ``parent`` holding exactly ``trials``, queued.

    Its spec is the parent's derived by ``change`` (which names it), as a joint study of
    ``len(trials)`` trials: the trials are given, not sampled; the trainer is resolved
    from the parent's folder. Made before (same name): found, so running it again
    finishes what is left.
    """
    spec = study_spec(parent).derive(replace(change, mode="joint", budget=len(trials)))
    name = spec.name
    try:
        record = store.create_study(name, spec.snapshot(), spec.identity_hash(),
                                    round=parent.round + 1, parent_id=parent.id,
                                    budget=len(trials))
        store.enqueue(record.id, trials)
    except StudyExists:
        record = store.get_study(name)
    return record, spec


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
