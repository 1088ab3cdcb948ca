"""Create or resume a study in the store and queue its trials.

A study is identified by its name. Running a study file whose name exists resumes that
study, provided everything but the budget and description is unchanged; a changed spec
is refused with the list of changed fields, because mixing trials of two different
search spaces in one study would make every later analysis wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tunebook.errors import SpecError
from tunebook.samplers import GridSampler, make_sampler
from tunebook.space import Params
from tunebook.spec import StudySpec, changed_fields
from tunebook.store import Store, StudyRecord


@dataclass(frozen=True)
class PreparedStudy:
    """The study record, the leaf studies that hold trials, and how many were queued."""

    study: StudyRecord
    leaves: list[StudyRecord]
    enqueued: int
    resumed: bool


def trial_seed(study_seed: int, index: int) -> int:
    """A trial's seed: a pure function of the study seed and the trial index."""
    return int(np.random.SeedSequence([study_seed, index]).generate_state(1)[0] & 0x7FFFFFFF)


def combo_label(combo: Params) -> str:
    return ",".join(f"{k}={v}" for k, v in combo.items())


def prepare_study(store: Store, spec: StudySpec) -> PreparedStudy:
    """Create the study (and per-value sub-studies) or resume it, then fill the queue."""
    snapshot = spec.snapshot()
    existing = store.find_study(spec.name)
    if existing is None:
        study = store.create_study(spec.name, snapshot, spec.identity_hash())
        leaves = _create_leaves(store, spec, study, snapshot)
        resumed = False
    else:
        _check_same(existing, spec)
        if existing.spec != snapshot:
            store.update_study_spec(existing.id, snapshot)
        study, resumed = existing, True
        leaves = store.children(existing.id) or [existing]
    enqueued = sum(_fill(store, spec, leaf, share)
                   for leaf, share in zip(leaves, _shares(spec, len(leaves)), strict=True))
    return PreparedStudy(study, leaves, enqueued, resumed)


def _check_same(existing: StudyRecord, spec: StudySpec) -> None:
    if existing.identity == spec.identity_hash():
        return
    changed = changed_fields(existing.spec, spec.snapshot()) or ["(the spec)"]
    raise SpecError(
        f"study {spec.name!r} already exists with a different spec (changed: "
        f"{', '.join(changed[:8])}). To start a new study, give it a new name (e.g. "
        f"name: {spec.name}-v2); to resume the old one, restore those fields. Only budget "
        "and description may change between runs",
        path=str(spec.path) if spec.path else None, field="name")


def _create_leaves(store: Store, spec: StudySpec, study: StudyRecord,
                   snapshot: dict[str, object]) -> list[StudyRecord]:
    if spec.model.mode != "per_value":
        return [study]
    return [store.create_study(f"{spec.name}[{combo_label(combo)}]", snapshot,
                               spec.identity_hash(), parent_id=study.id, combo=combo)
            for combo in spec.space.combos()]


def _shares(spec: StudySpec, leaves: int) -> list[int]:
    """Split the trial budget evenly over the leaf studies (per_value mode)."""
    total = spec.model.budget.trials
    return [total // leaves + (1 if i < total % leaves else 0) for i in range(leaves)]


def _fill(store: Store, spec: StudySpec, leaf: StudyRecord, target: int) -> int:
    combos: Sequence[Params] = [leaf.combo] if leaf.combo is not None else spec.space.combos()
    sampler = make_sampler(spec.model.sampler)
    if isinstance(sampler, GridSampler):
        target = min(target, sampler.size(spec.space, combos))
    have = {t.index for t in store.trials([leaf.id])}
    missing = [i for i in range(target) if i not in have]
    if not missing:
        return 0
    params = sampler.suggest(spec.space, combos, missing)
    seed = spec.model.sampler.seed
    return store.enqueue(leaf.id, [(i, p, trial_seed(seed, i))
                                   for i, p in zip(missing, params, strict=True)])
