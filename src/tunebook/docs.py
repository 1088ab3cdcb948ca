"""Documentation shipped with the package, for commands that print it."""

from __future__ import annotations

from pathlib import Path

from tunebook.errors import TunebookError

_HERE = Path(__file__).resolve().parent
SPEC_CANDIDATES = (
    _HERE / "_docs" / "spec.md",                  # installed wheel
    _HERE.parents[1] / "docs" / "spec.md",        # source checkout
)


def spec_reference() -> str:
    """The study-file reference (``docs/spec.md``), wherever tunebook is installed from."""
    for path in SPEC_CANDIDATES:
        if path.exists():
            return path.read_text()
    raise TunebookError("the study-file reference is missing from this installation; "
                        "reinstall tunebook")
