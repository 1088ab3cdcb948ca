"""The HTML report: escaped, offline, and rendering for real in Chromium."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import BROWSER_ARGS, PageWatch, chromium_path
from tests.synthetic import EVIL, report_study
from tunebook import open_store
from tunebook.report import write_report

SECTIONS = ("Summary", "Checklist", "Isolation plot", "Parameter importance", "Axis plots",
            "Training curves", "Gradient norm", "Tracking table")


def test_names_and_values_are_escaped(tmp_path: Path, db_path: str) -> None:
    store = open_store(db_path)
    report_study(store, EVIL, description=f"desc {EVIL}")
    text = write_report(store, [EVIL], tmp_path / "r.html").read_text()
    assert EVIL not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    for section in SECTIONS:
        assert f"<h2>{section}</h2>" in text
    assert "the numbers behind this verdict" in text  # a user can check every verdict
    assert "<td>act=relu.completed</td><td>7</td>" in text and "(top-k)</td>" in text


def test_report_renders_offline_in_chromium(tmp_path: Path, db_path: str) -> None:
    from PIL import Image
    from playwright.sync_api import sync_playwright

    store = open_store(db_path)
    report_study(store, "browser-study")
    path = write_report(store, ["browser-study"], tmp_path / "report.html",
                        png_dir=tmp_path / "png")
    assert sorted(p.name for p in (tmp_path / "png" / "browser-study").iterdir()) == [
        "axes.png", "curves.png", "gradnorm.png", "isolation.png"]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        watch = PageWatch(page, ("file:", "data:", "blob:"))
        page.goto(path.resolve().as_uri())
        figures = page.locator("div.figure").count()
        page.wait_for_function(
            f"document.querySelectorAll('div.figure .main-svg').length >= {figures}",
            timeout=30_000)
        assert figures >= 6
        headings = page.locator("h2").all_inner_texts()
        page.locator("#s0-isolation").scroll_into_view_if_needed()
        shot = tmp_path / "shot.png"
        page.screenshot(path=str(shot), full_page=False)
        browser.close()
    assert (watch.errors, watch.outside, watch.dialogs) == ([], [], [])
    for section in SECTIONS:
        assert section in headings
    image = Image.open(shot).convert("L")
    histogram = image.histogram()
    assert sum(1 for count in histogram if count) > 20  # not a blank page
    assert max(histogram) < 0.97 * image.width * image.height


#: Per figure: every x axis's type and visible range, the x of every trace's points and of
#: every vertical line, with the axis each belongs to (read from what Plotly drew).
DRAWN = """() => Array.from(document.querySelectorAll('div.figure')).map(gd => {
  const L = gd._fullLayout || {};
  const axes = {};
  Object.keys(L).filter(k => /^xaxis\\d*$/.test(k)).forEach(k => {
    axes[L[k]._id] = {type: L[k].type, range: L[k].range.slice()};
  });
  return {title: (L.title && L.title.text) || '', axes: axes,
          points: (gd._fullData || []).filter(t => t.visible !== false && t.x).map(t => ({
            axis: t.xaxis, x: Array.from(t.x).filter(v => typeof v === 'number')})),
          lines: (L.shapes || []).filter(s => s.x0 === s.x1).map(s => ({
            axis: s.xref.replace(' domain', ''), x: s.x0}))};
})"""


def _drawn(path: Path, *scripts: str) -> list[Any]:
    """Open ``path`` in Chromium, wait until every figure is drawn, evaluate ``scripts``."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto(path.resolve().as_uri())
        count = page.locator("div.figure").count()
        page.wait_for_function(
            f"document.querySelectorAll('div.figure .main-svg').length >= {count}",
            timeout=30_000)
        out = [page.evaluate(script) for script in scripts]
        browser.close()
    return out


def _inside(value: float, axis: dict[str, object]) -> bool:
    low, high = axis["range"]  # type: ignore[misc]
    if axis["type"] == "log":
        low, high = 10 ** low, 10 ** high
    return float(low) <= value <= float(high)


def test_every_point_and_bound_lies_inside_the_drawn_axis_range(tmp_path: Path,
                                                                db_path: str) -> None:
    store = open_store(db_path)
    report_study(store, "ranges")  # learning_rate on a log range, with its bounds drawn
    drawn = _drawn(write_report(store, ["ranges"], tmp_path / "report.html"), DRAWN)[0]
    assert_drawn_inside(drawn)


def assert_drawn_inside(drawn: list[Any]) -> None:
    """What :data:`DRAWN` read: a log learning-rate axis among the figures, and every
    point and drawn bound inside its axis's visible range (the report and the dashboard
    share this check)."""
    log_axes = [f for f in drawn if any(a["type"] == "log" for a in f["axes"].values())]
    assert any("learning_rate" in f["title"] for f in log_axes)
    for figure in drawn:
        for line in figure["lines"]:
            axis = figure["axes"][line["axis"]]
            assert _inside(line["x"], axis), (figure["title"], line, axis)
        for trace in figure["points"]:
            axis = figure["axes"].get(trace["axis"])
            if axis is None or axis["type"] == "category":
                continue
            outside = [x for x in trace["x"] if not _inside(x, axis)]
            assert not outside, (figure["title"], outside[:3], axis)
        for axis in figure["axes"].values():  # no axis stretched decades past its data
            if axis["type"] == "log":
                assert axis["range"][1] - axis["range"][0] < 12, (figure["title"], axis)


CURVES = """() => {
  const gd = [...document.querySelectorAll('div.figure')].find(
      f => (f._fullLayout.title.text || '').startsWith('Training curves'));
  const box = el => { const r = el.getBoundingClientRect();
                      return [r.left, r.top, r.right, r.bottom]; };
  return {colors: gd._fullData.map(t => [t.legendgroup, t.line.color]),
          legend: box(gd.querySelector('.legend')),
          panels: ['', '2'].map(n => {
            const r = gd.getBoundingClientRect(), L = gd._fullLayout;
            const x = L['xaxis' + n], y = L['yaxis' + n];
            return [r.left + x._offset, r.top + y._offset, r.left + x._offset + x._length,
                    r.top + y._offset + y._length]; })};
}"""


def _overlap(a: list[float], b: list[float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_each_trial_keeps_one_colour_across_the_curve_panels_and_the_legend_covers_none(
        tmp_path: Path, db_path: str) -> None:
    store = open_store(db_path)
    report_study(store, "curves")
    drawn = _drawn(write_report(store, ["curves"], tmp_path / "report.html"), CURVES)[0]
    by_trial: dict[str, set[str]] = {}
    for group, color in drawn["colors"]:
        by_trial.setdefault(group, set()).add(color)
    assert len(by_trial) >= 6 and all(len(c) == 1 for c in by_trial.values()), by_trial
    assert len({next(iter(c)) for c in by_trial.values()}) == len(by_trial)  # none repeat
    assert drawn["panels"] and not any(_overlap(drawn["legend"], p) for p in drawn["panels"])


LINK = '<a href="https://example.invalid/">CLICK</a>'
BIG = '<span style="font-size:60px">BIG</span>'


def test_user_strings_are_drawn_as_text_never_as_plotly_markup(tmp_path: Path,
                                                               db_path: str) -> None:
    from tests.synthetic import Fake, make_study, smooth

    store = open_store(db_path)
    fakes = [Fake({"act": (LINK, BIG, "relu")[i % 3], "learning_rate": 10 ** (-3 + i / 10)},
                  0.5 + i / 100, curves={"val_loss": smooth(2.0, 0.5), "train_loss":
                                         smooth(2.0, 0.4)}) for i in range(15)]
    make_study(store, "markup", fakes, scientific={"act": [LINK, BIG, "relu"]})
    links, sizes, drawn = _drawn(
        write_report(store, ["markup"], tmp_path / "report.html"),
        "document.querySelectorAll('div.figure svg a').length",
        """Array.from(document.querySelectorAll('div.figure svg text'))
            .map(t => parseFloat(getComputedStyle(t).fontSize))""",
        """Array.from(document.querySelectorAll('div.figure svg text'))
            .map(t => t.textContent).join('\\n')""")
    assert links == 0 and max(sizes) < 30
    assert "CLICK</a>" in drawn and "font-size:60px" in drawn  # shown as the text it is
