"""Small things a new user notices: version, the spec reference, honest reasons and text."""

from __future__ import annotations

import threading
from pathlib import Path

from tests.conftest import QUADRATIC, REPO, tunebook_cli, write_study
from tunebook import TrialStatus, __version__, load_spec, open_store, run_study
from tunebook.analysis.tracking import TrackingRow
from tunebook.report import tracking_markdown
from tunebook.runner.study import prepare_study


def test_version_and_the_spec_reference(tmp_path: Path) -> None:
    version = tunebook_cli("--version", cwd=tmp_path)
    assert version.returncode == 0 and __version__ in version.stdout
    reference = tunebook_cli("spec", cwd=tmp_path)
    assert reference.returncode == 0 and "`timeout`" in reference.stdout
    assert reference.stdout == (REPO / "docs" / "spec.md").read_text() + "\n"
    made = tunebook_cli("init", "starter", cwd=tmp_path)
    assert made.returncode == 0
    assert "tunebook spec" in (tmp_path / "starter" / "study.yaml").read_text()
    assert "docs/spec.md" not in (tmp_path / "starter" / "study.yaml").read_text()


def test_demo_time_is_stated_once(tmp_path: Path) -> None:
    readme = (REPO / "README.md").read_text()
    help_text = tunebook_cli("demo", "--help", cwd=tmp_path).stdout
    claim = "about 20 seconds on 2 idle CPU cores"
    assert claim in readme.replace("\n", " ") and claim in " ".join(help_text.split())


def test_an_out_of_memory_trial_says_what_ran_out(tmp_path: Path, db_path: str) -> None:
    source = """
        def main(t):
            raise MemoryError()
    """
    run_study(load_spec(write_study(tmp_path, source, budget=1)), open_store(db_path))
    trial = open_store(db_path).trials([open_store(db_path).get_study("toy").id])[0]
    assert trial.status is TrialStatus.INFEASIBLE
    assert trial.reason == "out of memory: MemoryError with no message"


def test_markdown_table_keeps_html_as_text() -> None:
    row = TrackingRow(experiment=None, name="s",
                      description="<script>alert(1)</script> | <b>x</b>", trials=1,
                      completed=1, metric="loss", goal="minimize", best=0.5, command="c",
                      config="{}")
    text = tracking_markdown([row])
    assert "<script>" not in text and "&lt;script&gt;" in text and "\\|" in text


def test_two_runs_creating_one_study_at_once(tmp_path: Path, db_path: str) -> None:
    spec = load_spec(write_study(tmp_path, QUADRATIC, budget=6, mode="per_value",
                                 scientific={"act": ["a", "b", "c"]}))
    start = threading.Barrier(2)
    results: list[object] = []

    def prepare() -> None:
        store = open_store(db_path)
        start.wait()
        try:
            results.append(prepare_study(store, spec))
        except Exception as exc:
            results.append(exc)

    threads = [threading.Thread(target=prepare) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sorted(r.resumed for r in results) == [False, True]  # type: ignore[attr-defined]
    tree = open_store(db_path).tree("toy")
    assert len(tree.leaves) == 3 and [leaf.budget for leaf in tree.leaves] == [2, 2, 2]
