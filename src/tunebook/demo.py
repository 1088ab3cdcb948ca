"""The digits demo: find the example study and write its short report."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from tunebook.errors import TunebookError
from tunebook.store import Store

_HERE = Path(__file__).resolve().parent
CANDIDATES = (
    _HERE / "_examples" / "digits" / "study.yaml",             # installed wheel
    _HERE.parents[1] / "examples" / "digits" / "study.yaml",   # source checkout
)


def find_demo() -> Path:
    """The digits study file shipped with tunebook (wheel) or in the source checkout."""
    for path in CANDIDATES:
        if path.exists():
            return path
    raise TunebookError("the digits example is missing from this installation; install "
                        "tunebook from its source checkout (pip install -e '.[torch,examples]')")


def write_demo_report(store: Store, study_name: str, path: Path) -> None:
    """A Markdown summary: the question, the per-value table, the trial counts."""
    from tunebook import _render
    from tunebook.analysis import best_per_value, leaf_ids

    study = store.get_study(study_name)
    objective = study.objective
    rows = best_per_value(store, study)
    counts = store.counts(leaf_ids(store, study))
    done = ", ".join(f"{n} {s.value}" for s, n in counts.items() if n)
    lines = [f"# {study.name}", "", study.spec.get("description", ""), "",
             f"Objective: {objective['goal']} `{objective['metric']}` "
             f"({objective.get('select', 'best')} evaluation of each trial). Trials: {done}.",
             "", _render.per_value_markdown(rows, objective["metric"]), "",
             f"_Written by tunebook on {dt.datetime.now():%Y-%m-%d %H:%M} from {store.url}._",
             ""]
    path.write_text("\n".join(lines))
