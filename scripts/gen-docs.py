"""Write the generated parts of the docs from the code they describe.

    python scripts/gen-docs.py        # rewrite them
    python scripts/gen-docs.py --check  # exit 1 if a doc differs (tests do the same)
"""

from __future__ import annotations

import sys
from pathlib import Path

from tunebook.workflows._pilot_machine import with_table

DOCS = Path(__file__).resolve().parents[1] / "docs"
GENERATED = {DOCS / "autopilot.md": with_table}

if __name__ == "__main__":
    stale = []
    for path, write in GENERATED.items():
        text = path.read_text()
        if write(text) != text:
            stale.append(path.name)
            if "--check" not in sys.argv:
                path.write_text(write(text))
    print(("stale: " if "--check" in sys.argv else "written: ") + ", ".join(stale)
          if stale else "up to date")
    sys.exit(1 if stale and "--check" in sys.argv else 0)
