"""The conclusion a study's evidence supports, or why it does not support one yet."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from tunebook.analysis.checklist import Finding, Verdict
from tunebook.analysis.data import StudyData
from tunebook.analysis.isolation import ValueBest
from tunebook.analysis.isolation import ranked as ranked_values
from tunebook.records import distinct_configs


@dataclass(frozen=True)
class Conclusion:
    supported: bool
    text: str


def conclude(data: StudyData, rows: Sequence[ValueBest], findings: Sequence[Finding],
             ) -> Conclusion:
    """Compare the scientific values' best results against their noise.

    With seed re-runs of the best configurations, values are compared by their mean over
    seeds and the noise is the spread over seeds (or the top trials' spread where that is
    larger: the tuning itself is then coarser than the seed noise); without re-runs, by
    their best trial and the spread of the top trials. A gap within the noise is no
    conclusion; a failed checklist item blocks any conclusion.
    """
    ranked = ranked_values(rows, data.minimize)
    if not ranked and not any(t.status.finished for t in data.trials):
        return Conclusion(False, "No conclusion yet: no trial has finished.")
    if not ranked:
        return Conclusion(False, "No conclusion: no trial completed. Look at the failures "
                                 "and infeasible trials first.")
    failed = [f.question for f in findings if f.verdict is Verdict.FAIL]
    winner = ranked[0]
    best_text = _best_text(data, winner)
    if len(ranked) == 1:
        configs = len(distinct_configs(data.completed()))
        if not winner.combo and winner.spread_source == "seeds" and configs > 1:
            # re-runs without a scientific question: they chose among configurations
            return Conclusion(not failed, f"Best {best_text}: the best mean over seeds of "
                              f"the {configs} configurations re-run.")
        return Conclusion(not failed, f"Best {best_text}" + (f" with {winner.label}"
                          if winner.combo else "") + ". There is no second value to "
                          "compare with.")
    runner = ranked[1]
    gap = margin(winner.center or 0.0, runner.center or 0.0)
    noise, ruler = value_noise(winner, runner)
    if failed:
        return Conclusion(False, f"Not yet: {winner.label} leads with {best_text}, but the "
                          f"checklist fails on: {'; '.join(failed)}.")
    if gap <= noise:
        step = ("More seeds narrow the spread of the means; or the values do not differ."
                if "seeds" in (winner.spread_source, runner.spread_source) else
                f"Re-run the best configurations with several seeds (tunebook rerun "
                f"{data.study.name} --seeds 5), or sample more.")
        if gap == 0.0:
            return Conclusion(False, f"Not yet: {winner.label} and {runner.label} tie at "
                              f"{best_text}. {step}")
        return Conclusion(False, f"Not yet: {winner.label} leads with {best_text}, but its "
                          f"margin over {runner.label} ({gap:.3g}) is within {ruler} "
                          f"({noise:.3g}). {step}")
    warned = [f.question for f in findings if f.verdict is Verdict.WARN]
    caveat = f" Caveats: {'; '.join(warned)}" if warned else ""
    return Conclusion(True, f"{winner.label} is best: {best_text}, ahead of {runner.label} by "
                      f"{gap:.3g}, more than {ruler} ({noise:.3g}).{caveat}")


def margin(a: float, b: float) -> float:
    """|a − b|, and 0 for a tie: metrics computed in float32 (as most training loops
    report them) carry about 7 significant digits, so two means of the same error rate
    differ in the 8th ("a margin of 2.33e-10" on 0.0111 read as a real one)."""
    return 0.0 if math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-15) else abs(a - b)


def _best_text(data: StudyData, row: ValueBest) -> str:
    trial = f"trial {data.label(row.best)}" if row.best is not None else "no trial"
    if row.spread_source == "seeds":
        return (f"{data.metric} = {row.center:.4g} (mean of {len(row.seed_values)} seeds of "
                f"{trial})")
    return f"{data.metric} = {row.center:.4g} ({trial})"


def value_noise(*rows: ValueBest) -> tuple[float, str]:
    """The larger spread of two values' results, and what it was measured over."""
    top = max((r.top_spread or 0.0) for r in rows)
    if not any(r.spread_source == "seeds" for r in rows):
        return top, "the spread of the top trials"
    seeds = max((r.spread or 0.0) for r in rows if r.spread_source == "seeds")
    if seeds >= top:
        return seeds, "the spread over seeds of the best configurations"
    return top, (f"the spread of the top trials (larger than the spread over seeds, "
                 f"{seeds:.3g})")
