"""The conclusion a study's evidence supports, or why it does not support one yet."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tunebook.analysis.checklist import Finding, Verdict
from tunebook.analysis.data import StudyData
from tunebook.analysis.isolation import ValueBest


@dataclass(frozen=True)
class Conclusion:
    supported: bool
    text: str


def conclude(data: StudyData, rows: Sequence[ValueBest], findings: Sequence[Finding],
             ) -> Conclusion:
    """Compare the best values per scientific value against the spread of the top trials.

    A difference smaller than the spread among the top trials of either value is within
    noise; a failed checklist item blocks any conclusion.
    """
    sign = 1.0 if data.minimize else -1.0
    ranked = sorted((r for r in rows if r.best is not None),
                    key=lambda r: sign * float(r.best.value or 0.0) if r.best else 0.0)
    if not ranked:
        return Conclusion(False, "No conclusion: no trial completed. Look at the failures "
                                 "and infeasible trials first.")
    failed = [f.question for f in findings if f.verdict is Verdict.FAIL]
    winner = ranked[0]
    assert winner.best is not None
    best_text = f"{data.metric} = {winner.best.value:.4g} (trial {data.label(winner.best)})"
    if len(ranked) == 1:
        return Conclusion(not failed, f"Best {best_text}" + (f" with {winner.label}"
                          if winner.combo else "") + ". There is no second value to "
                          "compare with.")
    runner = ranked[1]
    assert runner.best is not None
    gap = abs(float(winner.best.value or 0.0) - float(runner.best.value or 0.0))
    noise = max((r.spread or 0.0) for r in (winner, runner))
    if failed:
        return Conclusion(False, f"Not yet: {winner.label} leads with {best_text}, but the "
                          f"checklist fails on: {'; '.join(failed)}.")
    if gap <= noise:
        return Conclusion(False, f"Not yet: {winner.label} leads with {best_text}, but its "
                          f"margin over {runner.label} ({gap:.3g}) is within the spread of the "
                          f"top trials ({noise:.3g}). Re-run the best configurations with "
                          "several seeds, or sample more.")
    warned = [f.question for f in findings if f.verdict is Verdict.WARN]
    caveat = f" Caveats: {'; '.join(warned)}" if warned else ""
    return Conclusion(True, f"{winner.label} is best: {best_text}, ahead of {runner.label} by "
                      f"{gap:.3g} (top-trial spread {noise:.3g}).{caveat}")
