"""Plotly figures from analysis data (for the HTML report, the dashboard and notebooks).

Every function takes the plain data of :mod:`tunebook.analysis` and returns a
``plotly.graph_objects.Figure``; plotly is imported lazily.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tunebook.analysis.axes import Axis
from tunebook.analysis.curves import TrialCurves
from tunebook.analysis.data import Series
from tunebook.analysis.gradnorm import GradNormData
from tunebook.analysis.importance import Importance
from tunebook.analysis.isolation import ValueBest

if TYPE_CHECKING:
    import plotly.graph_objects as go



def _go() -> Any:
    import plotly.graph_objects as go

    return go


def _layout(fig: go.Figure, title: str, **kwargs: Any) -> go.Figure:
    fig.update_layout(title=title, template="plotly_white", height=kwargs.pop("height", 360),
                      margin={"l": 60, "r": 20, "t": 50, "b": 50}, **kwargs)
    return fig


def isolation(rows: Sequence[ValueBest], metric: str) -> go.Figure:
    """Best objective per scientific value (mean over seeds where the best configuration
    was re-run), with the range of its seed re-runs or else of its top-k trials."""
    go = _go()
    shown = [r for r in rows if r.best is not None and r.center is not None]
    best = [float(r.center or 0.0) for r in shown]
    low = [b - min(r.spread_values) for b, r in zip(best, shown, strict=True)]
    high = [max(r.spread_values) - b for b, r in zip(best, shown, strict=True)]
    fig = go.Figure(go.Scatter(
        x=[r.label for r in shown], y=best, mode="markers", marker={"size": 12},
        error_y={"type": "data", "symmetric": False, "array": high, "arrayminus": low},
        hovertext=[f"trial {r.best.index}" if r.best else "" for r in shown],
        name=f"best {metric}"))
    return _layout(fig, f"Isolation: best {metric} per scientific value "
                        "(bar: seeds, else top trials)",
                   xaxis_title="scientific value", yaxis_title=metric)


def axis(data: Axis, metric: str, worst: float | None) -> go.Figure:
    """Objective against one hyperparameter; infeasible trials as red crosses at the top.

    Always SVG (``Scatter``), never WebGL: WebGL needs ``eval``, which the dashboard's
    Content-Security-Policy forbids, and may be missing in a browser without a GPU. The
    points are already capped (:data:`tunebook.analysis.axes.MAX_POINTS`)."""
    go = _go()
    scatter = go.Scatter
    ok = [p for p in data.points if p.objective is not None and math.isfinite(p.objective)]
    bad = [p for p in data.points if p.objective is None]
    fig = go.Figure()
    fig.add_trace(scatter(x=[p.value for p in ok], y=[p.objective for p in ok], mode="markers",
                          name="completed", text=[p.trial for p in ok],
                          marker={"size": 6, "opacity": 0.7}))
    if bad:
        fig.add_trace(scatter(x=[p.value for p in bad], y=[worst] * len(bad), mode="markers",
                              name="infeasible / failed", text=[f"{p.trial} ({p.status})"
                                                                for p in bad],
                              marker={"symbol": "x", "color": "crimson", "size": 8}))
    if data.low is not None and data.high is not None:
        for bound in (data.low, data.high):
            # a shape on a log axis takes the value itself (unlike an axis range)
            fig.add_vline(x=bound, line_dash="dot", line_color="gray")
    fig.update_xaxes(type="log" if data.log else ("category" if data.categorical else "linear"))
    return _layout(fig, f"{metric} vs {data.key}", xaxis_title=data.key, yaxis_title=metric,
                   height=320)


def curves(items: Sequence[TrialCurves], metric: str) -> go.Figure:
    """Train loss and the objective metric against step, for the best trials."""
    from plotly.subplots import make_subplots

    go = _go()
    fig = make_subplots(rows=1, cols=2, subplot_titles=("train loss", metric))
    for n, c in enumerate(items):  # one colour per trial, the same in both panels
        color = PALETTE[n % len(PALETTE)]
        for col, name in ((1, "train_loss"), (2, metric)):
            series = c.series.get(name) or (c.series.get("loss") if col == 1 else None)
            if series:
                fig.add_trace(go.Scatter(x=[s for s, _ in series], y=[v for _, v in series],
                                         mode="lines", name=f"{c.label} ({c.combo})",
                                         legendgroup=c.label, showlegend=col == 2,
                                         line={"color": color}), 1, col)
    fig.update_xaxes(title_text="step")
    rows = -(-len(items) // 4)  # the legend below both panels, about four entries a row
    _layout(fig, "Training curves of the best trials per scientific value",
            height=380 + 22 * rows, legend=LEGEND_BELOW)
    return fig.update_layout(margin={"b": 80 + 22 * rows})


def grad_norm(data: GradNormData) -> go.Figure:
    """Norm against step (log scale) and the histogram with the clipping threshold."""
    from plotly.subplots import make_subplots

    go = _go()
    fig = make_subplots(rows=1, cols=2, subplot_titles=("grad norm vs step", "histogram"))
    for label, series in data.curves:
        fig.add_trace(go.Scatter(x=[s for s, _ in series], y=[v for _, v in series],
                                 mode="lines", name=label), 1, 1)
    if data.values:
        fig.add_trace(go.Histogram(x=data.values, nbinsx=50, name="best trials",
                                   showlegend=False), 1, 2)
    if data.threshold is not None:
        fig.add_vline(x=data.threshold, line_dash="dash", line_color="crimson", row=1, col=2)
    fig.update_yaxes(type="log", row=1, col=1)
    return _layout(fig, "Gradient norm", height=360)


def best_so_far(points: Sequence[tuple[int, float]], metric: str) -> go.Figure:
    go = _go()
    fig = go.Figure(go.Scatter(x=[n for n, _ in points], y=[v for _, v in points],
                               mode="lines", line_shape="hv", name="best so far"))
    return _layout(fig, f"Best {metric} so far vs completed trials", xaxis_title="trials",
                   yaxis_title=metric, height=300)


def metric_grid(runs: Sequence[tuple[str, dict[str, Series]]], title: str) -> go.Figure:
    """Every metric of one or more trials against step, one panel per metric (the trial
    page shows one run; the compare page overlays 2-5)."""
    from plotly.subplots import make_subplots

    go = _go()
    names = sorted({name for _, series in runs for name in series})
    cols = min(3, max(1, len(names)))
    rows = max(1, -(-len(names) // cols))
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=names or ["no metrics"])
    for run, (label, series) in enumerate(runs):
        for i, name in enumerate(names):
            points = series.get(name)
            if points:
                fig.add_trace(go.Scatter(
                    x=[s for s, _ in points], y=[v for _, v in points], mode="lines",
                    name=label, legendgroup=label, showlegend=i == 0,
                    line={"color": PALETTE[run % len(PALETTE)]}), i // cols + 1, i % cols + 1)
    return _layout(fig, title, height=300 * rows)


#: Twelve colours told apart by most readers (Paul Tol's "muted" and "bright" schemes):
#: a trial keeps its colour in every panel, and 12 trials share none.
PALETTE = ("#0077bb", "#cc3311", "#009988", "#ee7733", "#33bbee", "#ee3377", "#332288",
           "#117733", "#999933", "#882255", "#44aa99", "#aa4499")
#: A legend under the panels, where it covers none of them.
LEGEND_BELOW = {"orientation": "h", "yanchor": "top", "y": -0.18, "xanchor": "left", "x": 0}


#: Colour bands of the parallel-coordinates lines (one SVG trace each, so that 1,500
#: trials draw as a handful of paths, with no WebGL and no eval: the dashboard's CSP).
BANDS = 8


@dataclass(frozen=True)
class ParallelAxis:
    """One column of :func:`parallel`: its label, one value per line (NaN: none), and
    either the category names (values are their indices) or whether it is a log scale
    (values are then the parameter's own, drawn on a log scale and labelled in its
    units)."""

    label: str
    values: list[float]
    categories: list[str] | None = None
    log: bool = False


def parallel(columns: Sequence[ParallelAxis], values: list[float], metric: str) -> go.Figure:
    """Parallel coordinates of the searched parameters, coloured by the objective; one
    line per completed trial.

    Drawn as plain SVG lines (each column scaled to its own range and labelled at its
    ticks: every category, a log range's decades in its own units), not Plotly's
    ``parcoords``: that one needs WebGL and run-time code generation, which the
    dashboard's Content-Security-Policy rightly forbids."""
    go = _go()
    axes = [*columns, ParallelAxis(metric, values)]
    scaled = [_unit(a) for a in axes]
    low, high = min(values), max(values)
    fig = go.Figure()
    for band in range(BANDS):
        xs: list[float | None] = []
        ys: list[float | None] = []
        for i, v in enumerate(values):
            if _band(v, low, high) == band:
                xs += [*range(len(axes)), None]
                ys += [*(col[i] for col in scaled), None]
        if xs:
            fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", hoverinfo="skip",
                                     line={"width": 1, "color": _viridis(band / (BANDS - 1))},
                                     opacity=0.6, showlegend=False))
    fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", showlegend=False,
                             marker={"color": [low, high], "colorscale": "Viridis",
                                     "showscale": True, "cmin": low, "cmax": high,
                                     "colorbar": {"title": {"text": metric}}}))
    for i, axis in enumerate(axes):
        for at, text in _ticks(axis):
            fig.add_annotation(x=i, y=at, text=text, showarrow=False, xanchor="left",
                               xshift=3, font={"size": 10}, bgcolor="rgba(255,255,255,0.7)")
    fig.update_xaxes(tickvals=list(range(len(axes))), ticktext=[a.label for a in axes],
                     range=[-0.3, len(axes) - 0.5], side="top", showgrid=True)
    fig.update_yaxes(range=[-0.08, 1.08], showticklabels=False, showgrid=False,
                     zeroline=False)
    return _layout(fig, f"Parallel coordinates of the completed trials, coloured by {metric}",
                   height=460)


def _span(axis: ParallelAxis) -> tuple[float, float]:
    """The column's range in drawing units (log10 of the values on a log scale)."""
    seen = [_drawn(v, axis.log) for v in axis.values if not math.isnan(v)]
    return (min(seen), max(seen)) if seen else (0.0, 1.0)


def _drawn(value: float, log: bool) -> float:
    return math.log10(value) if log and value > 0 else value


def _unit(axis: ParallelAxis) -> list[float | None]:
    """A column on [0, 1]: categories evenly, numbers by their range (NaN: a gap)."""
    if axis.categories is not None:
        span = max(1, len(axis.categories) - 1)
        return [None if math.isnan(v) else v / span for v in axis.values]
    low, high = _span(axis)
    return [None if math.isnan(v) else (_drawn(v, axis.log) - low) / (high - low)
            if high > low else 0.5 for v in axis.values]


def _ticks(axis: ParallelAxis) -> list[tuple[float, str]]:
    """Where a column is labelled, on [0, 1]: every category; else both ends and, on a
    log scale, each whole decade between them, in the parameter's own units."""
    if axis.categories is not None:
        span = max(1, len(axis.categories) - 1)
        return [(i / span, name) for i, name in enumerate(axis.categories)]
    if not any(not math.isnan(v) for v in axis.values):
        return []
    low, high = _span(axis)
    if high <= low:
        return [(0.5, f"{10 ** low if axis.log else low:.3g}")]
    ends = [(0.0, low), (1.0, high)]
    inner = [((k - low) / (high - low), float(k)) for k in range(math.ceil(low + 0.15),
                                                               math.floor(high - 0.15) + 1)]
    marks = ends + (inner if axis.log else [])
    return [(at, f"{10 ** v if axis.log else v:.3g}") for at, v in sorted(marks)]


def _band(value: float, low: float, high: float) -> int:
    return 0 if high <= low else min(BANDS - 1, int((value - low) / (high - low) * BANDS))


#: Viridis at a few stops (the colour bar's scale), interpolated per band.
_VIRIDIS = ((68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37))


def _viridis(t: float) -> str:
    pos = t * (len(_VIRIDIS) - 1)
    i = min(int(pos), len(_VIRIDIS) - 2)
    a, b = _VIRIDIS[i], _VIRIDIS[i + 1]
    r, g, bl = (round(x + (y - x) * (pos - i)) for x, y in zip(a, b, strict=True))
    return f"rgb({r},{g},{bl})"


def importance(rows: Sequence[Importance], metric: str) -> go.Figure:
    """Permutation importance per parameter: median bar, 10-90 % over resamples."""
    go = _go()
    fig = go.Figure(go.Bar(
        x=[r.median for r in rows], y=[r.key for r in rows], orientation="h",
        error_x={"type": "data", "symmetric": False, "array": [r.high - r.median for r in rows],
                 "arrayminus": [r.median - r.low for r in rows]}))
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, f"What moves {metric}: drop in held-out R² when a parameter is "
                   "shuffled", xaxis_title="permutation importance (bar: 10-90 % over "
                   "bootstrap refits)", height=120 + 40 * len(rows))


def figure_div(fig: go.Figure) -> str:
    """A figure container drawn by ``tunebook.report.html.RENDER_JS``.

    Every string in the figure is made plain text for Plotly first (:func:`plain`): names,
    labels and values come from the user, and Plotly reads ``<a href>`` or ``<span
    style>`` in them as markup."""
    import html

    data = json.dumps(plain(fig.to_plotly_json()), cls=_plotly_encoder())
    return f'<div class="figure" data-figure="{html.escape(data, quote=True)}"></div>'


def _plotly_encoder() -> type[json.JSONEncoder]:
    from plotly.utils import PlotlyJSONEncoder

    return PlotlyJSONEncoder  # type: ignore[no-any-return]


def plain(value: Any) -> Any:
    """``value`` with ``&``, ``<`` and ``>`` of every string written as entities, which
    Plotly draws as the characters themselves instead of reading markup."""
    if isinstance(value, str):
        return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def lr_sweep(result: Any, log: bool = True) -> go.Figure:
    """The objective against the swept value (a log axis, or one category per value);
    unstable points marked."""
    go = _go()
    fig = go.Figure()
    ok = [p for p in result.points if p.value is not None and not p.unstable]
    bad = [p for p in result.points if p.value is None or p.unstable]
    fig.add_trace(go.Scatter(x=[p.x for p in ok], y=[p.value for p in ok],
                             mode="lines+markers", name="stable"))
    if bad:
        top = max((p.value for p in ok), default=1.0) if ok else 1.0
        fig.add_trace(go.Scatter(x=[p.x for p in bad],
                                 y=[p.value if p.value is not None else top for p in bad],
                                 mode="markers", marker={"symbol": "x", "size": 12,
                                                         "color": "crimson"},
                                 name="unstable / diverged",
                                 hovertext=[p.unstable or p.status for p in bad]))
    if log:
        fig.update_xaxes(type="log", title_text=result.key)
    else:
        fig.update_xaxes(type="category", title_text=result.key,
                         categoryarray=[f"{p.x:g}" for p in result.points])
        for trace in fig.data:
            trace.x = [f"{v:g}" for v in trace.x]
    return _layout(fig, f"{result.metric} against {result.key}", yaxis_title=result.metric)
