"""Reading the store: status, trials, show, report, table, export, dashboard, spec."""

from __future__ import annotations

import contextlib
from pathlib import Path

import click
from rich.markup import escape

from tunebook.cli._common import (
    check_output_file,
    console,
    db_option,
    echo_rows,
    format_option,
    open_db,
)


@click.command()
@format_option
@db_option
def status(fmt: str, db: str | None) -> None:
    """List the studies in the database with trial counts by status and the best value."""
    from tunebook.analysis import study_overview
    from tunebook.analysis.exports import study_rows
    from tunebook.report import console as render

    store = open_db(db, read_only=True)
    rows = study_overview(store)
    if fmt != "table":
        echo_rows(study_rows(rows), fmt)
        return
    if not rows:
        console.print(f"no studies in {store.url} yet; start one with `tunebook run FILE`.")
        return
    console.print(render.studies_table(rows, console.width))


@click.command()
@click.argument("study")
@format_option
@click.option("--status", "status_filter", default=None,
              type=click.Choice(["queued", "running", "completed", "infeasible", "failed",
                                 "pruned"]), help="Only trials with this status.")
@db_option
def trials(study: str, fmt: str, status_filter: str | None, db: str | None) -> None:
    """List every trial of STUDY: status, objective value, params, reason."""
    from tunebook.report import console as render
    from tunebook.spec import study_spec

    store = open_db(db, read_only=True)
    tree = store.tree(study)
    rows = store.trials(tree.ids)
    if status_filter:
        rows = [t for t in rows if t.status.value == status_filter]
    if fmt == "table":
        metric = study_spec(tree.root).objective.metric
        console.print(render.trials_table(rows, tree.names, metric))
    else:
        from tunebook.analysis.exports import trial_rows

        echo_rows(trial_rows(rows, tree.names), fmt)


@click.command()
@click.argument("address", metavar="STUDY/INDEX")
@format_option
@db_option
def show(address: str, fmt: str, db: str | None) -> None:
    """Show one trial: params, seed, status and reason, the digest of the trainer code it ran
    (its study folder's modules), and a summary of its metrics.

    With --format csv or json: every reported metric point (metric, step, value, time).
    """
    from tunebook.analysis import find_trial
    from tunebook.analysis.exports import point_rows
    from tunebook.report import console as render
    from tunebook.report.text import fmt as number
    from tunebook.report.text import when
    from tunebook.spec import study_spec

    store = open_db(db, read_only=True)
    study, trial = find_trial(store, address)
    if fmt != "table":
        echo_rows(point_rows(store.metric_history(trial.id)), fmt)
        return
    style = render.STATUS_STYLE[trial.status]
    console.print(f"[bold]{escape(study.name)}/{trial.index}[/]  "
                  f"[{style}]{trial.status.value}[/]  "
                  f"{escape(study_spec(study).objective.metric)} = {number(trial.value)}")
    console.print(f"seed {trial.seed}   attempts {trial.attempts}   worker {trial.worker or '-'}"
                  f"   started {when(trial.started_at)}   finished {when(trial.finished_at)}"
                  f"   code {trial.code or '-'}"
                  + (f"   GPUs {trial.devices}" if trial.devices else ""), highlight=False)
    for key, value in trial.params.items():
        console.print(f"  {escape(key)} = {escape(number(value))}", highlight=False)
    if trial.reason:
        console.print(f"[{style}]reason:[/] {escape(trial.reason)}", highlight=False)
    for warning in trial.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    points = store.metric_history(trial.id)
    if points:
        console.print(render.metric_summary_table(points))


@click.command()
@click.argument("studies", nargs=-1, required=True)
@click.option("-o", "--output", default="report.html", show_default=True,
              type=click.Path(dir_okay=False, path_type=Path), help="The HTML file to write.")
@click.option("--png", "png_dir", default=None, type=click.Path(file_okay=False, path_type=Path),
              help="Also write the plots as PNG files into this folder.")
@db_option
def report(studies: tuple[str, ...], output: Path, png_dir: Path | None, db: str | None) -> None:
    """Write one offline HTML report answering the playbook's checklist for STUDIES.

    \b
    Sections: summary and the conclusion the evidence supports; the checklist (is the
    search space big enough? enough trials? infeasible share and where? optimisation
    problems? what do the curves say?) each with a verdict and a next step; the
    isolation plot (for a rerun or round-2 study, its ranking against its parent's);
    parameter importance; axis plots; training curves; gradient norm and clipping advice;
    the tracking table. The file opens without a network connection.
    """
    from tunebook.report import write_report
    from tunebook.runner.slots import check_writable_dir

    check_output_file(output, "-o/--output")
    if png_dir is not None:
        check_writable_dir(png_dir, "--png")
    store = open_db(db, read_only=True)
    with console.status("analysing ..."):
        path = write_report(store, list(studies), output, png_dir)
    console.print(f"report written to [bold]{path}[/]" + (f", PNGs in {png_dir}" if png_dir
                                                           else ""))


@click.command()
@click.argument("studies", nargs=-1)
@click.option("--format", "fmt", type=click.Choice(["md", "csv"]), default="md",
              show_default=True, help="Markdown for notes and wikis, CSV for spreadsheets.")
@click.option("--experiment", default=None, help="Only the studies of this experiment.")
@db_option
def table(studies: tuple[str, ...], fmt: str, experiment: str | None, db: str | None) -> None:
    """The tracking sheet: one row per study (all studies unless named), grouped by
    experiment.

    Experiment, name, description, number of trials, best value, objective and the
    command that reproduces the study; CSV adds the frozen config.
    """
    from tunebook.analysis.tracking import tracking_rows
    from tunebook.report import tracking_csv, tracking_markdown

    rows = tracking_rows(open_db(db, read_only=True), list(studies) or None, experiment)
    click.echo(tracking_markdown(rows) if fmt == "md" else tracking_csv(rows), nl=False)


@click.command()
@click.argument("study")
@click.option("--to", "tool", required=True, type=click.Choice(["tensorboard", "mlflow"]),
              help="Where the trials go.")
@click.argument("target")
@db_option
def export(study: str, tool: str, target: str, db: str | None) -> None:
    """Export STUDY's trials to TensorBoard (TARGET: a folder) or MLflow (TARGET: a tracking
    URI, e.g. sqlite:///mlflow.db): one run per trial with its params, every metric by
    step, its status and reason.

    Idempotent: exporting again rewrites only trials that changed and never duplicates a
    run; runs tunebook did not write are left alone.

    \b
      tunebook export my-study --to tensorboard runs/   # then: tensorboard --logdir runs
      tunebook export my-study --to mlflow sqlite:///mlflow.db
    """
    from tunebook.integrations import export as exporters

    store = open_db(db, read_only=True)
    try:
        done = (exporters.to_tensorboard(store, study, target) if tool == "tensorboard"
                else exporters.to_mlflow(store, study, target))
    except ImportError as exc:
        raise click.ClickException(str(exc)) from None
    console.print(f"{done.written} run(s) written, {done.unchanged} unchanged → "
                  f"{escape(done.target)}")


LOOPBACK = ("127.0.0.1", "localhost", "::1")


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Interface to bind. Anything but loopback needs --token.")
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--token", envvar="TUNEBOOK_DASHBOARD_TOKEN", default=None,
              help="Require this bearer token (open the page once with ?token=…).")
@click.option("--allow-host", "allow_hosts", multiple=True,
              help="Another name this server is reached by (e.g. a DNS name for --host "
              "0.0.0.0); requests with any other Host header are refused.")
@db_option
def dashboard(host: str, port: int, token: str | None, allow_hosts: tuple[str, ...],
              db: str | None) -> None:
    """Serve a live, read-only dashboard of the store in the browser.

    Studies with their progress, each study's checklist and plots (refreshed when a trial
    finishes), a sortable trial table, parallel coordinates, one page per trial and a
    page that overlays 2-5 trials' curves. The store is opened read-only, so it is safe to
    run beside workers. Needs the extra: pip install "tunebook[dashboard]".
    """
    try:
        import uvicorn

        from tunebook.dashboard import create_app
    except ImportError as exc:
        raise click.ClickException(f"the dashboard needs its extra ({exc.name} is missing): "
                                   'pip install "tunebook[dashboard]"') from None
    if token is not None and not token.strip():
        raise click.ClickException("--token (or TUNEBOOK_DASHBOARD_TOKEN) is empty: an empty "
                                   "token protects nothing; pass a long random one, e.g. "
                                   "--token \"$(openssl rand -hex 16)\"")
    from tunebook.dashboard.app import check_host_patterns

    check_host_patterns(allow_hosts)
    hosts = [*LOOPBACK, *allow_hosts] if host in LOOPBACK else [
        *dict.fromkeys([*_names_of(host), *allow_hosts])]
    if host not in LOOPBACK:
        if token is None:
            raise click.ClickException(f"--host {host} exposes the dashboard beyond this "
                                       "machine: pass --token (or TUNEBOOK_DASHBOARD_TOKEN)")
        console.print(f"[yellow]warning:[/] serving on {escape(host)}: anyone who can reach "
                      "it and holds the token can read every study")
    app = create_app(db, hosts=hosts, token=token)
    shown = f"[{host}]" if ":" in host else host
    console.print(f"tunebook dashboard on http://{escape(shown)}:{port}/ (read-only; "
                  "Ctrl-C stops it)")
    uvicorn.run(app, host=host, port=port, log_level="warning")


def _names_of(host: str) -> list[str]:
    """The names a server bound to ``host`` is reached by: for 0.0.0.0 or ::, this
    machine's own names and addresses and loopback; else ``host`` itself."""
    import socket

    if host not in ("0.0.0.0", "::"):
        return [host]
    names = [*LOOPBACK, socket.gethostname(), socket.getfqdn()]
    with contextlib.suppress(OSError):
        names += socket.gethostbyname_ex(socket.gethostname())[2]
    return names


@click.command(name="spec")
def spec_reference() -> None:
    """Print the reference of every study-file field (the text of docs/spec.md)."""
    from tunebook.docs import spec_reference as text

    click.echo(text())




COMMANDS = (status, trials, show, report, table, export, dashboard, spec_reference)
