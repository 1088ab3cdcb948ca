"""``tunebook autopilot``: run the playbook's loop under a budget; ``status``, ``approve``
and ``reject`` read and steer it."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from tunebook.cli._common import (
    console,
    db_option,
    echo_rows,
    err_console,
    exit_if_stopped,
    format_option,
    no_progress_option,
    open_db,
    runs_dir_option,
)

SUBCOMMANDS = ("run", "status", "approve", "reject")


class _Autopilot(click.Group):
    """``tunebook autopilot STUDY.yaml …`` is ``tunebook autopilot run STUDY.yaml …``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        first = next((a for a in args if not a.startswith("-")), None)
        if first is not None and first not in SUBCOMMANDS and "--help" not in args \
                and "-h" not in args[:1]:
            args = ["run", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_Autopilot)
def autopilot() -> None:
    """Run the playbook's whole loop on a study file under a budget, explaining each step.

    \b
    explore   the study as written (quasi-random), a share of the budget
    fix       while the checklist fails on the space: widen, cut, fix, sample more
    exploit   Bayesian optimisation, warm-started from the exploration
    settle    the best configuration of each value again, over seeds
    decide    launch the leader into the baseline if the evidence holds, else "not yet"
    round2    (--round2 F) each value's leader trained F× longer; did the ranking hold?

    \b
      tunebook autopilot study.yaml --budget 60 -w 2     run it (again: resume it)
      tunebook autopilot study.yaml --budget 6h          a time budget
      tunebook autopilot study.yaml --budget 60 --approve   stop before each step
      tunebook autopilot status NAME                     the timeline: what, why, cost
      tunebook autopilot approve NAME                    go on with the proposed step
      tunebook autopilot reject NAME --why "..."         skip it; take the next best
    """


def _pilot_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed((
            click.option("-w", "--workers", type=int, default=None,
                         help="Trials at the same time, each in its own process [default: "
                         "1 for a new autopilot; on resume, approve and reject, the "
                         "number it last ran with]."),
            click.option("--devices", default="", metavar="IDS",
                         help="GPU ids for the trials, e.g. 0,1,2,3 (as `tunebook run "
                         "--devices`): each trial gets cards of its own; -w then defaults "
                         "to as many trials as they allow."),
            click.option("--no-local-workers", is_flag=True,
                         help="Train nothing here: queue each study the autopilot decides "
                         "on and wait while `tunebook worker` processes elsewhere (one "
                         "PostgreSQL store) run it; decisions, budget and resume as usual."),
            db_option, runs_dir_option,
            click.option("--executor", type=click.Choice(["local", "ray"]), default="local",
                         show_default=True, help="As for `tunebook run`."),
            click.option("--address", default="auto", show_default=True,
                         help="With --executor ray: the cluster."),
            no_progress_option)):
        fn = option(fn)
    return fn


@autopilot.command(name="run")
@click.argument("spec_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--budget", required=True, metavar="N|TIME",
              help="Trainings in all (40), or a time (6h, 90m): every trial counts, "
              "re-runs and round 2 included; a pruned trial counts the steps it ran.")
@click.option("--approve", is_flag=True, help="Stop before each step that spends budget or "
              "changes the baseline, and show it; `approve`/`reject` goes on.")
@click.option("--round2", type=float, default=None, metavar="F",
              help="Finally train each value's leader F× longer and check the ranking.")
@click.option("--baseline", default="main", show_default=True,
              help="The baseline a launch goes into.")
@_pilot_options
def run(spec_file: Path, budget: str, approve: bool, round2: float | None, baseline: str,
        **run: Any) -> None:
    """Start (or resume) the autopilot on a study file.

    
    It answers the file's question (which scientific value is best; with none, which
    configuration) under --budget: explore as written, fix the space while the checklist
    fails on it, exploit with Bayesian optimisation, re-run each value's best over seeds,
    then launch into the baseline only if the gap beats the seed spread. The file's own
    budget is not used: the autopilot sizes each round. Each decision is printed as it
    is made and kept in the database: run the same command again after an interruption
    to resume, `tunebook autopilot status NAME` for the timeline (docs/autopilot.md).
    When every trial of a round fails it stops and exits 1; fix the cause, `tunebook
    retry STUDY --status failed,infeasible`, and run it again to go on. A finished
    autopilot run again with a larger --budget settles more seeds and decides again.
    """
    from tunebook.spec import load_spec
    from tunebook.workflows import autopilot as drive

    spec = load_spec(spec_file)
    store = open_db(run.pop("db"))
    if run["workers"] is None and not run["devices"] and not store.decisions(spec.name):
        run["workers"] = 1
    _drive(store, spec.name, run, lambda options, show: drive(
        spec, store, budget=budget, round2=round2, approve=approve, baseline=baseline,
        options=options, on_decision=show))


@autopilot.command()
@click.argument("name")
@db_option
@format_option
def status(name: str, db: str | None, fmt: str) -> None:
    """The timeline of autopilot NAME: each decision, why, its statistic, the budget."""
    from tunebook.report.timeline import console_table, rows
    from tunebook.workflows import timeline_of

    timeline = timeline_of(open_db(db, create=False, read_only=True), name)
    if fmt != "table":
        echo_rows(rows(timeline), fmt)
        return
    console.print(console_table(timeline, f"autopilot {name}"))
    _next_step(name, timeline[-1])


@autopilot.command(name="approve")
@click.argument("name")
@click.option("--why", default="", help="Your reason, kept with the decision.")
@_pilot_options
def approve_cmd(name: str, why: str, **run: Any) -> None:
    """Approve the step autopilot NAME proposed, and go on."""
    _resolve_and_go(name, why, run, approve=True)


@autopilot.command(name="reject")
@click.argument("name")
@click.option("--why", default="", help="Your reason, kept with the decision.")
@_pilot_options
def reject_cmd(name: str, why: str, **run: Any) -> None:
    """Reject the step autopilot NAME proposed; it takes the next best action."""
    _resolve_and_go(name, why, run, approve=False)


def _resolve_and_go(name: str, why: str, run: dict[str, Any], *, approve: bool) -> None:
    """Approve or reject the proposed step, then resume the autopilot."""
    from tunebook.workflows import approve as approved
    from tunebook.workflows import reject, resume

    store = open_db(run.pop("db"))
    (approved if approve else reject)(store, name, why)
    _drive(store, name, run, lambda options, show: resume(
        store, name, options=options, on_decision=show))


def _drive(store: Any, name: str, run: dict[str, Any], go: Callable[..., Any]) -> None:
    """Run the autopilot with a progress bar, printing each decision as it is made."""
    from tunebook.report.console import ProgressBar
    from tunebook.runner.devices import parse_devices
    from tunebook.workflows import RunOptions, settings_of

    before = store.decisions(name)
    if before:
        last = before[-1]
        err_console.print(f"resuming autopilot {escape(name)} at #{last.seq} "
                          f"{escape(last.phase.value)}: {escape(last.summary)}",
                          highlight=False)
    devices = parse_devices(run["devices"])
    workers = run["workers"] or (None if devices else settings_of(before).workers if before
                                 else 1)
    made: list[Any] = []

    def show(d: Any) -> None:
        made.append(d)
        _show(d)

    with ProgressBar(console, enabled=not run["no_progress"]) as bar:
        options = RunOptions(workers=workers, runs_dir=run["runs_dir"],
                             on_progress=bar.update, executor=run["executor"],
                             ray_address=run["address"], devices=devices,
                             local_workers=not run["no_local_workers"])
        pilot = go(options, show)
    exit_if_stopped(pilot.stopped_by)
    if pilot.finished and not made:
        err_console.print(f"autopilot {escape(name)} finished already: "
                          f"{escape(pilot.outcome)}. Run it with a larger --budget than "
                          f"{pilot.last.budget:g} to go on (more seeds of the settled "
                          "configurations, then the decision again)", highlight=False)
    _next_step(name, pilot.last)
    if pilot.halted:
        sys.exit(1)


def _show(d: Any) -> None:
    state = "" if d.state.value == "made" else f" [yellow]({d.state.value})[/]"
    console.print(f"[bold]#{d.seq} {escape(d.phase)}[/]{state}: {escape(d.summary)}\n"
                  f"   [dim]{escape(d.why)}[/]", highlight=False)
    for h in d.stats.get("held") or []:
        console.print(f"   [dim]held: {escape(h['what'])}: {escape(h['why'])}[/]",
                      highlight=False)


def _next_step(name: str, last: Any) -> None:
    """What the user can do now."""
    if last.state.value == "proposed":
        err_console.print(f"[yellow]waiting for approval:[/] {escape(last.summary)}. Go on "
                          f"with `tunebook autopilot approve {escape(name)}` or `tunebook "
                          f"autopilot reject {escape(name)} --why \"...\"`", highlight=False)
    elif last.action.value == "stop":
        err_console.print(f"[red]autopilot {escape(name)} stopped:[/] {escape(last.why)}",
                          highlight=False)
    elif last.action.value != "done":
        err_console.print(f"autopilot {escape(name)} has not finished; run it again to go "
                          "on", highlight=False)


COMMANDS = (autopilot,)
