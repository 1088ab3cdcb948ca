"""The digits demo: find the example study shipped with tunebook."""

from __future__ import annotations

from pathlib import Path

from tunebook.errors import TunebookError

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
