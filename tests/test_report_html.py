"""The HTML report: escaped, offline, and rendering for real in Chromium."""

from __future__ import annotations

from pathlib import Path

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
