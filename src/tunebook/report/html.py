"""One self-contained, offline HTML file per report (plotly.js inlined once, no network).

Every user-provided string (study names, descriptions, parameter values, reasons) is
escaped; figure data goes in as JSON with ``<`` escaped, so nothing in a study can close
a script tag.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tunebook.analysis.report import StudyReport, study_report
from tunebook.analysis.tracking import TrackingRow, tracking_rows
from tunebook.records import DecisionRecord
from tunebook.report import figures as plot
from tunebook.report.figures import figure_div
from tunebook.report.text import esc, fmt, seed_mean, seeded
from tunebook.report.timeline import html_section, superseded, timeline_for
from tunebook.store import Store

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1f2328}
main{max-width:1100px;margin:auto;padding:24px}
h1{font-size:1.6em}h2{border-bottom:1px solid #d0d7de;padding-bottom:4px;margin-top:2em}
table{border-collapse:collapse;margin:8px 0;font-size:.92em}
td,th{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top;
unicode-bidi:isolate}
.verdict{font-weight:bold;font-size:1.2em;width:2em;text-align:center}
.ok{color:#1a7f37}.warn{color:#9a6700}.fail{color:#cf222e}.unknown{color:#57606a}
.conclusion{padding:10px 14px;border-left:4px solid #0969da;background:#f6f8fa}
.muted{color:#57606a;font-size:.9em}code{background:#f6f8fa;padding:1px 4px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(480px,1fr));gap:8px}
p,li,pre{overflow-wrap:break-word}pre{white-space:pre-wrap}
"""


#: Draws every ``data-figure`` container on a page (figures carry their plotly JSON in that
#: attribute, see :func:`tunebook.report.figures.figure_div`; no inline script per figure,
#: so the dashboard can swap sections in place).
RENDER_JS = """
function tunebookDraw(root){
  (root||document).querySelectorAll('[data-figure]').forEach(function(div){
    var f=JSON.parse(div.getAttribute('data-figure'));
    div.removeAttribute('data-figure');
    Plotly.newPlot(div,f.data,f.layout,{displaylogo:false,responsive:true});
  });
}
"""


def table(head: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = "".join(f"<th>{esc(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>"


def _summary(r: StudyReport, anchor: str, instead: str | None = None) -> str:
    spec = r.data.spec.model
    counts = ", ".join(f"{n} {s}" for s, n in r.counts.items() if n) or "no trials"
    with_means = seeded(r.isolation)
    rows = [(row.label, row.trials, row.completed, row.infeasible, row.failed,
             fmt(row.best.value if row.best else None),
             *([seed_mean(row)] if with_means else []),
             r.data.label(row.best) if row.best else "-",
             f"{fmt(row.spread)} ({row.spread_source})") for row in r.isolation]
    return (f'<section id="{anchor}-summary"><h2>Summary</h2>'
            f"<p><b>Goal:</b> <bdi>{esc(spec.description or '(no description)')}</bdi>"
            + (f" <b>Experiment:</b> <bdi>{esc(spec.experiment)}</bdi>" if spec.experiment
               else "")
            + "</p>"
            f"<p><b>Objective:</b> {esc(spec.objective.goal)} <code>{esc(r.data.metric)}</code> "
            f"({esc(spec.objective.select)} evaluation of each trial). <b>Trials:</b> "
            f"{esc(counts)}.</p>"
            + table(["scientific value", "trials", "completed", "infeasible", "failed",
                      f"best {r.data.metric}",
                      *([f"mean {r.data.metric} over seeds"] if with_means else []),
                      "best trial", "spread (over)"], rows)
            + _conclusion(r, instead) + "</section>")


def _conclusion(r: StudyReport, instead: str | None) -> str:
    """The study's conclusion; where an autopilot went on from the study (``instead``:
    its decision), that decision, with this study's own conclusion folded away: it
    advises steps the autopilot has taken."""
    if instead is None:
        return f'<p class="conclusion">{esc(r.conclusion.text)}</p>'
    return (f'<p class="conclusion">{esc(instead)}</p><details><summary>this study alone, '
            f"before the autopilot's later steps</summary><p>{esc(r.conclusion.text)}</p>"
            "</details>")


def _checklist(r: StudyReport, anchor: str) -> str:
    items = []
    for f in r.findings:
        extra = figure_div(plot.best_so_far(r.best_so_far, r.data.metric)) if (
            f.evidence == "sampling" and r.best_so_far) else (
            f'<a href="#{anchor}-{esc(f.evidence)}">evidence: {esc(f.evidence)}</a>'
            if f.evidence else "")
        step = f"<p><b>Next step:</b> {esc(f.next_step)}</p>" if f.next_step else ""
        numbers = ("<details><summary>the numbers behind this verdict</summary>"
                   + table(["statistic", "value"], [(k, fmt(v)) for k, v in f.numbers.items()])
                   + "</details>") if f.numbers else ""
        items.append(f'<tr><td class="verdict {f.verdict.value}">{f.verdict.mark}</td>'
                     f"<td><b>{esc(f.question)}</b><p>{esc(f.summary)}</p>{step}{numbers}{extra}"
                     "</td></tr>")
    return (f'<section id="{anchor}-checklist"><h2>Checklist</h2><table><tbody>'
            + "".join(items) + "</tbody></table></section>")


def _importance(r: StudyReport, anchor: str) -> str:
    imp = r.importance
    if not imp.rows:
        return (f'<section id="{anchor}-importance"><h2>Parameter importance</h2>'
                f"<p>{esc(imp.note)}</p></section>")
    weak = [row.key for row in imp.rows if row.low <= 0.0]
    text = ("Parameters whose range reaches zero cannot be told apart from no effect: "
            + ", ".join(weak) + ".") if weak else ""
    return (f'<section id="{anchor}-importance"><h2>Parameter importance</h2>'
            f"<p>{esc(text)}</p>{figure_div(plot.importance(imp.rows, r.data.metric))}</section>")


def _rounds(r: StudyReport, anchor: str) -> str:
    """Round 1 against this round, configuration by configuration (children only)."""
    if r.rounds is None:
        return ""
    rows = [(row.trial, row.value, fmt(row.round1), row.rank1, fmt(row.round2),
             "—" if row.rank2 is None else row.rank2) for row in r.rounds.rows]
    head = ["round-1 trial", "scientific value", f"round 1 {r.data.metric}", "rank",
            f"{r.rounds.child} {r.data.metric}", "rank"]
    return (f'<section id="{anchor}-rounds"><h2>{esc(r.rounds.parent)} → '
            f"{esc(r.rounds.child)}</h2><p>{esc(r.rounds.text)}</p>{table(head, rows)}"
            "</section>")


def _worst(r: StudyReport) -> float | None:
    values = [float(t.value) for t in r.data.completed() if t.value is not None]
    if not values:
        return None
    return max(values) if r.data.minimize else min(values)


def study_sections(r: StudyReport, index: int = 0, *, title: bool = True,
                   instead: str | None = None) -> str:
    """One study's sections (summary to gradient norm) as HTML, under the study's name
    unless the page titles it already; figures are drawn by :data:`RENDER_JS`, so the
    caller's page must load plotly.js and call it. ``instead``: the conclusion that
    replaces the study's own (see :func:`~tunebook.report.timeline.superseded`)."""
    anchor = f"s{index}"
    parts = [f'<h1 id="{anchor}">{esc(r.data.study.name)}</h1>' if title else "",
             _summary(r, anchor, instead), _checklist(r, anchor)]
    iso = (figure_div(plot.isolation(r.isolation, r.data.metric))
           if any(row.best for row in r.isolation) else "<p>No completed trial to compare.</p>")
    parts.append(f'<section id="{anchor}-isolation"><h2>Isolation plot</h2>{iso}</section>')
    parts.append(_rounds(r, anchor))
    worst = _worst(r)
    axes = "".join(figure_div(plot.axis(a, r.data.metric, worst)) for a in r.axes if a.points)
    parts.append(_importance(r, anchor))
    parts.append(f'<section id="{anchor}-axes"><h2>Axis plots</h2><div class="grid">'
                 f"{axes or '<p>No finished trials.</p>'}</div></section>")
    curves = (figure_div(plot.curves(r.curves, r.data.metric)) if r.curves
              else "<p>No curves: no completed trial reported metrics.</p>")
    parts.append(f'<section id="{anchor}-curves"><h2>Training curves</h2>{curves}</section>')
    g = r.grad_norm
    gplot = figure_div(plot.grad_norm(g)) if g.curves else ""
    warning = f'<p class="fail">{esc(g.warning)}</p>' if g.warning else ""
    share = "" if g.clipped_share is None else f" Clipped steps: {g.clipped_share:.0%}."
    parts.append(f'<section id="{anchor}-gradnorm"><h2>Gradient norm</h2><p>{esc(g.advice)}'
                 f"{esc(share)}</p>{warning}{gplot}</section>")
    return "\n".join(parts)


def _tracking(rows: Sequence[TrackingRow]) -> str:
    body = [(r.experiment or "-", r.name, r.description, r.trials, fmt(r.best),
             f"{r.goal} {r.metric}", r.command) for r in rows]
    configs = "".join(f"<details><summary>config of {esc(r.name)}</summary><pre>"
                      f"{esc(json.dumps(json.loads(r.config), indent=2))}</pre></details>"
                      for r in rows)
    return ('<section id="tracking"><h2>Tracking table</h2>'
            + table(["experiment", "study", "description", "trials", "best", "objective",
                      "reproduce with"], body) + configs + "</section>")


def render_html(reports: Sequence[StudyReport], tracking: Sequence[TrackingRow],
                timelines: Sequence[Sequence[DecisionRecord]] = ()) -> str:
    """The whole report as one HTML document (plotly.js inlined, works offline); an
    autopilot's timeline, when a study has one, comes first."""
    pilots = "\n".join(html_section(t, f"autopilot-{i}") for i, t in enumerate(timelines))
    studies = "\n".join(study_sections(r, i, instead=_instead(timelines, r.data.study.name))
                        for i, r in enumerate(reports))
    title = "tunebook report: " + ", ".join(r.data.study.name for r in reports)
    return page(title, pilots + studies + _tracking(tracking))


def _instead(timelines: Sequence[Sequence[DecisionRecord]], study: str) -> str | None:
    """The decision of the autopilot that went on from ``study``, if one did."""
    ran = [t for t in timelines if any(d.study == study for d in t)]
    return superseded(ran[0], study) if ran else None


def page(title: str, body: str) -> str:
    """The page shell every tunebook HTML file shares: style, plotly.js inlined once (works
    offline), a line saying what and when, ``body``, and the script that draws figures."""
    from plotly.offline import get_plotlyjs

    when = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f"<title>{esc(title)}</title><style>{CSS}</style>"
            f"<script>{get_plotlyjs()}</script></head><body><main>"
            f'<p class="muted">{esc(title)} · written {when} by tunebook</p>{body}'
            f"</main><script>{RENDER_JS}tunebookDraw();</script></body></html>")


def write_report(store: Store, names: Sequence[str], path: str | Path,
                 png_dir: str | Path | None = None) -> Path:
    """Analyse ``names`` and write the HTML report (and PNGs when ``png_dir`` is given)."""
    reports = [study_report(store, name) for name in names]
    every = store.decisions()
    timelines = list({t[0].pilot: t for t in (timeline_for(every, name) for name in names)
                      if t}.values())
    out = Path(path)
    out.write_text(render_html(reports, tracking_rows(store, list(names)), timelines),
                   encoding="utf-8")
    if png_dir is not None:
        from tunebook.report.png import write_pngs

        write_pngs(reports, Path(png_dir))
    return out
