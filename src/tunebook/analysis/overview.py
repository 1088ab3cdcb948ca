"""Study-level lookups shared by the CLI and (later) the dashboard."""

from __future__ import annotations

from dataclasses import dataclass

from tunebook.errors import StudyNotFound
from tunebook.store import Store, StudyRecord, TrialRecord, TrialStatus


@dataclass(frozen=True)
class StudyOverview:
    """A top-level study with its trial counts (sub-studies summed) and best value."""

    study: StudyRecord
    counts: dict[TrialStatus, int]
    best: float | None


def leaf_ids(store: Store, study: StudyRecord) -> list[int]:
    return [leaf.id for leaf in store.children(study.id)] or [study.id]


def study_overview(store: Store) -> list[StudyOverview]:
    """Every top-level study, oldest first, with aggregate counts (one query each)."""
    out = []
    for study in store.list_studies():
        if study.parent_id is not None:
            continue
        ids = leaf_ids(store, study)
        goal = study.objective.get("goal", "minimize")
        out.append(StudyOverview(study, store.counts(ids), store.best_value(ids, goal)))
    return out


def find_trial(store: Store, address: str) -> tuple[StudyRecord, TrialRecord]:
    """Resolve ``STUDY/INDEX`` (a per-value sub-study name works as STUDY too)."""
    name, sep, index_text = address.rpartition("/")
    if not sep or not index_text.isdigit():
        raise StudyNotFound(f"{address!r} is not STUDY/INDEX; e.g. digits-activation/7")
    study = store.get_study(name)
    children = store.children(study.id)
    if children:
        names = ", ".join(c.name for c in children)
        raise StudyNotFound(f"{name!r} runs one sub-study per value; address a trial as "
                            f"SUBSTUDY/INDEX with one of: {names}")
    trial = store.get_trial(study.id, int(index_text))
    if trial is None:
        raise StudyNotFound(f"study {name!r} has no trial {index_text}")
    return study, trial
