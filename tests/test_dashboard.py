"""The dashboard: its JSON API, its guards, and its pages live in real Chromium."""

from __future__ import annotations

import contextlib
import hashlib
import random
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import BROWSER_ARGS, QUADRATIC, PageWatch, chromium_path, write_study
from tests.synthetic import EVIL, report_study
from tests.test_report_html import DRAWN, assert_drawn_inside
from tunebook import TrialStatus, load_spec, open_store, run_study
from tunebook.analysis.axes import MAX_POINTS
from tunebook.dashboard import create_app


@pytest.fixture
def db(db_path: str) -> str:
    report_study(open_store(db_path), "live-study", description=f"about {EVIL}")
    return db_path


def client(url: str, **kwargs: Any) -> TestClient:
    return TestClient(create_app(url, **kwargs), base_url="http://127.0.0.1")


def test_the_api_returns_the_documented_json(db: str) -> None:
    c = client(db)
    [row] = c.get("/api/studies").json()
    assert {"name", "experiment", "counts", "trials", "budget", "finished", "progress",
            "best", "metric", "goal", "last_update"} <= set(row)
    assert row["name"] == "live-study" and row["trials"] == 24
    assert row["counts"]["completed"] + row["counts"]["infeasible"] == 24
    page = c.get("/api/study/trials", params={"name": "live-study", "sort": "value",
                                              "status": "completed", "limit": 5}).json()
    values = [r["value"] for r in page["rows"]]
    assert values == sorted(values) and len(values) == 5
    assert page["total"] == row["counts"]["completed"] and page["columns"] == [
        "act", "learning_rate"]
    assert values[0] == row["best"]
    relu = c.get("/api/study/trials", params={"name": "live-study", "q": "act=relu"}).json()
    assert relu["total"] == 8 and all(r["params"]["act"] == "relu" for r in relu["rows"])
    detail = c.get("/api/trial", params={"study": "live-study", "index": 0}).json()
    assert set(detail["curves"]) == {"train_loss", "val_loss", "grad_norm", "clipped"}
    assert detail["reproduce"][0].startswith("tunebook run ")
    assert c.get("/api/study/trials", params={"name": "live-study", "limit": 0}).status_code \
        == 422
    missing = c.get("/api/trial", params={"study": "live-study", "index": 99})
    assert missing.status_code == 404 and "no trial 99" in missing.json()["error"]


def test_a_trial_page_lists_only_the_checkpoints_still_on_disk(db: str) -> None:
    store = open_store(db)
    trial = store.get_trial(store.get_study("live-study").id, 0)
    assert trial is not None
    ids = [store.add_checkpoint(trial.id, step, f"/runs/ckpt-{step}.pt", 0.5 - step / 1000)
           for step in (50, 100, 150)]
    for dropped in ids[:2]:  # the retention policy deleted these files
        store.drop_checkpoint(dropped)
    detail = client(db).get("/api/trial", params={"study": "live-study", "index": 0}).json()
    assert [c["path"] for c in detail["checkpoints"]] == ["/runs/ckpt-150.pt"]
    assert detail["checkpoints_deleted"] == 2
    page = client(db).get("/trial", params={"study": "live-study", "index": 0}).text
    assert "ckpt-50.pt" not in page and "ckpt-150.pt" in page
    assert "2 more were saved and deleted" in page


def test_parallel_coordinates_name_every_category_and_label_a_log_axis_in_its_units(
        db: str) -> None:
    from tunebook.dashboard.views import parallel_figure
    from tunebook.spec import study_spec

    store = open_store(db)
    study = store.get_study("live-study")
    fig = parallel_figure(study_spec(study), store.trials(store.tree(study).ids))
    assert fig is not None
    labels = list(fig.layout.xaxis.ticktext)
    assert labels[:2] == ["act", "learning_rate"]  # not "log10 learning_rate"
    texts = {round(a.x): [] for a in fig.layout.annotations}
    for a in fig.layout.annotations:
        texts[round(a.x)].append(a.text)
    assert sorted(texts[0]) == sorted(["relu", "tanh", EVIL])  # every category, not the ends
    lrs = [t.params["learning_rate"] for t in store.trials(store.tree(study).ids)
           if t.status is TrialStatus.COMPLETED]
    shown = [float(t) for t in texts[1]]
    assert min(shown) == pytest.approx(min(lrs), rel=0.01)  # its own units, not log10
    assert max(shown) == pytest.approx(max(lrs), rel=0.01) and len(shown) >= 3  # decades


def test_the_importance_is_computed_beside_the_page_which_fills_it_in(db: str) -> None:
    c = client(db)
    first = c.get("/api/study/sections", params={"name": "live-study"}).json()
    assert ("importance pending" in first["version"]) == (
        "Computing the parameter importance" in first["html"])
    seen, deadline = first, time.monotonic() + 30
    while "What moves val_loss" not in seen["html"]:  # as app.js polls
        assert time.monotonic() < deadline, "the importance never arrived"
        time.sleep(0.2)
        if c.get("/api/study", params={"name": "live-study"}).json()["version"] != \
                seen["version"]:
            seen = c.get("/api/study/sections", params={"name": "live-study"}).json()
    assert "importance pending" not in seen["version"]
    assert c.get("/api/study", params={"name": "live-study"}).json()["version"] == \
        seen["version"]  # the poll then stops fetching the sections


def test_unknown_pages_and_absurd_indices_get_the_error_page_not_raw_json(db: str) -> None:
    c = client(db)
    page = c.get("/nowhere")
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert "no such page" in page.text and "detail" not in page.text
    api = c.get("/api/nowhere")
    assert api.status_code == 404 and "no such page" in api.json()["error"]
    huge = c.get("/compare", params={"t": "live-study/" + "9" * 30})
    assert huge.status_code == 404 and "has no trial" in huge.text


def test_only_reads_and_only_for_the_bound_host(db: str) -> None:
    before = hashlib.sha256(Path(db).read_bytes()).hexdigest()
    c = client(db)
    for path in ("/", "/study?name=live-study", "/trial?study=live-study&index=3",
                 "/compare?t=live-study/1&t=live-study/2", "/api/studies"):
        assert c.get(path).status_code == 200, path
    assert c.post("/api/studies").status_code == 405
    assert c.delete("/api/study?name=live-study").status_code == 405
    assert c.get("/", headers={"Host": "attacker.example"}).status_code == 400
    assert c.get("/static/..%2F..%2Fapp.py").status_code == 404
    assert c.get("/static/app.js").headers["content-type"].startswith("application/javascript")
    assert "default-src 'self'" in c.get("/").headers["content-security-policy"]
    assert hashlib.sha256(Path(db).read_bytes()).hexdigest() == before


def test_a_token_guards_every_request(db: str) -> None:
    c = client(db, token="s3cret")
    assert c.get("/api/studies").status_code == 401
    assert c.get("/api/studies", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert c.get("/api/studies", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert c.get("/?token=s3cret").status_code == 200  # sets the cookie ...
    assert c.get("/api/studies").status_code == 200    # ... that later requests carry


def test_a_missing_or_corrupt_store_is_an_error_page(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.db"
    page = client(str(missing)).get("/")
    assert page.status_code == 503 and "cannot be read" in page.text
    assert not missing.exists()  # read-only: nothing was created
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"not a database at all" * 100)
    page = client(str(corrupt)).get("/api/studies")
    assert page.status_code == 503 and "error" in page.json()


def test_user_strings_render_as_text(db: str, tmp_path: Path) -> None:
    store = open_store(db)
    study = store.get_study("live-study")
    evil_trial = next(t for t in store.trials([study.id]) if t.params["act"] == EVIL)
    c = client(db)
    for path in ("/", "/study?name=live-study",
                 f"/trial?study=live-study&index={evil_trial.index}",
                 f"/compare?t=live-study/{evil_trial.index}"):
        body = c.get(path).text
        assert EVIL not in body, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body, path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serving(db: str) -> Iterator[str]:
    """The dashboard of ``db`` on a real uvicorn server in a thread; yields its URL."""
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(db), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def served(db: str) -> Iterator[str]:
    with serving(db) as url:
        yield url


def _finish_one_more(db: str) -> None:
    """Another process's view: a new trial of the study completes."""
    store = open_store(db)
    study = store.get_study("live-study")
    store.enqueue(study.id, [(24, {"act": "relu", "learning_rate": 0.01}, 24)])
    trial = store.claim("elsewhere", [study.id])
    assert trial is not None
    store.report_metrics(trial.id, [(s, "val_loss", 0.19, 0.0) for s in (50, 100, 150)])
    store.finish(trial.id, trial.attempts, TrialStatus.COMPLETED, value=0.19)


def test_pages_render_and_update_live_in_chromium(served: str, db: str, tmp_path: Path,
                                                  ) -> None:
    from PIL import Image
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        watch = PageWatch(page, (served,))

        page.goto(served + "/")
        expect(page.locator("#studies")).to_contain_text("live-study")
        expect(page.locator("#studies")).to_contain_text("24/24")

        page.goto(served + "/study?name=live-study")
        # The importance is computed beside the request; the page fills it in by itself.
        expect(page.locator("section[id$='-importance'] div.figure")).to_have_count(
            1, timeout=30_000)
        figures = page.locator("div.figure").count()
        assert figures >= 7  # the report's sections and parallel coordinates
        expect(page.locator("div.figure .main-svg").nth(figures - 1)).to_be_attached(
            timeout=30_000)
        # Parallel coordinates draw their lines under the page's CSP (no WebGL, no eval):
        # a line per completed trial, each through every axis.
        lines = page.evaluate("""() => [...document.querySelectorAll(
            '#parallel .scatterlayer path.js-line')].map(p => p.getAttribute('d') || '')""")
        assert_drawn_inside(page.evaluate(DRAWN))  # the axis plots draw what they claim
        store = open_store(db)
        done = len(store.trials(store.tree("live-study").ids, TrialStatus.COMPLETED))
        assert sum(d.count("M") for d in lines) == done and "not supported" not in (
            page.locator("#parallel").inner_text())
        expect(page.locator("#trials-table tbody tr")).to_have_count(24, timeout=10_000)
        page.locator("th[data-sort=value]").click()
        expect(page.locator("th[data-sort=value]")).to_have_text("val_loss ▲")
        first = page.locator("#trials-table tbody tr").first.locator("td").nth(3)
        expect(first).to_have_text("0.2001")  # the best value, sorted in the browser's table
        shot = tmp_path / "study.png"
        page.screenshot(path=str(shot))

        _finish_one_more(db)  # live: the page picks it up without a reload
        expect(page.locator("#page")).to_have_text("1–25 of 25", timeout=15_000)
        expect(page.locator("#trials-table tbody tr").first.locator("td").nth(3)).to_have_text(
            "0.19", timeout=15_000)
        page.goto(served + "/")
        expect(page.locator("#studies")).to_contain_text("25/25", timeout=15_000)

        page.goto(served + "/trial?study=live-study&index=0")
        expect(page.locator("div.figure .main-svg").first).to_be_attached(timeout=15_000)
        expect(page.locator("main")).to_contain_text("learning_rate")
        page.goto(served + "/compare?t=live-study/0&t=live-study/1")
        expect(page.locator("div.figure .main-svg").first).to_be_attached(timeout=15_000)
        browser.close()
    assert (watch.errors, watch.outside, watch.dialogs) == ([], [], [])
    histogram = Image.open(shot).convert("L").histogram()
    assert sum(1 for count in histogram if count) > 20  # not a blank page


def test_a_study_of_2500_trials_draws_every_axis_plot_under_the_csp(tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    from benchmarks.dashboard import NAME, build

    db = str(tmp_path / "big.db")
    build(db, 2500, 2)  # above the 2,000 points where axis plots once switched to WebGL
    with serving(db) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        watch = PageWatch(page, (base,))
        page.goto(f"{base}/study?name={NAME}")
        figures = page.locator("div.figure").count()
        expect(page.locator("div.figure .main-svg").nth(figures - 1)).to_be_attached(
            timeout=60_000)
        drawn = page.evaluate("""() => [...document.querySelectorAll('div.figure')]
            .map(f => [f._fullLayout.title.text || '',
                       f.querySelectorAll('.scatterlayer path.point').length])""")
        text = page.locator("main").inner_text()
        browser.close()
    axes = [n for title, n in drawn if title.startswith("val_loss vs ")]
    shown = min(2500, MAX_POINTS)  # every trial an axis plot shows, as SVG markers
    assert len(axes) >= 3 and all(n == shown for n in axes), drawn
    assert "not supported" not in text and watch.errors == [], watch.errors


WIDE = {f"param_{i}": {"low": 1e-4, "high": 1.0, "scale": "log"} for i in range(12)}


def test_cells_never_split_a_word_a_long_text_stays_in_its_cell_and_arrows_say_true(
        db: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    from tests.synthetic import Fake, make_study

    rng = random.Random(0)
    make_study(open_store(db), "wide", [
        Fake({k: round(10 ** rng.uniform(-4, 0), 6) for k in WIDE}, 0.0027 + i / 1e4)
        for i in range(6)], nuisance=WIDE, description="\u202e" + "x" * 4000,
        experiment="lr-study")
    make_study(open_store(db), "acc", [Fake({"learning_rate": 0.01}, v) for v in
                                       (0.7, 0.9, 0.8)], metric="accuracy", goal="maximize")
    with serving(db) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1000, "height": 800})
        page.goto(base + "/")
        expect(page.locator("#studies")).to_contain_text("wide")
        index_width = page.evaluate("document.documentElement.scrollWidth")
        page.goto(base + "/study?name=wide")
        expect(page.locator("#trials-table tbody tr")).to_have_count(6, timeout=30_000)
        study_width = page.evaluate("document.documentElement.scrollWidth")
        goal, experiment = (page.locator("#sections b", has_text=label).first.bounding_box()
                            for label in ("Goal:", "Experiment:"))
        split = page.evaluate("""() => [...document.querySelectorAll(
            '#trials-table td, #studies td')].filter(td => {
                const text = td.innerText.trim();
                if (!text || /\\s/.test(text)) return false;  // one word or number
                const range = document.createRange();
                range.selectNodeContents(td);
                const lines = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
                return lines.size > 1;
            }).map(td => td.innerText)""")
        page.goto(base + "/study?name=acc")  # maximize: best first is values going down
        expect(page.locator("#trials-table tbody tr")).to_have_count(3, timeout=30_000)
        page.locator("th[data-sort=value]").click()
        expect(page.locator("th[data-sort=value]")).to_have_text("accuracy ▼")
        expect(page.locator("#trials-table tbody tr").first.locator("td").nth(3)
               ).to_have_text("0.9")
        browser.close()
    assert split == [], split  # "0.0027" / "78" and "complete" / "d" were seen
    assert index_width < 3000 and study_width < 3000  # a 4,000-character word wraps
    assert goal is not None and experiment is not None  # the label after the text, not
    assert experiment["y"] > goal["y"] + 10  # flipped before it by its right-to-left mark


def test_serving_a_store_while_four_workers_write_it(tmp_path: Path, db_path: str) -> None:
    spec = load_spec(write_study(tmp_path / "s", QUADRATIC, budget=24))
    c = client(db_path)
    seen: list[int] = []
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            for path in ("/api/studies", "/study?name=toy", "/api/study/trials?name=toy"):
                seen.append(c.get(path).status_code)
            time.sleep(0.05)

    run_study(spec, open_store(db_path), workers=1)  # the study exists before polling
    reader = threading.Thread(target=poll)
    reader.start()
    more = load_spec(write_study(tmp_path / "s", QUADRATIC, budget=48))
    try:
        run_study(more, open_store(db_path), workers=4)
    finally:
        stop.set()
        reader.join()
    store = open_store(db_path)
    done = store.trials([store.get_study("toy").id], TrialStatus.COMPLETED)
    assert len(done) == 48
    assert seen and set(seen) == {200}, sorted(set(seen))


def test_postgresql_is_served_through_read_only_transactions(postgres_url: str) -> None:
    report_study(open_store(postgres_url), "pg-study")
    app = create_app(postgres_url)
    c = TestClient(app, base_url="http://127.0.0.1")
    assert c.get("/api/studies").json()[0]["name"] == "pg-study"
    assert c.get("/study?name=pg-study").status_code == 200
    readonly = open_store(postgres_url, read_only=True)  # what the dashboard opens
    with pytest.raises(Exception, match="read-only transaction"):
        readonly.update_study(readonly.get_study("pg-study").id, budget=1)


def test_a_rebuild_in_progress_serves_the_previous_result(db: str) -> None:
    from tunebook.dashboard.cache import StudyCache

    cache = StudyCache(open_store(db, read_only=True))
    first = cache.get("live-study", "n", lambda tree: "old")
    _finish_one_more(db)  # the study changed: the next get rebuilds
    started = threading.Event()

    def slow(tree: Any) -> str:
        started.set()
        time.sleep(1.0)
        return "new"

    rebuild = threading.Thread(target=lambda: cache.get("live-study", "n", slow))
    rebuild.start()
    started.wait(5)
    t0 = time.monotonic()
    assert cache.get("live-study", "n", slow) == first  # not waiting for the rebuild
    assert time.monotonic() - t0 < 0.5
    rebuild.join()
    assert cache.get("live-study", "n", slow)[1] == "new"


def test_the_command_serves_locally_and_refuses_to_expose_without_a_token(
        tmp_path: Path, db: str) -> None:
    import subprocess
    import sys

    import httpx2

    from tests.conftest import tunebook_cli

    exposed = tunebook_cli("dashboard", "--host", "0.0.0.0", "--db", db, cwd=tmp_path)
    assert exposed.returncode != 0 and "pass --token" in exposed.stderr
    assert "Traceback" not in exposed.stderr
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "tunebook.cli", "dashboard", "--port",
                               str(port), "--db", db], cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline, status = time.monotonic() + 30, None
        while time.monotonic() < deadline and status is None:
            try:
                status = httpx2.get(f"http://127.0.0.1:{port}/api/studies").status_code
            except httpx2.TransportError:
                time.sleep(0.2)
        assert status == 200
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_the_reproduce_lines_paste_into_a_shell_as_the_text_they_show(tmp_path: Path) -> None:
    from tests.synthetic import Fake, make_study
    from tunebook import MemoryStore
    from tunebook.dashboard.views import trial_detail

    store = MemoryStore()
    name = "s[act=x$(touch X)`touch Y`;touch Z]"  # a per-value study named by its value
    make_study(store, name, [Fake({"learning_rate": 0.01}, 0.5)])
    for line in trial_detail(store, name, 0)["reproduce"]:
        assert line.startswith("tunebook ")
        words = subprocess.run(["bash", "-c", "printf '%s\\n' " + line[len("tunebook "):]],
                               cwd=tmp_path, capture_output=True, text=True, check=True)
        assert not list(tmp_path.iterdir())  # nothing ran
        if "retry" in line:
            assert words.stdout.splitlines()[:2] == ["retry", name]


def test_every_reply_carries_the_security_headers_and_bad_requests_read_well(db: str,
                                                                            ) -> None:
    c = client(db, token="s3cret")
    authorised = {"Authorization": "Bearer s3cret"}
    replies = {
        "host": c.get("/", headers={"Host": "attacker.example", **authorised}),
        "token": c.get("/study?name=live-study"),
        "huge": c.get("/trial?study=live-study&index=9223372036854775808", headers=authorised),
        "text": c.get("/trial?study=live-study&index=x", headers=authorised),
        "api": c.get("/api/trial?study=live-study&index=-1", headers=authorised),
        "missing": c.get("/trial?study=live-study&index=999", headers=authorised),
    }
    assert {k: r.status_code for k, r in replies.items()} == {
        "host": 400, "token": 401, "huge": 422, "text": 422, "api": 422, "missing": 404}
    for name, reply in replies.items():
        assert "default-src 'self'" in reply.headers.get("content-security-policy", ""), name
        assert reply.headers.get("x-content-type-options") == "nosniff", name
    assert "a valid token is required" in replies["token"].text
    assert "<html" in replies["huge"].text and "index" in replies["huge"].text  # the page
    assert "detail" not in replies["api"].json() and "index" in replies["api"].json()["error"]


def test_a_server_on_every_interface_answers_to_this_machines_names(tmp_path: Path,
                                                                   db: str) -> None:
    import sys

    import httpx2

    from tests.conftest import tunebook_cli

    bad = tunebook_cli("dashboard", "--allow-host", "foo*bar", "--db", db, cwd=tmp_path)
    assert bad.returncode == 1 and "a wildcard may only lead a domain" in bad.stderr
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "tunebook.cli", "dashboard", "--host",
                               "0.0.0.0", "--token", "s3cret", "--port", str(port), "--db",
                               db], cwd=tmp_path, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    auth = {"Authorization": "Bearer s3cret"}
    try:
        deadline, reply = time.monotonic() + 30, None
        while time.monotonic() < deadline and reply is None:
            try:
                reply = httpx2.get(f"http://127.0.0.1:{port}/api/studies", headers=auth)
            except httpx2.TransportError:
                time.sleep(0.2)
        assert reply is not None and reply.status_code == 200
        local = httpx2.get(f"http://{socket.gethostname()}:{port}/api/studies", headers=auth)
        assert local.status_code == 200
        other = httpx2.get(f"http://127.0.0.1:{port}/api/studies",
                           headers={**auth, "Host": "evil.example"})
        assert other.status_code == 400 and "--allow-host evil.example" in other.text
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_long_texts_stay_in_their_cells_and_a_study_is_titled_once(db: str) -> None:
    from tests.synthetic import make_study

    store = open_store(db)
    make_study(store, "empty-study", [], description="\u202e" + "long words " * 1000)
    c = client(db)
    index = c.get("/").text
    assert '<div class="cell">\u202elong words' in index  # scrolls in its cell, isolated
    assert "unicode-bidi:isolate" in c.get("/static/app.css").text
    page = c.get("/study", params={"name": "live-study"}).text
    assert page.count("<h1") == 1
    empty = c.get("/study", params={"name": "empty-study"}).text
    assert "No conclusion yet: no trial has finished." in empty
    assert "Look at the failures" not in empty and "fix" not in empty.lower()
    assert "Run the study." in empty


def test_per_value_trials_say_which_sub_study_they_belong_to(tmp_path: Path,
                                                             db_path: str) -> None:
    spec = load_spec(write_study(tmp_path, QUADRATIC, name="pv", budget=4, mode="per_value",
                                 scientific={"opt": ["adam", "sgd"]}))
    run_study(spec, open_store(db_path))
    page = client(db_path).get("/api/study/trials", params={"name": "pv"}).json()
    assert page["split"] is True
    rows = [(r["sub_study"], r["index"]) for r in page["rows"]]
    assert sorted(rows) == [("opt=adam", 0), ("opt=adam", 1), ("opt=sgd", 0), ("opt=sgd", 1)]
    assert len(set(rows)) == 4  # indices repeat across sub-studies, the pairs do not
    joint = client(db_path).get("/api/study/trials", params={"name": "pv[opt=adam]"}).json()
    assert joint["split"] is False and joint["rows"][0]["sub_study"] is None
