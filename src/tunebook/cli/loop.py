"""The playbook loop's later steps: ``round2`` (train the best longer), ``baseline``,
``launch`` and ``launches`` (the baseline's history, each change with its evidence)."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from tunebook.cli._common import (
    console,
    db_option,
    err_console,
    exit_if_stopped,
    fleet_option,
    no_progress_option,
    open_db,
    print_run_summary,
    run_options,
    runs_dir_option,
    slots_option,
)

BASELINE_HELP = "Which baseline (a store may keep several, e.g. one per model)."


def baseline_option(fn: Any) -> Any:
    return click.option("--baseline", "name", default="main", show_default=True,
                        help=BASELINE_HELP)(fn)


def _when(stamp: float) -> str:
    return _dt.datetime.fromtimestamp(stamp).strftime("%Y-%m-%d %H:%M")


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else repr(value)


def _changes_text(changes: dict[str, list[Any]]) -> str:
    return ", ".join(f"{k}: {_short(old)} → {_short(new)}" if old is not None
                     else f"{k}={_short(new)}"
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

    record = open_db(db, create=False, read_only=True).baseline(name, version)
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
    from tunebook.workflows import read_config, set_baseline

    config = read_config(file)
    record = set_baseline(open_db(db), config, source=str(file), baseline=name, why=why,
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
    from tunebook.workflows import baseline_changes

    versions = open_db(db, create=False, read_only=True).baselines(name)
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
    checklist item of the study and of those it descends from. A failing item, a value that
    is not the best, or a gap within the noise refuses the launch, unless --force --why.
    The new version records who, when, why and the evidence; no version is overwritten.

    \b
      tunebook rerun act-study --seeds 5
      tunebook launch act-study-seeds --value gelu
      tunebook launches
    """
    from tunebook.workflows import gather
    from tunebook.workflows import launch as adopt

    store = open_db(db)
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

    made = [b for b in open_db(db, create=False, read_only=True).baselines(name) if b.launch]
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


@click.command()
@click.argument("study")
@click.option("--steps-factor", required=True, type=float,
              help="Round 2 trains this many times round 1's max_steps (e.g. 4).")
@click.option("--top", default=1, show_default=True,
              help="The K best distinct configurations of each scientific value.")
@click.option("--name", "child", default=None, help="The round-2 study's name "
              "[default: STUDY-xF, e.g. STUDY-x4].")
@click.option("--schedule-key", default="schedule", show_default=True,
              help="The parameter naming the schedule (constant, linear, cosine).")
@click.option("--warmup-key", default="warmup_steps", show_default=True)
@slots_option
@fleet_option
@db_option
@runs_dir_option
@no_progress_option
def round2(study: str, steps_factor: float, top: int, child: str | None, schedule_key: str,
           warmup_key: str, workers: int | None, devices: str, no_local_workers: bool,
           db: str | None, runs_dir: Path | None, no_progress: bool) -> None:
    """Train STUDY's best configurations longer (round 2), then compare the rankings.

    The schedule transfers by the playbook's rule (§3.1.2): a linear decay keeps its
    decay length (each trial gets decay_steps) and extends the constant phase; cosine
    keeps its base lr and stretches over the new max_steps; warmup stays. The trainer
    must build its schedule from t.max_steps and decay_steps (tunebook.torch.schedule_for
    does). Running it again finishes what is left of the same round-2 study.

    \b
      tunebook round2 charlm-schedule --steps-factor 4 --top 2
      tunebook report charlm-schedule-x4 -o round2.html
    """
    from tunebook.workflows import round2 as lengthen

    store = open_db(db)
    with run_options(no_progress, workers=workers, runs_dir=runs_dir,
                     devices=devices,
                     no_local_workers=no_local_workers) as options:
        done = lengthen(store, study, steps_factor=steps_factor, top=top, child=child,
                        schedule_key=schedule_key, warmup_key=warmup_key, options=options)
    made = done.made
    linear = sum("decay_steps" in c for c in made.configs)
    console.print(f"round 2 of [bold]{escape(study)}[/]: {len(made.configs)} configuration(s),"
                  f" {made.round1_steps} → {made.max_steps} steps, as [bold]"
                  f"{escape(made.study.name)}[/]" + (f" ({linear} linear decay(s) keep their "
                                                      "decay length)" if linear else ""))
    print_run_summary(store, done.run, header=False)
    if done.rounds is not None:
        _print_rounds(done.rounds)
    exit_if_stopped(done.run.stopped_by)


def _print_rounds(rounds: Any) -> None:
    table = Table("round-1 trial", "value", "round 1", "rank", "round 2", "rank",
                  title=f"{rounds.parent} → {rounds.child}")
    for row in rounds.rows:
        table.add_row(escape(row.trial), escape(row.value), f"{row.round1:.4g}",
                      str(row.rank1), "—" if row.round2 is None else f"{row.round2:.4g}",
                      "—" if row.rank2 is None else str(row.rank2))
    console.print(table)
    console.print(escape(rounds.text), highlight=False)


COMMANDS = (baseline, launch, launches, round2)
