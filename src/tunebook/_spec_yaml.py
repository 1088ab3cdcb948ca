"""Edit the user's study file in place of rewriting it: ``next``'s changes, comments kept.

The user's file is read with ruamel.yaml's round-trip loader, which keeps comments, key
order, flow or block style and quoting; each typed :class:`~tunebook._spec_derive.Change`
edits only the lines it is about and puts its reason in a comment above them. Comments on
the lines of a removed parameter go with it; the comments that followed it stay where
they were.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any, assert_never

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark
from ruamel.yaml.tokens import CommentToken

from tunebook._spec_derive import Change, ChangeKind
from tunebook.errors import SpecError
from tunebook.space import ParamRef


def _yaml() -> YAML:
    yaml = YAML()  # round-trip: comments, order, style and quotes survive
    yaml.preserve_quotes = True
    yaml.width = 96
    return yaml


def edit_study(text: str, changes: Sequence[Change], *, name: str,
               header: Sequence[str] = (), where: str = "<study>") -> str:
    """The study file ``text`` renamed to ``name`` with ``changes`` made, each under a
    ``# reason`` comment, and ``header`` comment lines on top."""
    try:
        doc = _yaml().load(text)
    except Exception as exc:  # ruamel raises many kinds; the file was valid for load_spec
        raise SpecError(f"cannot edit it as YAML: {exc}", path=where) from None
    if not isinstance(doc, CommentedMap):
        raise SpecError("the study file must be a mapping of fields", path=where)
    doc["name"] = name
    for change in changes:
        _apply(doc, change, where)
    out = io.StringIO()
    _yaml().dump(doc, out)
    head = "".join(f"# {line}\n" if line else "\n" for line in header)
    return head + out.getvalue()


def dump_study(data: dict[str, Any]) -> str:
    """Plain study-file text for ``data`` (when the original file is gone)."""
    out = io.StringIO()
    _yaml().dump(data, out)
    return out.getvalue()


def _apply(doc: CommentedMap, change: Change, where: str) -> None:
    kind = change.kind
    if kind is ChangeKind.WIDEN or kind is ChangeKind.CUT:
        assert change.target is not None and change.edge is not None  # built by from_changes
        parent, key = _param(doc, change.target, where)
        parent[key][change.edge] = change.value
        _note(doc, parent, key, change.reason + (": widened" if kind is ChangeKind.WIDEN
                                                 else ""))
    elif kind is ChangeKind.FIX:
        assert change.target is not None
        _fix(doc, change.target, change.value, change.reason, where)
    elif kind is ChangeKind.BUDGET:
        budget = doc.get("budget")
        if isinstance(budget, CommentedMap):
            budget["trials"] = change.value
        else:
            doc["budget"] = change.value
        _note(doc, doc, "budget", change.reason)
    elif kind is ChangeKind.STEPS:
        doc["max_steps"] = change.value
        _note(doc, doc, "max_steps", change.reason)
    elif kind is ChangeKind.SAMPLER:
        sampler = change.value.model_dump(mode="json", exclude_defaults=True)
        doc["sampler"] = _flow(sampler)
        _note(doc, doc, "sampler", change.reason)
    else:
        assert_never(kind)


def _flow(data: dict[str, Any]) -> CommentedMap:
    out = CommentedMap(data)
    out.fa.set_flow_style()
    return out


def _key_of(table: CommentedMap, value: Any) -> Any:
    """The key of ``table`` that names scientific value ``value`` (keys may be ints)."""
    return next((k for k in table if str(k) == str(value)), None)


def _param(doc: CommentedMap, ref: ParamRef, where: str) -> tuple[CommentedMap, Any]:
    """The mapping that declares ``ref`` and its key there."""
    if ref.condition is None:
        table = doc.get("nuisance")
    else:
        sci, value = ref.condition
        blocks = (doc.get("conditional") or {}).get(sci)
        key = _key_of(blocks, value) if isinstance(blocks, CommentedMap) else None
        table = blocks.get(key) if isinstance(blocks, CommentedMap) and key is not None \
            else None
    if not isinstance(table, CommentedMap) or ref.name not in table:
        raise SpecError(f"{ref} is not declared where the study file declares searched "
                        "parameters; was the file edited since the study ran?", path=where)
    return table, ref.name


def _fix(doc: CommentedMap, ref: ParamRef, value: Any, reason: str, where: str) -> None:
    parent, key = _param(doc, ref, where)
    if ref.condition is not None:  # held inside its own block: the other values keep theirs
        parent[key] = CommentedSeq([value])
        parent[key].fa.set_flow_style()
        _note(doc, parent, key, reason)
        return
    _remove(parent, key)
    fixed = doc.get("fixed")
    if not isinstance(fixed, CommentedMap):
        fixed = doc["fixed"] = CommentedMap()
    fixed[ref.name] = value
    _note(doc, doc if fixed.fa.flow_style() else fixed,
          "fixed" if fixed.fa.flow_style() else ref.name, reason)


def _note(doc: CommentedMap, parent: CommentedMap, key: Any, reason: str) -> None:
    """``# reason`` on the line above ``key`` (above its section in a one-line mapping)."""
    if not reason:
        return
    if parent.fa.flow_style():
        parent, key = doc, next(k for k, v in doc.items() if _holds(v, parent))
    parent.yaml_set_comment_before_after_key(key, before=reason,
                                             indent=_column(parent, key, parent is doc))


def _holds(node: Any, target: Any) -> bool:
    if node is target:
        return True
    return isinstance(node, CommentedMap) and any(_holds(v, target) for v in node.values())


def _column(table: CommentedMap, key: Any, top: bool) -> int:
    """The column ``key`` starts at (a new key: where its siblings do)."""
    where = table.lc.data or {}
    if key in where:
        return int(table.lc.key(key)[1])
    cols = [int(table.lc.key(k)[1]) for k in table if k in where]
    return cols[0] if cols else 0 if top else 2


def _remove(parent: CommentedMap, key: Any) -> None:
    """Delete ``key``, keeping the full-line comments that followed its lines."""
    following = _following(parent, key)
    keys = list(parent)
    at = keys.index(key)
    del parent[key]
    if not parent:
        parent.fa.set_flow_style()  # `nuisance: {}  # comment` (a block `{}` is not YAML)
    if not following:
        return
    if at > 0:
        _append(parent, keys[at - 1], following)
    elif len(keys) > 1:  # it was the first: the comments now sit above the next key
        column = _column(parent, keys[1], False)
        slots = parent.ca.items.setdefault(keys[1], [None, [], None, None])
        slots[1] = [*[CommentToken(line.strip() + "\n", CommentMark(column))
                      for line in following.splitlines() if line.strip()],
                    *(slots[1] or [])]


def _token_owner(parent: CommentedMap | CommentedSeq, key: Any) -> tuple[Any, Any, int]:
    """Where the comment after ``key``'s last line is kept: (container, key, slot)."""
    value = parent[key]
    if isinstance(value, CommentedMap) and value and not value.fa.flow_style():
        return _token_owner(value, list(value)[-1])
    if isinstance(value, CommentedSeq) and value and not value.fa.flow_style():
        return _token_owner(value, len(value) - 1)
    return parent, key, 0 if isinstance(parent, CommentedSeq) else 2


def _following(parent: CommentedMap, key: Any) -> str:
    owner, at, slot = _token_owner(parent, key)
    slots = owner.ca.items.get(at)
    token = slots[slot] if slots and len(slots) > slot else None
    if token is None or "\n" not in token.value.rstrip("\n"):
        return ""
    return str(token.value).split("\n", 1)[1]


def _append(parent: CommentedMap, key: Any, text: str) -> None:
    owner, at, slot = _token_owner(parent, key)
    slots = owner.ca.items.setdefault(at, [None, None, None, None])
    token = slots[slot]
    if token is None:
        slots[slot] = CommentToken("\n" + text, CommentMark(0))
    else:
        token.value = token.value.rstrip("\n") + "\n" + text
