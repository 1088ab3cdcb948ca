"""Render the next study as a YAML file whose comments give each change's reason."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import yaml

from tunebook.analysis.nextstudy import Change


def apply(doc: dict[str, Any], changes: Sequence[Change]) -> dict[str, Any]:
    """The study file's fields with ``changes`` made (``doc`` is left as it was)."""
    out: dict[str, Any] = copy.deepcopy(doc)
    for change in changes:
        *parents, last = change.path
        node = out
        for key in parents:
            node = node.setdefault(key, {})
        if change.value is None:
            node.pop(last, None)
        elif last == "budget" and isinstance(node.get("budget"), dict):
            node["budget"]["trials"] = change.value
        else:
            node[last] = change.value
    return out


def render(doc: dict[str, Any], changes: Sequence[Change], source: str) -> str:
    """YAML text: a header, then the fields, each changed one under ``# reason`` lines."""
    lines = yaml.safe_dump(doc, sort_keys=False, default_flow_style=None,
                           width=96).splitlines()
    for change in (c for c in changes if c.reason):
        at = _line_of(lines, change.path)
        if at is not None:
            indent = lines[at][: len(lines[at]) - len(lines[at].lstrip())]
            lines.insert(at, f"{indent}# {change.reason}")
    head = [f"# Written by `tunebook next` from {source}'s checklist: each change below says",
            "# why. Review it, then: tunebook run THIS_FILE", ""]
    return "\n".join(head + lines) + "\n"


def _line_of(lines: list[str], path: tuple[str, ...]) -> int | None:
    """The line where ``path``'s first two keys sit (a bound's parameter line), else the
    section's own line (a one-line ``fixed: {a: 1}`` mapping)."""
    section = next((i for i, line in enumerate(lines) if line.startswith(f"{path[0]}:")), None)
    if section is None or len(path) == 1:
        return section
    for i in range(section + 1, len(lines)):
        if lines[i] and not lines[i].startswith(" "):
            break
        if lines[i].startswith(f"  {path[1]}:"):
            return i
    return section
