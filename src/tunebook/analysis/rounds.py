"""Did round 1's ranking survive round 2? (playbook §3.1: short-run conclusions may not
transfer to longer training, and re-runs with new seeds may reorder a lucky ranking.)

A child study (``tunebook round2`` or ``tunebook rerun``) trains configurations of its
parent again; this compares each configuration's round-1 result with its round-2 result
(the mean over the child's trials of it), by rank across all configurations, and says
whether the best scientific value stayed best.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tunebook.analysis.data import StudyData, load_study
from tunebook.analysis.stats import spearman
from tunebook.records import TrialRecord, config_key
from tunebook.space import Params, combo_label
from tunebook.store import Store

#: Parameters a round adds to a configuration (round 2's transferred decay length).
ADDED = ("decay_steps",)


@dataclass(frozen=True)
class RoundRow:
    """One configuration in both rounds (``round2`` None: none of its re-runs completed)."""

    trial: str
    value: str
    round1: float
    round2: float | None
    rank1: int
    rank2: int | None


@dataclass(frozen=True)
class Rounds:
    """Round 1 against round 2, configuration by configuration."""

    parent: str
    child: str
    rows: list[RoundRow]
    rho: float | None
    winner1: str
    winner2: str | None
    text: str


def _key(params: Params) -> str:
    return config_key({k: v for k, v in params.items() if k not in ADDED})


def _ranks(values: Sequence[float], sign: float) -> list[int]:
    order = sorted(range(len(values)), key=lambda i: sign * values[i])
    ranks = [0] * len(values)
    for rank, i in enumerate(order, 1):
        ranks[i] = rank
    return ranks


def _winner(rows: Sequence[RoundRow], attr: str, sign: float) -> str | None:
    scored = [r for r in rows if getattr(r, attr) is not None]
    return min(scored, key=lambda r: sign * getattr(r, attr)).value if scored else None


def compare_rounds(store: Store, child: StudyData) -> Rounds | None:
    """The comparison for a child study; None for a study without a parent round."""
    record = child.study
    if not record.derived or record.parent_id is None:
        return None
    parent = load_study(store, store.tree(store.study_by_id(record.parent_id)))
    first: dict[str, TrialRecord] = {}
    for t in parent.completed():  # best first: the round-1 result of each configuration
        first.setdefault(_key(t.params), t)
    again: dict[str, list[float]] = {}
    for t in child.completed():
        again.setdefault(_key(t.params), []).append(float(t.value or 0.0))
    keys = [k for k in dict.fromkeys(_key(t.params) for t in child.trials) if k in first]
    if not keys:
        return None
    sign = child.objective.sign()
    r1 = [float(first[k].value or 0.0) for k in keys]
    r2 = [sum(again[k]) / len(again[k]) if k in again else None for k in keys]
    rank1 = _ranks(r1, sign)
    both = [i for i, v in enumerate(r2) if v is not None]
    rank2_of = dict(zip(both, _ranks([r2[i] or 0.0 for i in both], sign), strict=True))
    combos = parent.spec.space.scientific
    rows = [RoundRow(parent.label(first[k]),
                     combo_label({d.name: first[k].params[d.name] for d in combos
                                 if d.name in first[k].params}),
                     r1[i], r2[i], rank1[i], rank2_of.get(i)) for i, k in enumerate(keys)]
    rho = (spearman([r1[i] for i in both], [r2[i] or 0.0 for i in both])
           if len(both) >= 3 and len({r1[i] for i in both}) > 1
           and len({r2[i] for i in both}) > 1 else None)
    w1, w2 = _winner(rows, "round1", sign) or "", _winner(rows, "round2", sign)
    return Rounds(parent.study.name, record.name, rows, rho, w1, w2,
                  _verdict(rows, rho, w1, w2, parent.study.name))


def _verdict(rows: Sequence[RoundRow], rho: float | None, w1: str, w2: str | None,
             parent: str) -> str:
    n = sum(r.round2 is not None for r in rows)
    if w2 is None:
        return f"No configuration of {parent} completed again yet: nothing to compare."
    order = ("the ranking could not be measured (fewer than 3 configurations completed)"
             if rho is None else f"Spearman ρ = {rho:.2f} between the rounds' rankings "
             f"over {n} configurations" + (" (the ranking held)" if rho >= 0.7 else
                                          " (the ranking changed: short-run conclusions "
                                          "did not all transfer)"))
    if w1 == w2:
        return f"The best configuration's value, {w1}, stayed best; {order}."
    return (f"The winner changed: {w1} was best in {parent}, {w2} is best now; {order}. "
            "Trust the longer (or re-run) round, and say so before a launch.")
