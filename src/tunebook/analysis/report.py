"""Everything a study report shows, as plain data (renderers live in ``tunebook.report``)."""

from __future__ import annotations

from dataclasses import dataclass

from tunebook.analysis import checklist, stability
from tunebook.analysis.axes import Axis, axes
from tunebook.analysis.curvecheck import curves_say, read_all
from tunebook.analysis.curves import TrialCurves, best_curves
from tunebook.analysis.data import StudyData, load_study
from tunebook.analysis.findings import Check, Finding, Verdict
from tunebook.analysis.gradnorm import GradNormData, grad_norms
from tunebook.analysis.importance import PENDING, Importances, importances
from tunebook.analysis.isolation import ValueBest, isolation
from tunebook.analysis.pruningcheck import pruning_safety
from tunebook.analysis.rounds import Rounds, compare_rounds
from tunebook.analysis.sampling import Noise, sampling, study_noise
from tunebook.analysis.summary import Conclusion, conclude
from tunebook.records import TrialRecord, TrialStatus
from tunebook.store import Store


@dataclass(frozen=True)
class StudyReport:
    """One study's report, section by section, in the order the report shows them."""

    data: StudyData
    counts: dict[str, int]
    conclusion: Conclusion
    findings: list[Finding]
    isolation: list[ValueBest]
    axes: list[Axis]
    curves: list[TrialCurves]
    grad_norm: GradNormData
    best_so_far: list[tuple[int, float]]
    importance: Importances
    rounds: Rounds | None = None
    noise: Noise | None = None


def study_report(store: Store, name: str, *, importance: bool = True) -> StudyReport:
    """Load a study and answer the checklist; a few queries, whatever the study's size.

    ``importance=False`` leaves the parameter importance out (:data:`PENDING` in its
    place): at 10,000 trials it is most of the time the report takes, and a page that
    must open at once computes it afterwards."""
    data = load_study(store, name)
    counts = {s.value: sum(t.status is s for t in data.trials) for s in TrialStatus}
    curves = best_curves(store, data)
    reads = read_all(data, curves)
    flagged = stability.scan(store, data)
    parent = _parent_name(store, data)
    noise = study_noise(data, [r.read for r in reads])
    findings = [checklist.search_space(data, _warm(store, data)) if parent is None else
                not_a_search(Check.SEARCH_SPACE, data, parent, "axes"),
                sampling(data, noise) if parent is None
                else not_a_search(Check.SAMPLING, data, parent, "sampling"),
                checklist.infeasible(data), stability.optimisation(data, curves, flagged),
                curves_say(data, reads), pruning_safety(store, data)]
    rows = isolation(data)
    return StudyReport(data, counts, conclude(data, rows, findings), findings, rows,
                       axes(data), curves, grad_norms(store, data, curves, flagged),
                       list(enumerate(checklist.best_so_far(data), 1)),
                       importances(data) if importance else PENDING,
                       compare_rounds(store, data), noise)


def _warm(store: Store, data: StudyData) -> list[TrialRecord]:
    """The completed trials of the studies a Bayesian study was warm-started from."""
    found = [s for name in data.spec.model.sampler.warm_sources
             if (s := store.find_study(name)) is not None]
    return [t for s in found for t in store.trials(store.tree(s).ids, TrialStatus.COMPLETED)
            if t.value is not None]


def _parent_name(store: Store, data: StudyData) -> str | None:
    """The study a re-run or round-2 study took its configurations from (else None)."""
    study = data.study
    if not study.derived or study.parent_id is None:
        return None
    return store.study_by_id(study.parent_id).name


def not_a_search(question: Check, data: StudyData, parent: str, anchor: str) -> Finding:
    """The answer for a study that re-trains chosen configurations: the question is about
    searching, and the search happened in ``parent``."""
    return Finding(question, Verdict.UNKNOWN, f"Not a search: {data.study.name} re-trains "
                   f"configurations chosen from {parent}, so this is answered by "
                   f"{parent}'s report.", "", anchor)
