"""The user's trainer: a ``module:function`` reference or a shell command template.

One place parses, locates, loads and renders them: the spec validates through
:func:`check`, the runner preloads :attr:`TrainerRef.module`, the trial process calls
:func:`load`, and a command trainer's line comes from :func:`render_command`.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import shlex
import string
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunebook.errors import SpecError

#: Placeholders every command template may use besides the hyperparameter names.
TRIAL_FIELDS = ("trial_index", "seed", "checkpoint_dir")


@dataclass(frozen=True)
class TrainerRef:
    """``module:function``, parsed."""

    module: str
    function: str

    @classmethod
    def parse(cls, text: str) -> TrainerRef:
        """Split ``module:function``; ``ValueError`` with the expected shape otherwise."""
        module, _, function = text.partition(":")
        if not module or not function or not all(
                p.isidentifier() for p in (*module.split("."), function)):
            raise ValueError(f"train must look like module:function (e.g. train:main), "
                             f"got {text!r}")
        return cls(module, function)

    def __str__(self) -> str:
        return f"{self.module}:{self.function}"


@contextmanager
def on_sys_path(directory: Path | str) -> Iterator[None]:
    """Put the study file's folder first on ``sys.path`` for the duration (and only then)."""
    entry = str(directory)
    sys.path.insert(0, entry)
    try:
        yield
    finally:
        if entry in sys.path:
            sys.path.remove(entry)


def check(ref: TrainerRef, folder: Path, where: str) -> None:
    """Find the module and the function without running any of the user's code.

    The module is looked up relative to the study file's folder, then on ``sys.path``; the
    function must be defined (or imported) at the top level of the module.
    """
    top = ref.module.split(".")[0]
    if top in sys.stdlib_module_names or top in ("tunebook", "torch"):
        raise SpecError(f"the trainer module {ref.module!r} has the name of a module Python "
                        f"(or tunebook) already loads, {top!r}: that one would run instead of "
                        f"yours and every trial would fail. Rename your file (e.g. "
                        f"train_{top}.py) and write train: train_{top}:{ref.function}",
                        path=where, field="trainer.train")
    with on_sys_path(folder):
        try:
            found = importlib.util.find_spec(ref.module)
        except (ImportError, ValueError) as exc:
            found, error = None, str(exc)
        else:
            error = ""
    if found is None or found.origin is None:
        raise SpecError(f"cannot find module {ref.module!r} {error}(looked in {folder} and "
                        "on sys.path); put it next to the study file or install it",
                        path=where, field="trainer.train")
    if found.origin.endswith(".py"):
        _check_defines(Path(found.origin), ref, where)


def _check_defines(source: Path, ref: TrainerRef, where: str) -> None:
    try:
        defined = _defines(source, ref.function)
    except SyntaxError as exc:
        raise SpecError(f"module {ref.module!r} ({source}) has a syntax error at line "
                        f"{exc.lineno}: {exc.msg}; fix it before running the study",
                        path=where, field="trainer.train") from None
    if not defined:
        raise SpecError(f"module {ref.module!r} ({source}) has no top-level function "
                        f"{ref.function!r}; check the name after the colon",
                        path=where, field="trainer.train")


def _defines(source: Path, name: str) -> bool:
    tree = ast.parse(source.read_text(), filename=str(source))
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
            return True
        names: list[str] = []
        if isinstance(node, ast.Assign):
            names = [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names = [node.target.id]
        elif isinstance(node, ast.ImportFrom | ast.Import):
            names = [a.asname or a.name.split(".")[0] for a in node.names]
        if name in names:
            return True
    return False


def load(ref: TrainerRef, folder: str) -> Any:
    """Import the trainer, preferring the study folder's own module of that name.

    The zygote may have preloaded a same-named module of another study (every example
    calls its file ``train.py``); such a module is dropped and re-imported. Runs inside the
    trial process, whose ``sys.path`` dies with it.
    """
    if folder in sys.path:
        sys.path.remove(folder)
    sys.path.insert(0, folder)
    base = Path(folder, *ref.module.split("."))
    local = next((p for p in (base.with_suffix(".py"), base / "__init__.py") if p.exists()), None)
    loaded = sys.modules.get(ref.module)
    loaded_file = getattr(loaded, "__file__", None)
    if local is not None and loaded_file and Path(loaded_file).resolve() != local.resolve():
        del sys.modules[ref.module]
    return getattr(importlib.import_module(ref.module), ref.function)


def command_fields(template: str, known: Iterable[str], where: str) -> list[str]:
    """The placeholders of a command template, each checked against ``known`` names."""
    allowed = {*known, *TRIAL_FIELDS}
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f]
    except ValueError as exc:
        raise SpecError(f"bad placeholder syntax ({exc}); write {{name}}, and {{{{ }}}} for a "
                        "literal brace", path=where, field="trainer.command") from None
    for name in fields:
        if name not in allowed:
            raise SpecError(f"placeholder {{{name}}} names no hyperparameter; known names: "
                            f"{sorted(allowed)}", path=where, field="trainer.command")
    quoted = _quoted_fields(template)
    if quoted:
        raise SpecError(f"placeholder {{{quoted[0]}}} is inside quotes: write {{{quoted[0]}}} "
                        "bare, tunebook quotes each value itself (inside quotes the shell "
                        "would read a value such as $(cmd) as code, or the trainer would get "
                        "the quotes as part of the value)", path=where,
                        field="trainer.command")
    return fields


def _quoted_fields(template: str) -> list[str]:
    """The placeholders that sit inside a '…' or "…" of the template's own text."""
    out: list[str] = []
    quote: str | None = None
    for text, field, _, _ in string.Formatter().parse(template):
        escaped = False
        for ch in text:
            if escaped:
                escaped = False
            elif ch == "\\" and quote != "'":
                escaped = True
            elif quote is None and ch in "'\"":
                quote = ch
            elif ch == quote:
                quote = None
        if field and quote is not None:
            out.append(field)
    return out


#: Characters that only a shell understands; a template with none of them (outside its
#: placeholders) runs without a shell.
SHELL_SYNTAX = frozenset("|&;<>()$`*?[]~!#\n")


def needs_shell(template: str) -> bool:
    """Whether the template itself uses shell syntax (pipes, redirections, ``&&``, globs)."""
    literal = "".join(text for text, _, _, _ in string.Formatter().parse(template))
    return any(ch in SHELL_SYNTAX for ch in literal)


def render_command(template: str, values: Mapping[str, Any]) -> list[str]:
    """The argv of one trial's command, each substituted value one quoted word.

    Values are quoted with :func:`shlex.quote`, so a categorical value ``a b`` stays one
    argument and ``$(touch X)`` is text, never code. Without shell syntax in the template,
    the command runs with no shell at all; with it, through ``/bin/sh -c`` with the values
    still quoted. Placeholders of inactive conditionals become empty.
    """
    quoted = {k: shlex.quote(str(v)) for k, v in values.items()}
    line = string.Formatter().vformat(template, (), _Blank(quoted))
    return ["/bin/sh", "-c", line] if needs_shell(template) else shlex.split(line)


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""
