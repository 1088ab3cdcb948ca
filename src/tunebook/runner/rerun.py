"""Re-runs over seeds: the playbook's yardstick for "is the difference real?" (§2.4).

A study compares scientific values by their best trials, but a best trial is the luckiest
of many draws. ``rerun_study`` makes a child study that trains the best configuration of
each scientific value (or its top K) again with new seeds; its isolation then compares
means over seeds against the spread over seeds (see docs/checklist.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from tunebook.errors import SpecError, StudyExists
from tunebook.records import StudyRecord, TrialStatus, distinct_configs, trial_seed
from tunebook.space import Params
from tunebook.spec import LOCATION_FIELDS, StudySpec, spec_from_dict, study_spec
from tunebook.store import Store

#: Mixed into the parent's sampler seed so re-runs never repeat a parent trial's seed.
RERUN_SALT = 0x5EED


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


def rerun_study(store: Store, name: str, *, top: int = 1, seeds: int = 3,
                child: str | None = None) -> Rerun:
    """Create (or find) the child study re-running ``name``'s best configurations.

    Raises:
        SpecError: bad ``top``/``seeds``, or no completed trial to re-run.
    """
    if top < 1 or seeds < 2:
        raise SpecError("re-runs need --top ≥ 1 and --seeds ≥ 2 (one seed has no spread)",
                        field="rerun")
    parent = store.get_study(name)
    configs = best_configs(store, parent, top)
    if not configs:
        raise SpecError(f"study {name!r} has no completed trial to re-run; run it (or fix "
                        "its failures) first", field="rerun")
    salt = study_spec(parent).model.sampler.seed + RERUN_SALT
    trials = [(i, config, trial_seed(salt, i))
              for i, config in enumerate(c for c in configs for _ in range(seeds))]
    record, spec = create_child(store, parent, child or f"{name}-seeds", trials, {
        "mode": "joint", "description": f"{seeds} seeds of the best {top} configuration(s) "
                                        f"per scientific value of {name}"})
    return Rerun(record, spec, configs, seeds)


def create_child(store: Store, parent: StudyRecord, name: str,
                 trials: list[tuple[int, Params, int]], changes: dict[str, Any],
                 ) -> tuple[StudyRecord, StudySpec]:
    """The next-round child study of ``parent`` holding exactly ``trials``, queued.

    Its spec is the parent's with ``changes`` (a joint study: the trials are given, not
    sampled); the trainer is resolved from the parent's folder. Made before (same name):
    found, so running it again finishes what is left.
    """
    base = {k: v for k, v in parent.spec.items() if k not in LOCATION_FIELDS}
    spec = spec_from_dict({**base, "name": name, "budget": len(trials), **changes})
    origin = study_spec(parent)
    spec = StudySpec(spec.model, spec.space, path=origin.path, folder=origin.source_dir)
    try:
        record = store.create_study(name, spec.snapshot(), spec.identity_hash(),
                                    round=parent.round + 1, parent_id=parent.id,
                                    budget=len(trials))
        store.enqueue(record.id, trials)
    except StudyExists:
        record = store.get_study(name)
    return record, spec
