"""``tunebook baseline``, ``launch`` and ``launches``: the baseline's history with evidence."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from tunebook.cli import _store, console, db_option, err_console

BASELINE_HELP = "Which baseline (a store may keep several, e.g. one per model)."


def baseline_option(fn: Any) -> Any:
    return click.option("--baseline", "name", default="main", show_default=True,
                        help=BASELINE_HELP)(fn)


def _when(stamp: float) -> str:
    return _dt.datetime.fromtimestamp(stamp).strftime("%Y-%m-%d %H:%M")


def _changes_text(changes: dict[str, list[Any]]) -> str:
    return ", ".join(f"{k}: {old!r} → {new!r}" if old is not None else f"{k}={new!r}"
                     for k, (old, new) in changes.items()) or "(no change)"


@click.group()
def baseline() -> None:
    """The baseline configuration: every version kept, each with who, when and why.

    \b
      tunebook baseline set base.yaml --why "starting point"   a new version from a file
      tunebook baseline show                                   the current version
      tunebook baseline history                                every version, what changed
      tunebook launch my-study-seeds --value gelu              adopt a value, with evidence
    """


@baseline.command(name="show")
@baseline_option
@click.option("--version", "version", type=int, default=None,
              help="Show this version instead of the latest.")
@db_option
def baseline_show(name: str, version: int | None, db: str | None) -> None:
    """Print one version of the baseline configuration (the latest by default)."""
    from tunebook.errors import TunebookError

    record = _store(db, create=False, read_only=True).baseline(name, version)
    if record is None:
        which = f"version {version} of " if version is not None else ""
        raise TunebookError(f"no {which}baseline {name!r} yet: set one with `tunebook "
                            f"baseline set FILE --baseline {name}`")
    table = Table("parameter", "value", title=f"baseline {record.name} v{record.version}")
    for key, value in sorted(record.config.items()):
        table.add_row(escape(key), escape(repr(value)))
    console.print(table)
    origin = f"launched from {record.study}" if record.launch else record.source
    console.print(f"{_when(record.created_at)} by {escape(record.author)} · {escape(origin)}"
                  + (" · [red]forced[/]" if record.forced else "")
                  + (f" · why: {escape(record.why)}" if record.why else ""))


@baseline.command(name="set")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@baseline_option
@click.option("--why", default="", help="Why this version (kept with it).")
@click.option("--author", default=None, help="Who sets it [default: the login name].")
@db_option
def baseline_set(file: Path, name: str, why: str, author: str | None, db: str | None) -> None:
    """Record FILE's configuration as the baseline's next version.

    FILE is YAML or JSON, one `name: value` per hyperparameter, or a study file (its
    fixed: section). Earlier versions are kept; an unchanged configuration adds nothing.
    """
    from tunebook.workflows.launch import read_config, set_baseline

    config = read_config(file)
    record = set_baseline(_store(db), config, source=str(file), baseline=name, why=why,
                          author=author)
    if record is None:
        console.print(f"baseline {escape(name)} already holds this configuration: nothing "
                      "added")
        return
    console.print(f"baseline {escape(name)} is now version {record.version} "
                  f"({len(config)} parameters from {escape(str(file))})")


@baseline.command(name="history")
@baseline_option
@db_option
def baseline_history(name: str, db: str | None) -> None:
    """Every version of the baseline: when, who, where from, what changed and why."""
    from tunebook.workflows.launch import baseline_changes

    versions = _store(db, create=False, read_only=True).baselines(name)
    if not versions:
        console.print(f"no baseline {escape(name)} yet")
        return
    table = Table("version", "when", "author", "from", "changes", "why",
                  title=f"baseline {name}")
    for record, changes in zip(versions, baseline_changes(versions), strict=True):
        origin = f"launch: {record.study}" if record.launch else record.source
        table.add_row(str(record.version), _when(record.created_at), escape(record.author),
                      escape(origin) + (" [red](forced)[/]" if record.forced else ""),
                      escape(_changes_text(changes)), escape(record.why))
    console.print(table)


@click.command()
@click.argument("study")
@click.option("--value", required=True,
              help="The scientific value to adopt: gelu, or act=gelu (act=gelu,width=64 "
                   "with several scientific parameters).")
@baseline_option
@click.option("--force", is_flag=True, help="Launch despite blockers (needs --why).")
@click.option("--why", default="", help="Why (kept with the new version).")
@click.option("--author", default=None, help="Who launches [default: the login name].")
@db_option
def launch(study: str, value: str, name: str, force: bool, why: str, author: str | None,
           db: str | None) -> None:
    """Adopt a scientific value of STUDY into the baseline, only with evidence.

    The evidence is the isolation result with its spread over seed re-runs (run
    `tunebook rerun STUDY --seeds 5` first and launch from STUDY-seeds) and every
    checklist item of the study and of the study it re-runs. A failing item, a value that
    is not the best, or a gap within the noise refuses the launch, unless --force --why.
    The new version records who, when, why and the evidence; no version is overwritten.

    \b
      tunebook rerun act-study --seeds 5
      tunebook launch act-study-seeds --value gelu
      tunebook launches
    """
    from tunebook.workflows.launch import gather
    from tunebook.workflows.launch import launch as adopt

    store = _store(db)
    evidence = gather(store, study, value, baseline=name)
    _print_evidence(evidence)
    record = adopt(store, evidence, baseline=name, force=force, why=why, author=author)
    mark = "[red]forced[/] " if record.forced else ""
    console.print(f"{mark}launched: baseline {escape(name)} is now version {record.version} "
                  f"({escape(_changes_text(evidence.changes))})")
    for note in evidence.notes:
        err_console.print(f"[yellow]warning:[/] {escape(note)}", highlight=False)


def _print_evidence(evidence: Any) -> None:
    table = Table("value", f"{evidence.metric} ({evidence.goal})", "spread", "over",
                  "best trial", title=f"isolation: {evidence.study}")
    for row in evidence.isolation:
        center = "—" if row["center"] is None else f"{row['center']:.4g}"
        spread = "—" if row["spread"] is None else f"{row['spread']:.3g}"
        over = (f"{row['seeds']} seeds" if row["spread_source"] == "seeds" else "top trials")
        table.add_row(escape(row["value"]), center, spread, over,
                      escape(str(row["best_trial"] or "—")))
    console.print(table)
    checks = Table("study", "checklist item", "state", title="checklist")
    for item in evidence.checklist:
        checks.add_row(escape(item["study"]), escape(item["question"]), item["verdict"])
    console.print(checks)
    console.print(escape(evidence.conclusion), highlight=False)


@click.command()
@click.option("--baseline", "name", default=None,
              help="Only this baseline's launches [default: every baseline].")
@db_option
def launches(name: str | None, db: str | None) -> None:
    """Every launch: which value of which study became which baseline version, and why."""
    from tunebook.space import combo_label

    made = [b for b in _store(db, create=False, read_only=True).baselines(name) if b.launch]
    if not made:
        console.print("no launches yet (tunebook launch STUDY --value X adopts one)")
        return
    table = Table("baseline", "version", "when", "study", "value", "author", "forced", "why",
                  title="launches")
    for record in made:
        value = combo_label((record.evidence or {}).get("value") or {})
        table.add_row(escape(record.name), str(record.version), _when(record.created_at),
                      escape(record.study or ""), escape(value), escape(record.author),
                      "yes" if record.forced else "", escape(record.why))
    console.print(table)
