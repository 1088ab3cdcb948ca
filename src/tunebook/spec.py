"""Read a study file (YAML) into a validated, frozen :class:`StudySpec`.

Every mistake a user can make in the file is reported as one :class:`SpecError` that
names the file, the field and the fix, before anything is written to the store.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from tunebook import trainer as _trainer
from tunebook._spec_derive import Derivation, derived_fields
from tunebook._spec_model import SAMPLER_TYPES, StudyModel
from tunebook._spec_space import build_space
from tunebook.errors import SpecError
from tunebook.records import Objective, StudyRecord
from tunebook.space import Space

#: Fields that may change between runs of the same study without making it a new study
#: (how many trials, the words about it, what each trial asks of a cluster).
MUTABLE_FIELDS = ("budget", "description", "experiment", "resources", "timeout")
#: Where the study file was: recorded with the snapshot, not part of the study's identity.
LOCATION_FIELDS = ("source_dir", "source_file")


@dataclass(frozen=True)
class StudySpec:
    """A validated study: the parsed model, its space, and where it came from."""

    model: StudyModel
    space: Space
    path: Path | None = None
    folder: Path | None = None

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def source_dir(self) -> Path:
        """The study file's folder: the trainer's import path and a command's cwd."""
        if self.folder is not None:
            return self.folder
        return self.path.parent.resolve() if self.path is not None else Path.cwd()

    @property
    def objective(self) -> Objective:
        o = self.model.objective
        return Objective(o.metric, o.goal, o.select)

    @property
    def per_value(self) -> bool:
        """One sub-study per scientific value (else scientific values are searched jointly)."""
        return self.model.mode == "per_value"

    def shares(self, leaves: int) -> list[int]:
        """The trial budget split evenly over ``leaves`` leaf studies, capped by a grid."""
        total = self.model.budget.trials
        return [total // leaves + (1 if i < total % leaves else 0) for i in range(leaves)]

    def config(self) -> dict[str, Any]:
        """The study's settings as JSON-able data, without where the file was."""
        return self.model.model_dump(mode="json", exclude_defaults=False)

    def snapshot(self) -> dict[str, Any]:
        """The frozen, JSON-able spec stored with the study (plus where it came from)."""
        data = self.config()
        data["source_dir"] = str(self.source_dir)
        if self.path is not None:
            data["source_file"] = str(self.path.resolve())
        return data

    def identity_hash(self) -> str:
        """A hash of everything that makes this study *this* study (not budget/description)."""
        return identity_hash(self.snapshot())

    def derive(self, change: Derivation) -> StudySpec:
        """A new study made from this one by ``change``: the one way a workflow makes a
        study from another (see :mod:`tunebook._spec_derive`).

        Values keep their types, conditionals are edited in their blocks, and the result
        is validated as ``tunebook run`` validates a file; it keeps this study's file and
        folder, so its trainer is found where this one's is.

        Raises:
            SpecError: the change names a parameter the study lacks, or makes an invalid
                study (the message names the study it was derived from).
        """
        where = f"{self.path or self.name} (derived)"
        fields = derived_fields(self.model, change, where)
        out = _validated(fields, where)
        return StudySpec(out.model, out.space, path=self.path, folder=self.source_dir)


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
    every number in exponent form as a float, as YAML 1.2 does. A key written twice in one
    mapping is an error (PyYAML keeps the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> Any:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise _DuplicateKey(f"{key!r} is given twice (lines {seen[key]} and {line}); "
                                    "keep one", str(key))
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


class _DuplicateKey(Exception):
    def __init__(self, message: str, key: str):
        super().__init__(message)
        self.key = key


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"))


def read_yaml(path: Path) -> Any:
    """A YAML (or JSON) file's data, numbers in exponent form read as floats.

    Raises:
        SpecError: unreadable, not valid YAML, or a key given twice.
    """
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"cannot read the file ({exc.strerror}); check the path",
                        path=where) from exc
    except UnicodeDecodeError:
        raise SpecError("not a text file (it is not UTF-8): pass the YAML study file",
                        path=where) from None
    try:
        return yaml.load(text, Loader=_Loader)
    except _DuplicateKey as exc:
        raise SpecError(str(exc), path=where, field=exc.key) from None
    except yaml.YAMLError as exc:
        detail = str(exc).replace('"<unicode string>"', f'"{where}"')
        raise SpecError(f"not valid YAML: {detail}", path=where) from None


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
    spec = spec_from_dict(read_yaml(path), path=path)
    if check_trainer:
        check_trainer_exists(spec)
    return spec


def spec_from_dict(data: Any, *, path: Path | None = None) -> StudySpec:
    """Validate an already-parsed study file (a dict) into a :class:`StudySpec`."""
    out = _validated(data, str(path) if path else "<study>")
    return StudySpec(out.model, out.space, path=path)


def _validated(data: Any, where: str) -> StudySpec:
    if not isinstance(data, dict):
        raise SpecError("the study file must be a mapping of fields (name:, objective:, ...)",
                        path=where)
    try:
        model = StudyModel.model_validate(data)
    except ValidationError as exc:
        raise SpecError(_format_validation(exc), path=where) from None
    space = build_space(model, where)
    return StudySpec(model=model, space=space)


#: What a section must look like, in the words of the study file (for type errors).
EXPECTED = {
    "budget": "an integer (the number of trials), or {trials: N}",
    "sampler": f"a name ({', '.join(SAMPLER_TYPES)}), or {{type: NAME, seed: N}}",
    "objective": "{metric: NAME, goal: minimize or maximize}",
    "trainer": "{train: module:function} or {command: \"python train.py ...\"}",
    "resources": "{cpus: N, gpus: N}",
}


def _format_validation(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-"))
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = (f"unknown key {err['loc'][-1]!r}; check its spelling (`tunebook spec` "
                   "lists every field)")
            loc = ".".join(str(p) for p in err["loc"][:-1]) or "(top level)"
        elif err["type"] == "missing":
            msg = "this field is required"
        elif err["type"] == "string_pattern_mismatch":
            msg = "use letters, digits, '-', '_' and '.' only (it names the study on the CLI)"
        elif err["type"] in ("model_type", "dict_type", "model_attributes_type"):
            msg = f"expected {EXPECTED.get(loc, 'a mapping (indented key: value lines)')}"
        lines.append(f"{loc}: {msg}" if loc else msg)
    return lines[0] if len(lines) == 1 else "\n  " + "\n  ".join(lines)


def check_trainer_exists(spec: StudySpec) -> None:
    """Check the trainer without running it: module file and function, or command fields."""
    trainer = spec.model.trainer
    where = str(spec.path) if spec.path else "<study>"
    if trainer.command is not None:
        names = [*spec.space.fixed, *(d.name for d in (*spec.space.scientific,
                                                       *spec.space.nuisance))]
        _trainer.command_fields(trainer.command, names, where)
        return
    ref = trainer.ref
    assert ref is not None  # exactly one of train/command, checked by TrainerModel
    _trainer.check(ref, spec.source_dir, where)


def study_spec(study: StudyRecord) -> StudySpec:
    """The typed spec of a stored study: the one way to read a study's frozen snapshot.

    Workers and analysis never read the study file: a worker on another machine (or after
    the file was edited) runs exactly the study that was created. The record's name is
    kept as stored, so a study created through the API under any name still loads.
    """
    return spec_from_snapshot(study.spec, study.name)


def spec_from_snapshot(snapshot: Mapping[str, Any], name: str) -> StudySpec:
    """The typed spec a :meth:`StudySpec.snapshot` was taken of, named ``name`` (kept as
    given, so a study created through the API under any name still loads)."""
    plain = {k: v for k, v in snapshot.items() if k not in LOCATION_FIELDS}
    spec = spec_from_dict({**plain, "name": "stored-study"})
    model = spec.model.model_copy(update={"name": name})
    file, folder = snapshot.get("source_file"), snapshot.get("source_dir")
    return StudySpec(model, spec.space, path=Path(file) if file else None,
                     folder=Path(folder) if folder else None)
