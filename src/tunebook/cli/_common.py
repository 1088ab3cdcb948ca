"""What every command shares: the consoles, the common options, opening the store, and
printing a run's outcome."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

import click
from rich.console import Console
from rich.markup import escape

from tunebook.errors import TunebookError

if TYPE_CHECKING:
    from tunebook.workflows import RunOptions


def _width(stream: TextIO) -> int | None:
    """Full-width tables in logs and pipes (rich would clip them at 80 columns); a terminal,
    or an explicit $COLUMNS, decides for itself."""
    return None if stream.isatty() or "COLUMNS" in os.environ else 1000


console = Console(width=_width(sys.stdout))
err_console = Console(stderr=True, width=_width(sys.stderr))
F = TypeVar("F", bound=Callable[..., Any])

DB_HELP = ("Database: a SQLite file path or any SQLAlchemy URL "
           "(e.g. postgresql+psycopg://user@host/db). Default: $TUNEBOOK_DB or ./tunebook.db.")


def db_option(fn: F) -> F:
    return click.option("--db", envvar="TUNEBOOK_DB", default=None, help=DB_HELP)(fn)


def open_db(db: str | None, *, create: bool = True, read_only: bool = False) -> Any:
    """The store ``--db`` names (default: $TUNEBOOK_DB or ./tunebook.db)."""
    from tunebook.store import open_store

    return open_store(db, create=create, read_only=read_only)


def no_progress_option(fn: F) -> F:
    return click.option("--no-progress", is_flag=True,
                        help="Do not draw the progress bar.")(fn)


@contextlib.contextmanager
def run_options(no_progress: bool, *, workers: int | None = 1, runs_dir: Path | None = None,
                devices: str = "", no_local_workers: bool = False) -> Iterator[RunOptions]:
    """A workflow's run options with the live progress bar (one line per study it runs);
    ``devices`` and ``workers`` as :func:`slots_option` reads them."""
    from tunebook.report.console import ProgressBar
    from tunebook.runner.devices import parse_devices
    from tunebook.workflows import RunOptions

    chosen = parse_devices(devices)
    with ProgressBar(console, enabled=not no_progress) as bar:
        yield RunOptions(workers=workers if workers or not chosen else None,
                         runs_dir=runs_dir, on_progress=bar.update, devices=chosen,
                         local_workers=not no_local_workers)


def fleet_option(fn: F) -> F:
    """``--no-local-workers`` of a workflow: queue each study and wait for a fleet."""
    return click.option("--no-local-workers", is_flag=True,
                        help="Run no trial here: queue each study and wait while `tunebook "
                        "worker` processes on other machines (one PostgreSQL store) run "
                        "it.")(fn)


def slots_option(fn: F) -> F:
    """``-w/--workers`` and ``--devices``: trials at a time, and the GPUs they get."""
    fn = click.option("--devices", default="", metavar="IDS",
                      help="GPU ids for the trials, e.g. 0,1,2,3: each trial gets cards of "
                      "its own (as many as the study's resources.gpus asks, 1 without it; "
                      "0.5 puts two trials on a card) through CUDA_VISIBLE_DEVICES. "
                      "Without it a study asking for GPUs uses the visible ones.")(fn)
    return click.option("-w", "--workers", type=int, default=None,
                        help="Trials at the same time, each in its own process [default: 1; "
                        "with GPUs, as many as the devices allow].")(fn)


def runs_dir_option(fn: F) -> F:
    return click.option("--runs-dir", type=click.Path(file_okay=False, path_type=Path),
                        default=None, help="Where trial logs and checkpoints go (default: "
                        "next to a SQLite file, else ./tunebook-runs). Use a shared folder "
                        "when workers on several machines must resume each other's trials.",
                        )(fn)


def trial_timeout_option(fn: F) -> F:
    return click.option("--trial-timeout", default=None, metavar="DURATION",
                        help="Kill and fail a trial that runs longer than this (e.g. 2h, "
                        "30m, 90s); overrides the study file's `timeout`.")(fn)


def duration(text: str | None) -> float | None:
    """``--trial-timeout``'s text as seconds."""
    from tunebook._spec_model import parse_duration

    if text is None:
        return None
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise TunebookError(f"--trial-timeout: {exc}") from None


def check_output_file(path: Path, option: str) -> None:
    """Refuse an output path that cannot be written before doing the work that fills it."""
    folder = path.resolve().parent
    if not folder.is_dir():
        raise TunebookError(f"{option}: folder {folder} does not exist; create it or pass "
                            "another path")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise TunebookError(f"{option}: {path} is not writable; pass another path")


def exit_if_stopped(stopped_by: str | None) -> None:
    """After Ctrl-C (130) or SIGTERM (143): say what happened and exit with its status."""
    if stopped_by is None:
        return
    err_console.print(f"[yellow]stopped by {stopped_by}:[/] trials in flight were re-queued; "
                      "run the same command again to continue.")
    sys.exit(143 if stopped_by == "SIGTERM" else 130)


def format_option(fn: F) -> F:
    return click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]),
                        default="table", show_default=True,
                        help="table for reading, csv/json for other tools.")(fn)


def heartbeat_option(fn: F) -> F:
    return click.option("--heartbeat-timeout", default=60.0, show_default=True,
                        help="Seconds without a heartbeat before a running trial is "
                        "considered lost and re-queued.")(fn)


def print_run_summary(store: Any, result: Any, *, header: bool = True) -> None:
    """The created/resumed line (``header``: a child study's command prints its own, the
    study having been created, trials queued, before the run), then the best per value."""
    from tunebook.analysis import best_per_value
    from tunebook.report import console as render
    from tunebook.spec import study_spec

    prepared = result.prepared
    tree = prepared.tree
    if header and prepared.resumed:
        console.print(f"study [bold]{escape(tree.root.name)}[/] resumed: {prepared.finished} "
                      f"of {prepared.budget} trials had finished, {prepared.to_run} to run"
                      + (f" ({result.requeued} re-queued after an interruption)"
                         if result.requeued else "") + ".")
    elif header:
        console.print(f"study [bold]{escape(tree.root.name)}[/] created: {prepared.to_run} "
                      "trials to run.")
    if prepared.over_budget:
        console.print(f"[yellow]note:[/] the study already has {prepared.existing} trials, "
                      f"more than its budget of {prepared.budget}; nothing was removed "
                      f"(`tunebook delete {escape(tree.root.name)}` starts over).")
    shares = [leaf.budget or 0 for leaf in tree.leaves]
    if tree.split and len(set(shares)) > 1:
        console.print(f"[yellow]note:[/] a budget of {sum(shares)} does not split evenly over "
                      f"{len(shares)} values: they get {'/'.join(map(str, shares))} trials; "
                      f"a multiple of {len(shares)} gives each value the same chance.")
    objective = study_spec(tree.root).objective
    rows = best_per_value(store, tree)
    console.print(render.per_value_table(rows, objective.metric, objective.goal))


def exit_if_nothing_completed(store: Any, result: Any) -> None:
    """A run whose every finished trial failed or was infeasible did not do its job: show
    the first reasons and how to list them all, and exit 1 (scripts and CI rely on it)."""
    from tunebook.records import TrialStatus

    counts = result.counts
    finished = sum(n for status, n in counts.items() if status.finished)
    if result.stopped_by is not None or not finished or counts.get(TrialStatus.COMPLETED, 0):
        return
    tree = result.prepared.tree
    bad = [t for t in store.trials(tree.ids) if t.status.finished]
    err_console.print(f"[bold red]error:[/] none of the {finished} finished trials of "
                      f"{escape(tree.root.name)} completed; the first reasons:",
                      highlight=False)
    for reason in list(dict.fromkeys(t.reason or t.status.value for t in bad))[:3]:
        err_console.print(f"  • {escape(reason.strip().splitlines()[-1][:300])}",
                          highlight=False)
    err_console.print(f"every reason: tunebook trials {escape(tree.root.name)} --status "
                      "failed (or infeasible); after fixing the trainer: tunebook retry "
                      f"{escape(tree.root.name)}", highlight=False)
    sys.exit(1)


def echo_rows(rows: list[dict[str, Any]], fmt: str) -> None:
    """Rows as CSV or JSON on stdout (no rich: exact text for other tools)."""
    from tunebook.report import console as render

    click.echo(render.to_csv(rows) if fmt == "csv" else render.to_json(rows), nl=False)


