"""Read a study file (YAML) into a validated, frozen :class:`StudySpec`.

Every mistake a user can make in the file is reported as one :class:`SpecError` that
names the file, the field and the fix, before anything is written to the store.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import json
import re
import string
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from tunebook._spec_model import ParamModel, StudyModel
from tunebook.errors import SpecError
from tunebook.space import (
    ChoiceDomain,
    Dimension,
    Domain,
    FloatDomain,
    IntDomain,
    Role,
    Scale,
    Space,
)

#: Fields that may change between runs of the same study without making it a new study
#: (how many trials, the words about it, what each trial asks of a cluster).
MUTABLE_FIELDS = ("budget", "description", "resources")
#: Where the study file was: recorded with the snapshot, not part of the study's identity.
LOCATION_FIELDS = ("source_dir", "source_file")


@dataclass(frozen=True)
class StudySpec:
    """A validated study: the parsed model, its space, and where it came from."""

    model: StudyModel
    space: Space
    path: Path | None = None

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def source_dir(self) -> Path:
        return self.path.parent.resolve() if self.path else Path.cwd()

    def snapshot(self) -> dict[str, Any]:
        """The frozen, JSON-able spec stored with the study (plus where it came from)."""
        data = self.model.model_dump(mode="json", exclude_defaults=False)
        data["source_dir"] = str(self.source_dir)
        if self.path is not None:
            data["source_file"] = str(self.path.resolve())
        return data

    def identity_hash(self) -> str:
        """A hash of everything that makes this study *this* study (not budget/description)."""
        return identity_hash(self.snapshot())


def identity_hash(snapshot: Mapping[str, Any]) -> str:
    data = {k: v for k, v in snapshot.items() if k not in (*MUTABLE_FIELDS, *LOCATION_FIELDS)}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def changed_fields(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Dotted names of the fields that differ between two snapshots (for error messages)."""
    out: list[str] = []
    for key in sorted(set(old) | set(new)):
        if not prefix and key in (*MUTABLE_FIELDS, *LOCATION_FIELDS):
            continue
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += changed_fields(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}")
    return out


class _Loader(yaml.SafeLoader):
    """YAML 1.1 reads ``1e-4`` as a string; learning rates are written that way, so read
    every number in exponent form as a float, as YAML 1.2 does."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"))


def load_spec(path: str | Path, *, check_trainer: bool = True) -> StudySpec:
    """Read, validate and freeze a study file.

    Args:
        path: the YAML study file.
        check_trainer: also check that the trainer can be found (module file and function,
            or command placeholders), without running any of its code.

    Raises:
        SpecError: naming the file, the field and the fix.
    """
    path = Path(path)
    where = str(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise SpecError(f"cannot read the study file ({exc.strerror}); check the path",
                        path=where) from exc
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise SpecError(f"not valid YAML: {exc}", path=where) from exc
    spec = spec_from_dict(data, path=path)
    if check_trainer:
        check_trainer_exists(spec)
    return spec


def spec_from_dict(data: Any, *, path: Path | None = None) -> StudySpec:
    """Validate an already-parsed study file (a dict) into a :class:`StudySpec`."""
    where = str(path) if path else "<study>"
    if not isinstance(data, dict):
        raise SpecError("the study file must be a mapping of fields (name:, objective:, ...)",
                        path=where)
    try:
        model = StudyModel.model_validate(data)
    except ValidationError as exc:
        raise SpecError(_format_validation(exc), path=where) from None
    space = build_space(model, where)
    return StudySpec(model=model, space=space, path=path)


def _format_validation(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-"))
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = f"unknown key {err['loc'][-1]!r}; check its spelling in docs/spec.md"
            loc = ".".join(str(p) for p in err["loc"][:-1]) or "(top level)"
        elif err["type"] == "missing":
            msg = "this field is required"
        elif err["type"] == "string_pattern_mismatch":
            msg = "use letters, digits, '-', '_' and '.' only (it names the study on the CLI)"
        lines.append(f"{loc}: {msg}" if loc else msg)
    return lines[0] if len(lines) == 1 else "\n  " + "\n  ".join(lines)


def _domain(param: ParamModel) -> Domain:
    kind = param.kind
    if kind in ("categorical", "discrete"):
        values = tuple(param.values or ())
        if kind == "discrete":
            values = tuple(sorted(values, key=float))
        return ChoiceDomain(values=values, ordered=kind == "discrete")
    scale = Scale(param.scale)
    assert param.low is not None and param.high is not None  # checked by ParamModel
    if kind == "int":
        return IntDomain(int(param.low), int(param.high), scale)
    return FloatDomain(param.low, param.high, scale)


def build_space(model: StudyModel, where: str) -> Space:
    """Turn the validated tables into a :class:`Space`, checking cross-field rules."""
    seen: dict[str, str] = {}

    def claim(name: str, section: str) -> None:
        if name in seen:
            raise SpecError(f"{name!r} is also declared under {seen[name]}; a hyperparameter "
                            "has one role, so keep it in one section", path=where,
                            field=f"{section}.{name}")
        seen[name] = section

    for name in model.fixed:
        claim(name, "fixed")
    scientific = []
    for name, param in model.scientific.items():
        claim(name, "scientific")
        scientific.append(Dimension(name, _domain(param), Role.SCIENTIFIC))
    nuisance = []
    for name, param in model.nuisance.items():
        claim(name, "nuisance")
        nuisance.append(Dimension(name, _domain(param), Role.NUISANCE))
    nuisance += _conditionals(model, scientific, seen, where)
    if model.mode == "per_value" and not scientific:
        raise SpecError("per_value runs one sub-study per scientific value, but no scientific "
                        "parameter is declared; add one or use mode: joint",
                        path=where, field="mode")
    return Space(tuple(scientific), tuple(nuisance), dict(model.fixed))


def _conditionals(model: StudyModel, scientific: list[Dimension], seen: Mapping[str, str],
                  where: str) -> list[Dimension]:
    by_name = {d.name: d for d in scientific}
    dims = []
    for sci_name, per_value in model.conditional.items():
        field = f"conditional.{sci_name}"
        sci = by_name.get(sci_name)
        if sci is None:
            raise SpecError(f"{sci_name!r} is not a scientific parameter; conditional blocks "
                            f"are keyed by one of {sorted(by_name) or 'the scientific names'}",
                            path=where, field=field)
        assert isinstance(sci.domain, ChoiceDomain)
        known = {str(v): v for v in sci.domain.values}
        for value_text, table in per_value.items():
            if value_text not in known:
                raise SpecError(f"{value_text!r} is not a value of scientific parameter "
                                f"{sci_name!r}; use one of {list(known)}",
                                path=where, field=f"{field}.{value_text}")
            for name, param in table.items():
                if name in seen:
                    raise SpecError(f"{name!r} is already declared under {seen[name]}; "
                                    "rename the conditional one", path=where,
                                    field=f"{field}.{value_text}.{name}")
                dims.append(Dimension(name, _domain(param), Role.NUISANCE,
                                      condition=(sci_name, known[value_text])))
    return dims


@contextmanager
def on_sys_path(directory: Path) -> Iterator[None]:
    """Put the study file's folder first on ``sys.path`` for the duration."""
    entry = str(directory)
    sys.path.insert(0, entry)
    try:
        yield
    finally:
        if entry in sys.path:
            sys.path.remove(entry)


def check_trainer_exists(spec: StudySpec) -> None:
    """Check the trainer without running it: module file and function, or command fields.

    A ``module:function`` trainer is looked up relative to the study file's folder, then on
    ``sys.path``; the function must be defined at the top level of the module.
    """
    trainer = spec.model.trainer
    where = str(spec.path) if spec.path else "<study>"
    if trainer.command is not None:
        _check_command(trainer.command, spec, where)
        return
    assert trainer.train is not None
    module, _, function = trainer.train.partition(":")
    with on_sys_path(spec.source_dir):
        try:
            found = importlib.util.find_spec(module)
        except (ImportError, ValueError) as exc:
            found, error = None, str(exc)
        else:
            error = ""
    if found is None or found.origin is None:
        raise SpecError(f"cannot find module {module!r} {error}(looked in {spec.source_dir} and "
                        "on sys.path); put it next to the study file or install it",
                        path=where, field="trainer.train")
    if found.origin.endswith(".py"):
        _check_defines(Path(found.origin), module, function, where)


def _check_defines(source: Path, module: str, function: str, where: str) -> None:
    try:
        defined = _defines(source, function)
    except SyntaxError as exc:
        raise SpecError(f"module {module!r} ({source}) has a syntax error at line {exc.lineno}: "
                        f"{exc.msg}; fix it before running the study",
                        path=where, field="trainer.train") from None
    if not defined:
        raise SpecError(f"module {module!r} ({source}) has no top-level function "
                        f"{function!r}; check the name after the colon",
                        path=where, field="trainer.train")


def _defines(source: Path, name: str) -> bool:
    tree = ast.parse(source.read_text(), filename=str(source))
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
            return True
        if isinstance(node, ast.Assign | ast.AnnAssign | ast.ImportFrom | ast.Import):
            targets = (node.targets if isinstance(node, ast.Assign)
                       else [node.target] if isinstance(node, ast.AnnAssign) else [])
            names = [t.id for t in targets if isinstance(t, ast.Name)]
            if isinstance(node, ast.ImportFrom | ast.Import):
                names = [a.asname or a.name.split(".")[0] for a in node.names]
            if name in names:
                return True
    return False


def _check_command(command: str, spec: StudySpec, where: str) -> None:
    known = set(spec.space.fixed) | {d.name for d in (*spec.space.scientific,
                                                      *spec.space.nuisance)}
    known |= {"trial_index", "seed", "checkpoint_dir"}
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(command) if f]
    except ValueError as exc:
        raise SpecError(f"bad placeholder syntax ({exc}); write {{name}}, and {{{{ }}}} for a "
                        "literal brace", path=where, field="trainer.command") from None
    for name in fields:
        if name not in known:
            raise SpecError(f"placeholder {{{name}}} names no hyperparameter; known names: "
                            f"{sorted(known)}", path=where, field="trainer.command")
