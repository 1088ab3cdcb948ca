"""``tunebook next``: the next study file, designed from this one's checklist.

The checklist's typed findings become typed changes (:func:`~tunebook.analysis.nextstudy.
plan_next`); the changes make the next study through the one derivation
(:meth:`~tunebook.spec.StudySpec.derive`), and the file the user reads is their own study
file edited in place (:mod:`tunebook._spec_yaml`): their comments and layout kept, each
change under a comment that gives its reason. The written file must load to exactly the
derived study, and must run where it is written; otherwise nothing is left behind.

    >>> made = next_study(open_store("tunebook.db"), "edge")
    >>> [(c.kind.value, c.where, c.reason) for c in made.changes], made.path
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tunebook._spec_derive import Change, from_changes
from tunebook._spec_yaml import dump_study, edit_study
from tunebook.analysis.nextstudy import Held, next_name, plan_next
from tunebook.analysis.report import study_report
from tunebook.errors import TunebookError
from tunebook.spec import StudySpec, changed_fields, load_spec
from tunebook.store import Store


@dataclass(frozen=True)
class NextStudy:
    """The next study: its typed spec, the changes that made it, those held back for
    want of evidence (each with what would settle it), and the file written."""

    spec: StudySpec
    changes: list[Change]
    held: list[Held]
    path: Path
    edited_source: bool


def _source_text(spec: StudySpec) -> tuple[str, bool]:
    """The user's file when it still holds the study that ran, else the stored snapshot
    written out plainly (a file edited since, or gone, cannot be trusted to match)."""
    path = spec.path
    if path is not None and path.exists():
        try:
            current = load_spec(path, check_trainer=False)
        except TunebookError:
            current = None
        if current is not None and not changed_fields(current.config(), spec.config()):
            return path.read_text(), True
    return dump_study(spec.model.model_dump(mode="json", exclude_defaults=True)), False


def next_study(store: Store, name: str, *, output: Path | None = None,
               force: bool = False) -> NextStudy:
    """Design, write and check the next study of ``name``.

    Args:
        store: where the study ran.
        name: the study.
        output: where to write it [default: ``NEXT-NAME.yaml`` beside the study's file].
        force: overwrite a file that is there (it may be one the user edited and ran).

    Raises:
        SpecError: the study has no completed trial.
        TunebookError: the file exists and ``force`` is not given.
        TunebookError: the written file would not run where it was written (the file is
            removed again).
    """
    report = study_report(store, name)
    plan = plan_next(report.data, report.findings, report.noise)
    changes = plan.changes
    spec = report.data.spec
    new_name = next_name(report.data.study.name)
    derived = spec.derive(from_changes(changes, name=new_name))
    text, edited = _source_text(spec)
    target = output or spec.source_dir / f"{new_name}.yaml"
    before = target.read_text() if target.is_file() else None
    if before is not None and not force:
        raise TunebookError(f"{target} exists (you may have edited or run it): pass --force "
                            "to overwrite it, or -o PATH to write the next study elsewhere")
    held = [f"not changed: {h.reason}" for h in plan.held]
    target.write_text(edit_study(text, changes, name=new_name, where=str(spec.path), header=[
        f"Written by `tunebook next` from {name}'s checklist: each change below says",
        "why. Review it, then: tunebook run THIS_FILE", *held, ""]))
    try:
        written = load_spec(target)  # what it wrote must run as is
    except TunebookError as exc:
        _undo(target, before)  # never leave a file behind that `tunebook run` would refuse
        raise TunebookError(f"the next study file would not run where it was to be written "
                            f"({exc}); write it beside {spec.source_dir} (the default), or "
                            "put the trainer where that folder finds it") from None
    differs = changed_fields(derived.config(), written.config())
    if differs:
        _undo(target, before)
        raise TunebookError(f"the edited study file differs from the derived study in "
                            f"{', '.join(differs)}: this is a bug in tunebook next, please "
                            "report it with the study file")
    return NextStudy(derived, changes, plan.held, target, edited)


def _undo(target: Path, before: str | None) -> None:
    """Put back what was at ``target`` before it was written (nothing, or a file)."""
    if before is None:
        target.unlink()
    else:
        target.write_text(before)
