"""Everything a study report shows, as plain data (renderers live in ``tunebook.report``)."""

from __future__ import annotations

from dataclasses import dataclass

from tunebook.analysis import checklist
from tunebook.analysis.axes import Axis, axes
from tunebook.analysis.checklist import Finding
from tunebook.analysis.curves import TrialCurves, best_curves
from tunebook.analysis.data import StudyData, load_study
from tunebook.analysis.gradnorm import GradNormData, grad_norms
from tunebook.analysis.isolation import ValueBest, isolation
from tunebook.analysis.summary import Conclusion, conclude
from tunebook.records import TrialStatus
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


def study_report(store: Store, name: str) -> StudyReport:
    """Load a study and answer the checklist; a few queries, whatever the study's size."""
    data = load_study(store, name)
    counts = {s.value: sum(t.status is s for t in data.trials) for s in TrialStatus}
    curves = best_curves(store, data)
    findings = [checklist.search_space(data), checklist.sampling(data),
                checklist.infeasible(data), checklist.optimisation(curves),
                checklist.curves_say(data, curves)]
    rows = isolation(data)
    return StudyReport(data, counts, conclude(data, rows, findings), findings, rows,
                       axes(data), curves, grad_norms(store, data),
                       list(enumerate(checklist.best_so_far(data), 1)))
