"""The dashboard's HTML: server-rendered pages that app.js keeps live.

Every user string goes through :func:`tunebook.report.html.esc`; figures are containers
with their JSON in an escaped attribute, drawn by the report's own ``RENDER_JS``. No inline
script carries data, and every script and style is served from the package.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from tunebook.report import figures as plot
from tunebook.report.figures import figure_div
from tunebook.report.html import table
from tunebook.report.text import esc, fmt

EXTRA_CSS = """
nav{background:#24292f;padding:10px 24px}nav a{color:#fff;margin-right:18px;text-decoration:none}
.controls{display:flex;gap:8px;align-items:center;margin:8px 0}
th[data-sort]{cursor:pointer}th[data-sort]:hover{background:#f6f8fa}
.live{color:#1a7f37;font-size:.85em}pre{background:#f6f8fa;padding:8px;overflow:auto}
.error{padding:16px;border-left:4px solid #cf222e;background:#fff5f5}
.cell{max-height:6em;max-width:40em;overflow:auto;overflow-wrap:break-word}
td,th,h1,h2,p,li{unicode-bidi:isolate}
"""


def _when(t: float | None) -> str:
    return dt.datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M:%S") if t else "-"


def layout(title: str, body: str, page: str, **data: str) -> str:
    """A whole page: the nav, ``body`` in a ``main`` whose data attributes tell app.js
    which page it drives."""
    attrs = "".join(f' data-{k}="{esc(v)}"' for k, v in data.items())
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f"<title>{esc(title)} · tunebook</title>"
            '<link rel="icon" href="data:,"><link rel="stylesheet" href="/static/app.css">'
            '<script src="/static/plotly.js"></script><script src="/static/app.js" defer>'
            '</script></head><body><nav><a href="/">tunebook · studies</a>'
            '<a href="/compare">compare trials</a></nav>'
            f'<main data-page="{esc(page)}"{attrs}>{body}</main></body></html>')


def studies_page(rows: Sequence[dict[str, Any]]) -> str:
    head = ["study", "description", "experiment", "trials by status", "best", "progress",
            "last update"]
    body = "".join(_study_row(r) for r in rows)
    return layout("studies", '<h1>Studies</h1><p class="live">live: refreshes every 2 s</p>'
                  f'<table id="studies"><thead><tr>{"".join(f"<th>{h}</th>" for h in head)}'
                  f"</tr></thead><tbody>{body}</tbody></table>"
                  + ("" if rows else "<p>No study in this store yet.</p>"), "studies")


def _study_row(r: dict[str, Any]) -> str:
    counts = ", ".join(f"{n} {s}" for s, n in r["counts"].items() if n) or "no trials"
    link = f'<a href="/study?name={quote(r["name"])}">{esc(r["name"])}</a>'
    cells = [link, esc(r["description"]), esc(r["experiment"] or "-"), esc(counts),
             esc(fmt(r["best"])), esc(f'{r["finished"]}/{r["budget"]}'),
             esc(_when(r["last_update"]))]
    return "<tr>" + "".join(f'<td><div class="cell">{c}</div></td>' for c in cells) + "</tr>"


def study_page(name: str, version: str, sections: str) -> str:
    trials = ('<section id="trials"><h2>Trials</h2><div class="controls">'
              '<select id="status"><option value="">every status</option>'
              + "".join(f'<option value="{s}">{s}</option>' for s in
                        ("completed", "infeasible", "failed", "pruned", "running", "queued"))
              + '</select><input id="filter" placeholder="filter: lr=0.01 relu …" size="30">'
              '<button id="prev">◀</button><span id="page"></span><button id="next">▶</button>'
              '<a id="compare" href="/compare">compare selected</a></div>'
              '<table id="trials-table"><thead></thead><tbody></tbody></table></section>')
    return layout(name, f'<h1>{esc(name)}</h1><p class="live">live: sections and trials '
                  'refresh when a trial finishes</p>'
                  f'<div id="sections" data-version="{esc(version)}">{sections}</div>{trials}',
                  "study", name=name)


def sections(report_html: str, parallel: Any | None) -> str:
    """The report's sections and the parallel-coordinates view (one swappable fragment)."""
    extra = (f'<section id="parallel"><h2>Parallel coordinates</h2>{figure_div(parallel)}'
             "</section>") if parallel is not None else ""
    return report_html + extra


def trial_page(d: dict[str, Any]) -> str:
    title = f'{d["study"]}/{d["index"]}'
    params = table(["parameter", "value"], [(k, fmt(v)) for k, v in d["params"].items()])
    facts = table(["status", d["metric"], "seed", "attempts", "worker", "GPUs", "started",
                   "finished", "code"],
                  [(d["status"], fmt(d["value"]), d["seed"], d["attempts"], d["worker"] or "-",
                    d["devices"] or "-", _when(d["started"]), _when(d["finished"]),
                    d["code"] or "-")])
    reason = f'<h2>Reason</h2><pre>{esc(d["reason"])}</pre>' if d["reason"] else ""
    warnings = ("<h2>Warnings</h2><ul>" + "".join(f"<li>{esc(w)}</li>" for w in d["warnings"])
                + "</ul>") if d["warnings"] else ""
    curves = figure_div(plot.metric_grid([(title, d["curves"])], f"Metrics of {title}"))
    checkpoints = table(["step", "value", "path"], [(c["step"], fmt(c["value"]), c["path"])
                                                     for c in d["checkpoints"]])
    if d["checkpoints_deleted"]:
        checkpoints += (f'<p class="note">{d["checkpoints_deleted"]} more were saved and deleted '
                        "by the retention policy (only these are kept on disk).</p>")
    again = "".join(f"<pre>{esc(line)}</pre>" for line in d["reproduce"])
    body = (f"<h1>{esc(title)}</h1>{facts}<h2>Parameters</h2>{params}{reason}{warnings}"
            f"<h2>Curves</h2>{curves}<h2>Checkpoints</h2>{checkpoints}"
            f"<h2>Reproduce</h2>{again}")
    return layout(title, body, "trial", study=d["study"], index=str(d["index"]),
                  status=d["status"])


def compare_page(details: Sequence[dict[str, Any]], chosen: Sequence[str]) -> str:
    form = ('<form method="get" action="/compare"><p>2 to 5 trials as STUDY/INDEX, e.g. '
            "<code>my-study/3</code>:</p>"
            + "".join(f'<input name="t" value="{esc(c)}" size="24"> ' for c in
                      [*chosen, *[""] * max(0, 5 - len(chosen))][:5])
            + '<button type="submit">compare</button></form>')
    if not details:
        return layout("compare", f"<h1>Compare trials</h1>{form}", "compare")
    runs = [(f'{d["study"]}/{d["index"]}', d["curves"]) for d in details]
    fig = figure_div(plot.metric_grid(runs, "Curves of " + ", ".join(r[0] for r in runs)))
    rows = [(f'{d["study"]}/{d["index"]}', d["status"], fmt(d["value"]),
             json.dumps(d["params"], sort_keys=True)) for d in details]
    return layout("compare", "<h1>Compare trials</h1>" + table(
        ["trial", "status", "value", "params"], rows) + fig + form, "compare")


def error_page(message: str, status: int) -> str:
    return layout("error", f'<h1>Error {status}</h1><p class="error">{esc(message)}</p>'
                  '<p><a href="/">back to the studies</a></p>', "error")
