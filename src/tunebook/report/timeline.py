"""An autopilot's timeline as people read it: one row per decision, in the terminal
(``tunebook autopilot status``), in the HTML report and on the dashboard.

Each row says the phase, what was decided, why, the statistic behind it, the budget spent
and left when it was made, and whether it was made, proposed, approved or rejected. The
changes held back for want of evidence are listed under the decision they belong to.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.markup import escape
from rich.table import Table

from tunebook.records import DecisionRecord, Phase
from tunebook.report.text import esc, fmt

#: Evidence drawn in a form of its own below (not as ``name=value``).
_DRAWN = {"held", "changes", "plan"}


def statistic(stats: Mapping[str, Any]) -> str:
    """The numbers behind a decision (its evidence), as ``name=value`` pairs."""
    parts = [f"{k}={fmt(v) if isinstance(v, float) else v}" for k, v in stats.items()
             if k not in _DRAWN and isinstance(v, (int, float, str)) and v is not None]
    for change in stats.get("changes") or []:
        numbers = [f"{k}={fmt(v)}" for k, v in change.items()
                   if isinstance(v, float) and k != "to"]
        if numbers and numbers[0].startswith(f"{change['what']}=") and len(numbers) == 1:
            parts.append(numbers[0])
        elif numbers:
            parts.append(f"{change['what']}: " + ", ".join(numbers))
    plan = stats.get("plan")
    if isinstance(plan, Mapping):
        parts.append("plan: " + ", ".join(f"{k} {fmt(plan[k])}" for k in
                                         ("explore", "first_round", "settle", "round2")
                                         if plan.get(k)))
    return "; ".join(parts)


def held(decision: DecisionRecord) -> list[str]:
    """The changes held back at this decision, each with why."""
    return [f"held: {h['what']}: {h['why']}" for h in decision.stats.get("held") or []]


def rows(timeline: Sequence[DecisionRecord]) -> list[dict[str, Any]]:
    """The timeline as plain rows (for CSV/JSON, and the tables below)."""
    return [{"seq": d.seq, "phase": d.phase, "action": d.action, "state": d.state.value,
             "decision": d.summary, "why": d.why, "statistic": statistic(d.evidence),
             "held": held(d), "study": d.study or "", "spent": d.spent,
             "left": d.left if d.budget >= 0 else None,
             "note": d.note} for d in timeline]


def _state(d: Mapping[str, Any]) -> str:
    if d["state"] == "made":
        return ""
    return f" [{d['state']}" + (f": {d['note']}" if d["note"] else "") + "]"


def _cost(d: Mapping[str, Any]) -> str:
    left = "?" if d["left"] is None else f"{d['left']:g}"  # a time not yet in trainings
    return f"{d['spent']:g} / {left}"


def console_table(timeline: Sequence[DecisionRecord], title: str = "") -> Table:
    """The timeline as a rich table."""
    table = Table(title=title or None, show_lines=True)
    for name in ("#", "phase", "decision", "why", "statistic", "spent / left"):
        table.add_column(name, overflow="fold")
    for d in rows(timeline):
        why = "\n".join([d["why"], *d["held"]])
        table.add_row(str(d["seq"]), d["phase"], escape(d["decision"] + _state(d)),
                      escape(why), escape(d["statistic"]),
                      _cost(d))
    return table


def html_section(timeline: Sequence[DecisionRecord], anchor: str = "autopilot") -> str:
    """The timeline as an HTML section (every string escaped)."""
    body = "".join(
        f"<tr><td>{d['seq']}</td><td>{esc(d['phase'])}</td><td>{esc(d['decision'])}"
        f"{esc(_state(d))}</td><td>{esc(d['why'])}"
        + "".join(f'<br><span class="muted">{esc(h)}</span>' for h in d["held"])
        + f"</td><td>{esc(d['statistic'])}</td><td>{esc(_cost(d))}</td></tr>"
        for d in rows(timeline))
    name = timeline[0].pilot if timeline else ""
    return (f'<section id="{esc(anchor)}"><h2>Autopilot {esc(name)}: timeline</h2>'
            "<table><thead><tr><th>#</th><th>phase</th><th>decision</th><th>why</th>"
            "<th>statistic</th><th>trainings spent / left</th></tr></thead>"
            f"<tbody>{body}</tbody></table></section>")


def timeline_for(decisions: Sequence[DecisionRecord], study: str) -> list[DecisionRecord]:
    """The timeline of the autopilot that ran ``study`` (or is named so); [] if none did.

    ``decisions`` is every pilot's (``store.decisions()``)."""
    pilots = [d.pilot for d in decisions if d.pilot == study or d.study == study]
    return [d for d in decisions if pilots and d.pilot == pilots[0]]


def superseded(timeline: Sequence[DecisionRecord], study: str) -> str | None:
    """What replaces ``study``'s own conclusion when the autopilot went on from it: its
    decision, read from a later study (its seed re-runs). None when the autopilot decided
    from ``study`` itself, or has not decided."""
    decided = [d for d in timeline if d.phase is Phase.DECIDE and d.study]
    if not decided or decided[-1].study == study:
        return None
    last = decided[-1]
    return (f"Autopilot {last.pilot} went on from this study and decided from "
            f"{last.study} (#{last.seq}): {last.summary}. See its timeline above.")
