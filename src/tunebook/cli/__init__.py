"""The ``tunebook`` command line: parse, call one library function, print with rich."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO, TypeVar

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tunebook.errors import TunebookError


def _width(stream: TextIO) -> int | None:
    """Full-width tables in logs and pipes (rich would clip them at 80 columns); a terminal,
    or an explicit $COLUMNS, decides for itself."""
    return None if stream.isatty() or "COLUMNS" in os.environ else 1000


console = Console(width=_width(sys.stdout))
err_console = Console(stderr=True, width=_width(sys.stderr))
F = TypeVar("F", bound=Callable[..., Any])

DB_HELP = ("Database: a SQLite file path or any SQLAlchemy URL "
           "(e.g. postgresql+psycopg://user@host/db). Default: $TUNEBOOK_DB or ./tunebook.db.")


class _Group(click.Group):
    """Prints tunebook's errors as one clear line (a traceback only with --debug)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TunebookError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
            ctx.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tunebook", prog_name="tunebook")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """tunebook: tune deep learning models the way the Tuning Playbook says.

    \b
    A study file declares the goal, the role of every hyperparameter (scientific,
    nuisance, fixed, conditional), the objective and the budget. tunebook searches the
    nuisance space with quasi-random search, gives every scientific value its fair share
    of trials, runs each trial in its own process, and keeps everything in a database.

    \b
    Start here:
      tunebook demo                       train an MLP on digits, compare 3 activations
      tunebook init                       write a starter study.yaml + train.py
      tunebook run study.yaml -w 2        run (or resume) a study with 2 workers
      tunebook status                     what is in the database
      tunebook trials NAME                every trial of a study
      tunebook show NAME/7                one trial in detail
      tunebook report NAME -o report.html the checklist, plots and a conclusion
      tunebook table --format md          the tracking sheet of all studies
      tunebook dashboard                  live, read-only view in the browser
      tunebook export NAME --to mlflow URI  trials as MLflow (or TensorBoard) runs
      tunebook retry NAME / delete NAME   re-run failed trials / start over
      tunebook rerun NAME --seeds 5       the best configs again, with new seeds
      tunebook next NAME                  the next study file, from the checklist
      tunebook round2 NAME --steps-factor 4   the best configs, 4× longer (schedule transfer)
      tunebook launch NAME --value X      adopt X into the baseline, with evidence
      tunebook baseline history           every baseline version and what changed
      tunebook lr-sweep study.yaml        best learning rate; does instability cap it?
      tunebook warmup-sweep study.yaml --unstable-lr X   the warmup that makes 10X stable
      tunebook batch-size study.yaml      throughput per batch size
      tunebook spec                       every field of the study file
    """
    ctx.obj = {"debug": debug}


def db_option(fn: F) -> F:
    return click.option("--db", envvar="TUNEBOOK_DB", default=None, help=DB_HELP)(fn)


def _store(db: str | None, *, create: bool = True, read_only: bool = False) -> Any:
    from tunebook.store import open_store

    return open_store(db, create=create, read_only=read_only)


def no_progress_option(fn: F) -> F:
    return click.option("--no-progress", is_flag=True,
                        help="Do not draw the progress bar.")(fn)


def _run_with_bar(spec: Any, store: Any, no_progress: bool, **options: Any) -> Any:
    """``run_study`` with the live progress bar (the derived studies' commands)."""
    from tunebook.report.console import ProgressBar
    from tunebook.runner.local import run_study

    with ProgressBar(console, enabled=not no_progress) as bar:
        return run_study(spec, store, on_progress=bar.update, **options)


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


def _duration(text: str | None) -> float | None:
    from tunebook._spec_model import parse_duration

    if text is None:
        return None
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise TunebookError(f"--trial-timeout: {exc}") from None


def _check_output_file(path: Path, option: str) -> None:
    """Refuse an output path that cannot be written before doing the work that fills it."""
    folder = path.resolve().parent
    if not folder.is_dir():
        raise TunebookError(f"{option}: folder {folder} does not exist; create it or pass "
                            "another path")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise TunebookError(f"{option}: {path} is not writable; pass another path")


def _exit_if_stopped(stopped_by: str | None) -> None:
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


@cli.command()
@click.argument("spec_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-w", "--workers", default=1, show_default=True,
              help="Trials to run at the same time, each in its own process.")
@db_option
@runs_dir_option
@heartbeat_option
@trial_timeout_option
@click.option("--no-local-workers", is_flag=True,
              help="Only create the study and queue its trials; `tunebook worker` processes "
              "(on this or other machines) run them.")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local",
              show_default=True, help="local: worker processes here; ray: one Ray task per "
              "trial on a Ray cluster, with the study's resources (cpus, gpus).")
@click.option("--address", default="auto", show_default=True,
              help="With --executor ray: the cluster (auto, ray://host:10001) or `local` to "
              "start a Ray instance on this machine.")
@no_progress_option
def run(spec_file: Path, workers: int, db: str | None, runs_dir: Path | None,
        heartbeat_timeout: float, trial_timeout: str | None, no_local_workers: bool,
        executor: str, address: str, no_progress: bool) -> None:
    """Run a study file: create the study, or resume it if one of that name exists.

    \b
    Resuming continues the quasi-random sequence exactly where it stopped: trial i is
    always the same point. Trials interrupted by Ctrl-C or by a killed worker are
    re-queued and run again. Raising `budget` in the file and running again adds
    trials; changing anything else is refused (give the study a new name instead).
    """
    from tunebook.report.console import ProgressBar
    from tunebook.runner.local import run_study
    from tunebook.spec import load_spec

    spec = load_spec(spec_file)
    store = _store(db)
    with ProgressBar(console, enabled=not (no_progress or no_local_workers)) as bar:
        result = run_study(spec, store, workers=workers, on_progress=bar.update,
                           runs_dir=runs_dir, heartbeat_timeout_s=heartbeat_timeout,
                           local_workers=not no_local_workers, executor=executor,
                           ray_address=address, trial_timeout_s=_duration(trial_timeout))
    if no_local_workers:
        console.print(f"study [bold]{escape(spec.name)}[/] ready: "
                      f"{result.prepared.enqueued} trials queued in {store.url} (each created "
                      "when a worker asks for it); start workers with `tunebook worker --db "
                      "URL`.")
        return
    _print_run_summary(store, result)
    _exit_if_stopped(result.stopped_by)


@cli.command()
@click.argument("study")
@click.option("--top", default=1, show_default=True,
              help="Re-run the K best distinct configurations of each scientific value.")
@click.option("--seeds", default=3, show_default=True, help="New seeds per configuration.")
@click.option("--name", "child", default=None, help="The child study's name "
              "[default: STUDY-seeds].")
@click.option("-w", "--workers", default=1, show_default=True)
@db_option
@runs_dir_option
@no_progress_option
def rerun(study: str, top: int, seeds: int, child: str | None, workers: int, db: str | None,
          runs_dir: Path | None, no_progress: bool) -> None:
    """Train STUDY's best configurations again with new seeds, in a child study.

    The playbook judges a difference against trial-to-trial variance: a best trial is the
    luckiest of many draws. The child study's report compares scientific values by their
    mean over seeds and the spread over seeds. Running the command again finishes what is
    left of the same child study.

    \b
      tunebook rerun my-study --seeds 5        # best config of each value, 5 seeds
      tunebook report my-study-seeds -o seeds.html
    """
    from tunebook.analysis.report import study_report
    from tunebook.runner.rerun import rerun_study

    store = _store(db)
    made = rerun_study(store, study, top=top, seeds=seeds, child=child)
    console.print(f"re-running {len(made.configs)} configuration(s) of [bold]"
                  f"{escape(study)}[/] × {made.seeds} seeds as [bold]"
                  f"{escape(made.study.name)}[/]")
    result = _run_with_bar(made.spec, store, no_progress, workers=workers, runs_dir=runs_dir)
    _print_run_summary(store, result, header=False)
    console.print(study_report(store, made.study.name).conclusion.text, highlight=False)
    _exit_if_stopped(result.stopped_by)


@cli.command(name="lr-sweep")
@click.argument("spec_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--range", "span", default="1e-5:10", show_default=True,
              help="LOW:HIGH of the learning rate, swept on a log scale.")
@click.option("--points", default=12, show_default=True, help="How many learning rates.")
@click.option("--key", default="learning_rate", show_default=True,
              help="The learning-rate parameter's name in the study file.")
@click.option("-w", "--workers", default=1, show_default=True)
@click.option("-o", "--output", default="lr-sweep.html", show_default=True,
              type=click.Path(dir_okay=False, path_type=Path), help="The plots, as HTML.")
@click.option("--early-check/--no-early-check", default=True, show_default=True,
              help="Then train once at 2x the best lr, reading every step, to catch early "
                   "instability that recovers.")
@click.option("--early-steps", default=500, show_default=True,
              help="Steps of the early check (at most the study's max_steps).")
@db_option
@no_progress_option
def lr_sweep(spec_file: Path, span: str, points: int, key: str, workers: int, output: Path,
             early_check: bool, early_steps: int, db: str | None, no_progress: bool) -> None:
    """Sweep the learning rate of SPEC_FILE's configuration at a constant schedule.

    Everything else stays at one value (fixed values, the first scientific value, every
    other nuisance parameter at the middle of its range, a `schedule` set to constant).
    Prints the best learning rate and whether instability caps it: the point right above
    the best diverged or spiked. Then the early check (§5.8.1): one run at 2x the best lr
    with eval_every 1 (the trainer reports train_loss every step), which shows a loss
    spike in the first steps that recovers, the instability a sweep evaluated every N
    steps misses. The studies are NAME-lr-sweep and NAME-early-check; running again resumes.

    \b
      tunebook lr-sweep study.yaml --range 1e-5:10 --points 12 -w 2
    """
    from tunebook.analysis.lrsweep import sweep_result
    from tunebook.spec import load_spec
    from tunebook.workflows.lrsweep import parse_range, sweep_spec, write_sweep_report

    low, high = parse_range(span)
    spec = sweep_spec(load_spec(spec_file), key, low, high, points)
    store = _store(db)
    result = _run_with_bar(spec, store, no_progress, workers=workers)
    sweep = sweep_result(store, spec.name, key)
    _print_sweep(sweep, spec.name, "best")
    early = None
    if early_check and sweep.best is not None and result.stopped_by is None:
        early = _early_check(load_spec(spec_file), sweep.best.x, key, early_steps, store,
                             no_progress)
    write_sweep_report(sweep, output, store, early=early)
    console.print(f"plots written to {escape(str(output))}")
    _exit_if_stopped(result.stopped_by)


def _early_check(spec: Any, best_lr: float, key: str, steps: int, store: Any,
                 no_progress: bool) -> Any:
    """Run (or resume) the early-instability check and print what it shows."""
    from tunebook.analysis.lrsweep import early_result
    from tunebook.workflows.lrsweep import early_spec

    check = early_spec(spec, best_lr, key=key, steps=steps)
    console.print(f"early check: {key} = {2 * best_lr:.3g}, every step for "
                  f"{check.model.max_steps} steps")
    result = _run_with_bar(check, store, no_progress, workers=1)
    _exit_if_stopped(result.stopped_by)
    early = early_result(store, check.name, key)
    console.print(escape(early.statement), highlight=False)
    return early


def _print_sweep(sweep: Any, title: str, mark: str) -> None:
    """One row per swept value (with why an unstable one counts as unstable), then the
    statement."""
    table = Table(sweep.key, sweep.metric, "status", title=title)
    for p in sweep.points:
        note = f" ← {mark}" if sweep.best is not None and p is sweep.best else ""
        table.add_row(f"{p.x:.3g}", "-" if p.value is None else f"{p.value:.4g}{note}",
                      escape(p.unstable or p.status))
    console.print(table)
    console.print(sweep.statement, highlight=False)


@cli.command(name="warmup-sweep")
@click.argument("spec_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--unstable-lr", required=True, type=float,
              help="The lowest learning rate the lr-sweep found unstable.")
@click.option("--points", default=5, show_default=True,
              help="Warmup lengths: none, then half-decade steps up to 10 % of max_steps.")
@click.option("--key", default="learning_rate", show_default=True,
              help="The learning-rate parameter's name in the study file.")
@click.option("--warmup-key", default="warmup_steps", show_default=True,
              help="The warmup-length parameter your trainer reads.")
@click.option("-w", "--workers", default=1, show_default=True)
@click.option("-o", "--output", default="warmup-sweep.html", show_default=True,
              type=click.Path(dir_okay=False, path_type=Path), help="The plots, as HTML.")
@db_option
@no_progress_option
def warmup_sweep(spec_file: Path, unstable_lr: float, points: int, key: str, warmup_key: str,
                 workers: int, output: Path, db: str | None, no_progress: bool) -> None:
    """Find the warmup that makes a too-high learning rate stable (the playbook's recipe).

    The base learning rate is 10x --unstable-lr; warmup lengths go from none to 10 % of
    max_steps. Prints which warmup is the shortest that trains stably, and the next step:
    adopt it and sweep the learning rate again.

    \b
      tunebook lr-sweep study.yaml            # e.g. 0.3 is the first unstable point
      tunebook warmup-sweep study.yaml --unstable-lr 0.3
    """
    from tunebook.analysis.lrsweep import warmup_result
    from tunebook.spec import load_spec
    from tunebook.workflows.lrsweep import warmup_spec, write_sweep_report

    spec = warmup_spec(load_spec(spec_file), unstable_lr, key=key, warmup_key=warmup_key,
                       points=points)
    store = _store(db)
    result = _run_with_bar(spec, store, no_progress, workers=workers)
    sweep = warmup_result(store, spec.name, warmup_key, 10 * unstable_lr)
    _print_sweep(sweep, spec.name, "shortest stable")
    write_sweep_report(sweep, output, store, title="Warmup sweep", log=False)
    console.print(f"plots written to {escape(str(output))}")
    _exit_if_stopped(result.stopped_by)


@cli.command(name="batch-size")
@click.argument("spec_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--sizes", default="16,32,64,128,256", show_default=True,
              help="Comma-separated batch sizes to measure.")
@click.option("--steps", default=50, show_default=True, help="Training steps per size.")
@click.option("--key", default="batch_size", show_default=True,
              help="The batch-size parameter's name in the study file.")
@db_option
@no_progress_option
def batch_size(spec_file: Path, sizes: str, steps: int, key: str, db: str | None,
               no_progress: bool) -> None:
    """Measure steps/s and examples/s per batch size; recommend the fastest to a fixed
    number of examples.

    One trial per size, one at a time (parallel trials would share the machine and spoil
    the timing), everything else held still. Out of memory is infeasible, not a crash.
    Throughput is taken between the first and the last report, so setup is excluded.

    \b
      tunebook batch-size study.yaml --sizes 16,32,64,128,256 --steps 50
    """
    from tunebook.analysis.batchsize import probe_result
    from tunebook.spec import load_spec
    from tunebook.workflows.batchsize import parse_sizes, probe_spec

    spec = probe_spec(load_spec(spec_file), parse_sizes(sizes), key=key, steps=steps)
    store = _store(db)
    result = _run_with_bar(spec, store, no_progress, workers=1)
    probe = probe_result(store, spec.name, key)
    table = Table(key, "steps/s", "examples/s", "status", title=spec.name)
    for p in probe.points:
        note = " ← best" if probe.best is not None and p is probe.best else ""
        table.add_row(str(p.size), "-" if p.steps_per_s is None else f"{p.steps_per_s:.4g}",
                      "-" if p.examples_per_s is None else f"{p.examples_per_s:.4g}{note}",
                      escape(p.reason or p.status))
    console.print(table)
    console.print(probe.statement, highlight=False)
    _exit_if_stopped(result.stopped_by)


@cli.command(name="next")
@click.argument("study")
@click.option("-o", "--output", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write it [default: NEXT-NAME.yaml beside the study's file].")
@db_option
def next_study(study: str, output: Path | None, db: str | None) -> None:
    """Write the next study file from STUDY's checklist, each change with its reason.

    Widens a bound the best trials crowd, ends a range where trials turn infeasible, fixes
    a nuisance parameter with no detectable effect at its best value, raises the budget
    when sampling is thin, doubles max_steps when the best curves still improve, and
    switches to bayes (warm-started) once every check passes. The file is named STUDY-r2
    (then -r3, ...) and `tunebook run` accepts it as is.
    """
    import yaml

    from tunebook.analysis.nextstudy import next_name, plan_next
    from tunebook.analysis.report import study_report
    from tunebook.report import nextfile
    from tunebook.spec import load_spec

    report = study_report(_store(db, read_only=True), study)
    changes = plan_next(report.data, report.findings)
    spec = report.data.spec
    source = spec.path if spec.path is not None and spec.path.exists() else None
    doc = yaml.safe_load(source.read_text()) if source else spec.config()
    new = nextfile.apply(doc, changes)
    new["name"] = next_name(report.data.study.name)
    target = output or spec.source_dir / f"{new['name']}.yaml"
    target.write_text(nextfile.render(new, changes, report.data.study.name))
    try:
        load_spec(target)  # what it wrote must run as is
    except TunebookError as exc:
        target.unlink()  # never leave a file behind that `tunebook run` would refuse
        raise TunebookError(f"the next study file would not run where it was to be written "
                            f"({exc}); write it beside {spec.source_dir} (the default), or "
                            "put the trainer where that folder finds it") from None
    for change in changes:
        if change.reason:
            console.print(f"  • {escape('.'.join(change.path))}: {escape(change.reason)}",
                          highlight=False)
    if not changes:
        console.print("  nothing to change: the checklist asks for no new design")
    console.print(f"wrote {escape(str(target))}; run it with: tunebook run "
                  f"{escape(str(target))}")


def _print_run_summary(store: Any, result: Any, *, header: bool = True) -> None:
    """The created/resumed line (``header``: a child study's command prints its own, the
    study having been created, trials queued, before the run), then the best per value."""
    from tunebook.analysis import best_per_value
    from tunebook.report import console as render
    from tunebook.spec import study_spec

    prepared = result.prepared
    tree = prepared.tree
    verb = "resumed" if prepared.resumed else "created"
    if header:
        console.print(f"study [bold]{escape(tree.root.name)}[/] {verb}; {prepared.enqueued} "
                      f"trials queued, {result.requeued} re-queued after an interruption.")
    if prepared.over_budget:
        console.print(f"[yellow]note:[/] the study already has {prepared.existing} trials, "
                      f"more than its budget of {prepared.budget}; nothing was removed "
                      f"(`tunebook delete {escape(tree.root.name)}` starts over).")
    objective = study_spec(tree.root).objective
    rows = best_per_value(store, tree)
    console.print(render.per_value_table(rows, objective.metric, objective.goal))


@cli.command()
@click.option("-w", "--workers", default=2, show_default=True, help="Parallel trials.")
@db_option
@click.option("--report", "report_path", default="digits-report.html", show_default=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the HTML report of the demo study.")
def demo(workers: int, db: str | None, report_path: Path) -> None:
    """Run the digits example end to end and print the best trial per activation.

    \b
    A 2-layer MLP on scikit-learn's bundled digits; scientific: activation
    (relu, tanh, gelu); nuisance: learning rate and weight decay (log scale), dropout.
    24 trials, about 20 seconds on 2 idle CPU cores (a minute or more on a busy one).
    Needs the torch and examples extras.
    """
    from tunebook.demo import find_demo
    from tunebook.report import write_report
    from tunebook.report.console import ProgressBar
    from tunebook.runner.local import run_study
    from tunebook.spec import load_spec

    spec = load_spec(find_demo())
    store = _store(db)
    console.print(f"Running the demo study [bold]{spec.name}[/] from {spec.path} into "
                  f"{store.url} ...")
    with ProgressBar(console) as bar:
        result = run_study(spec, store, workers=workers, on_progress=bar.update)
    _print_run_summary(store, result)
    with console.status("writing the report ..."):
        write_report(store, [result.prepared.study.name], report_path)
    console.print(f"report written to [bold]{report_path}[/] (open it in a browser). Next: "
                  f"`tunebook trials {spec.name}` and `tunebook show {spec.name}/0`.")


@cli.command()
@db_option
@click.option("--study", "studies", multiple=True, help="Only this study (repeatable).")
@click.option("-w", "--workers", default=1, show_default=True, help="Trials at a time.")
@click.option("--devices", default="", help="Comma-separated GPU ids, one trial slot each "
              "(sets CUDA_VISIBLE_DEVICES per trial), e.g. 0,1,2,3.")
@click.option("--max-trials", type=int, default=None, help="Stop after starting N trials.")
@click.option("--wait", is_flag=True, help="Keep polling for new trials instead of exiting "
              "when the queue is empty.")
@runs_dir_option
@heartbeat_option
@trial_timeout_option
@click.option("--max-attempts", default=3, show_default=True,
              help="Give up on a trial whose workers were lost this many times.")
def worker(db: str | None, studies: tuple[str, ...], workers: int, devices: str,
           max_trials: int | None, wait: bool, runs_dir: Path | None,
           heartbeat_timeout: float, trial_timeout: str | None, max_attempts: int) -> None:
    """Run queued trials from a shared database, on this machine.

    \b
    Start one per machine (or several): every worker claims trials atomically, so none
    runs twice. A trial whose worker dies (machine lost, SIGKILL) is re-queued after
    --heartbeat-timeout and resumes from its last checkpoint when --runs-dir is shared;
    after --max-attempts lost attempts it is failed with the history of reasons.

    \b
      tunebook run study.yaml --db postgresql+psycopg://host/db --no-local-workers
      tunebook worker --db postgresql+psycopg://host/db --devices 0,1,2,3
    """
    from tunebook.runner.local import default_runs_dir
    from tunebook.runner.remote import WorkerOptions, run_worker
    from tunebook.runner.slots import SlotOptions

    store = _store(db, create=False)
    options = WorkerOptions(
        SlotOptions(runs_dir or default_runs_dir(store), slots=workers, max_trials=max_trials,
                    wait=wait, heartbeat_timeout_s=heartbeat_timeout,
                    max_attempts=max_attempts, trial_timeout_s=_duration(trial_timeout)),
        devices=tuple(d.strip() for d in devices.split(",") if d.strip()))
    done = run_worker(store, list(studies), options)
    if done.stopped_by is None:
        console.print(f"worker finished {done.finished} trials; the queue is empty.")
    else:
        console.print(f"worker finished {done.finished} trials.")
    _exit_if_stopped(done.stopped_by)


@cli.command()
@click.argument("study")
@click.option("--status", "statuses", default="failed", show_default=True,
              help="Which finished trials to re-queue: comma-separated statuses among "
              "failed, infeasible, completed, pruned.")
@click.option("--trial", "indices", type=int, multiple=True,
              help="Only this trial index (repeatable).")
@db_option
def retry(study: str, statuses: str, indices: tuple[int, ...], db: str | None) -> None:
    """Re-queue finished trials of STUDY, e.g. after fixing a bug in the trainer.

    \b
    They keep their params, seed and index; the earlier outcome stays in each trial's
    warnings (`tunebook show STUDY/N`). Run the study again (or start workers) to run them:
      tunebook retry my-study                      # every failed trial
      tunebook retry my-study --status failed,infeasible --trial 3 --trial 7
    """
    from tunebook.records import TrialStatus
    from tunebook.runner.study import retry_study

    wanted = [s.strip() for s in statuses.split(",") if s.strip()]
    allowed = {s.value: s for s in TrialStatus if s.finished}
    unknown = [s for s in wanted if s not in allowed]
    if unknown or not wanted:
        raise TunebookError(f"--status takes finished statuses ({', '.join(allowed)}), got "
                            f"{statuses!r}")
    store = _store(db, create=False)
    again = retry_study(store, study, [allowed[s] for s in wanted], list(indices) or None)
    if not again:
        console.print(f"no {'/'.join(wanted)} trials to re-queue in {escape(study)}.")
        return
    console.print(f"re-queued {len(again)} trials of [bold]{escape(study)}[/] "
                  f"({', '.join(str(t.index) for t in again[:20])}"
                  f"{', ...' if len(again) > 20 else ''}); run it again to run them.")


@cli.command()
@click.argument("study")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--files", is_flag=True, help="Also remove the study's trial folders (logs, "
              "checkpoints) under --runs-dir.")
@db_option
@runs_dir_option
def delete(study: str, yes: bool, files: bool, db: str | None, runs_dir: Path | None) -> None:
    """Delete STUDY: its sub-studies, trials, metric points and checkpoint records.

    Asks first (--yes to skip). Checkpoint and log files stay on disk unless --files.
    """
    from tunebook.runner.local import default_runs_dir
    from tunebook.runner.study import delete_study

    store = _store(db, create=False)
    tree = store.tree(study)
    count = sum(store.counts(tree.ids).values())
    if not yes and not click.confirm(f"delete study {study!r} and its {count} trials from "
                                     f"{store.url}?", default=False, err=True):
        raise TunebookError("nothing deleted")
    gone = delete_study(store, study, (runs_dir or default_runs_dir(store)) if files else None)
    console.print(f"deleted [bold]{escape(gone.study)}[/] ({gone.trials} trials"
                  + (f", {len(gone.folders)} run folders" if files else "") + ").")


@cli.command()
@format_option
@db_option
def status(fmt: str, db: str | None) -> None:
    """List the studies in the database with trial counts by status and the best value."""
    from tunebook.analysis import study_overview
    from tunebook.analysis.exports import study_rows
    from tunebook.report import console as render

    store = _store(db, read_only=True)
    rows = study_overview(store)
    if fmt != "table":
        _echo_rows(study_rows(rows), fmt)
        return
    if not rows:
        console.print(f"no studies in {store.url} yet; start one with `tunebook run FILE`.")
        return
    console.print(render.studies_table(rows))


@cli.command()
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

    store = _store(db, read_only=True)
    tree = store.tree(study)
    rows = store.trials(tree.ids)
    if status_filter:
        rows = [t for t in rows if t.status.value == status_filter]
    if fmt == "table":
        metric = study_spec(tree.root).objective.metric
        console.print(render.trials_table(rows, tree.names, metric))
    else:
        from tunebook.analysis.exports import trial_rows

        _echo_rows(trial_rows(rows, tree.names), fmt)


def _echo_rows(rows: list[dict[str, Any]], fmt: str) -> None:
    """Rows as CSV or JSON on stdout (no rich: exact text for other tools)."""
    from tunebook.report import console as render

    click.echo(render.to_csv(rows) if fmt == "csv" else render.to_json(rows), nl=False)


@cli.command()
@click.argument("address", metavar="STUDY/INDEX")
@format_option
@db_option
def show(address: str, fmt: str, db: str | None) -> None:
    """Show one trial: params, seed, status and reason, and a summary of its metrics.

    With --format csv or json: every reported metric point (metric, step, value, time).
    """
    from tunebook.analysis import find_trial
    from tunebook.analysis.exports import point_rows
    from tunebook.report import console as render
    from tunebook.report.text import fmt as number
    from tunebook.report.text import when
    from tunebook.spec import study_spec

    store = _store(db, read_only=True)
    study, trial = find_trial(store, address)
    if fmt != "table":
        _echo_rows(point_rows(store.metric_history(trial.id)), fmt)
        return
    style = render.STATUS_STYLE[trial.status]
    console.print(f"[bold]{escape(study.name)}/{trial.index}[/]  "
                  f"[{style}]{trial.status.value}[/]  "
                  f"{escape(study_spec(study).objective.metric)} = {number(trial.value)}")
    console.print(f"seed {trial.seed}   attempts {trial.attempts}   worker {trial.worker or '-'}"
                  f"   started {when(trial.started_at)}   finished {when(trial.finished_at)}")
    for key, value in trial.params.items():
        console.print(f"  {escape(key)} = {escape(number(value))}", highlight=False)
    if trial.reason:
        console.print(f"[{style}]reason:[/] {escape(trial.reason)}", highlight=False)
    for warning in trial.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    points = store.metric_history(trial.id)
    if points:
        console.print(render.metric_summary_table(points))


@cli.command()
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

    _check_output_file(output, "-o/--output")
    if png_dir is not None:
        check_writable_dir(png_dir, "--png")
    store = _store(db, read_only=True)
    with console.status("analysing ..."):
        path = write_report(store, list(studies), output, png_dir)
    console.print(f"report written to [bold]{path}[/]" + (f", PNGs in {png_dir}" if png_dir
                                                           else ""))


@cli.command()
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

    rows = tracking_rows(_store(db, read_only=True), list(studies) or None, experiment)
    click.echo(tracking_markdown(rows) if fmt == "md" else tracking_csv(rows), nl=False)


@cli.command()
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

    store = _store(db, read_only=True)
    try:
        done = (exporters.to_tensorboard(store, study, target) if tool == "tensorboard"
                else exporters.to_mlflow(store, study, target))
    except ImportError as exc:
        raise click.ClickException(str(exc)) from None
    console.print(f"{done.written} run(s) written, {done.unchanged} unchanged → "
                  f"{escape(done.target)}")


LOOPBACK = ("127.0.0.1", "localhost", "::1")


@cli.command()
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
    hosts = [*LOOPBACK, *allow_hosts] if host in LOOPBACK else [host, *allow_hosts]
    if host not in LOOPBACK:
        if token is None:
            raise click.ClickException(f"--host {host} exposes the dashboard beyond this "
                                       "machine: pass --token (or TUNEBOOK_DASHBOARD_TOKEN)")
        console.print(f"[yellow]warning:[/] serving on {escape(host)}: anyone who can reach "
                      "it and holds the token can read every study")
    app = create_app(db, hosts=hosts, token=token)
    console.print(f"tunebook dashboard on http://{escape(host)}:{port}/ (read-only; Ctrl-C "
                  "stops it)")
    uvicorn.run(app, host=host, port=port, log_level="warning")


@cli.command(name="spec")
def spec_reference() -> None:
    """Print the reference of every study-file field (the text of docs/spec.md)."""
    from tunebook.docs import spec_reference as text

    click.echo(text())


@cli.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite existing files.")
@click.option("--optimizer", default=None, help="sgd, momentum, nesterov, adam, adamw or "
              "nadam: use the playbook's nuisance space for it.")
@click.option("--budget", default=20, show_default=True, type=click.IntRange(min=1),
              help="Trials in the study (decides which Adam hyperparameters are tuned).")
def init(directory: Path, force: bool, optimizer: str | None, budget: int) -> None:
    """Write a commented starter study.yaml and train.py into DIRECTORY.

    With --optimizer, the nuisance space is the playbook's for that optimizer at --budget
    trials: for Adam, the learning rate alone under 10 trials, beta1 from 10, epsilon from
    26, beta2 beyond 50 (§5.4), each line saying why.
    """
    from tunebook._templates import TRAIN_PY, study_yaml

    directory.mkdir(parents=True, exist_ok=True)
    try:
        text = study_yaml(optimizer, budget)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--optimizer/--budget") from None
    targets = {directory / "study.yaml": text, directory / "train.py": TRAIN_PY}
    existing = [str(p) for p in targets if p.exists()]
    if existing and not force:
        raise TunebookError(f"{', '.join(existing)} already exist; pass --force to overwrite")
    for path, text in targets.items():
        path.write_text(text)
    console.print(f"wrote {directory / 'study.yaml'} and {directory / 'train.py'}; try: "
                  f"tunebook run {directory / 'study.yaml'} --workers 2")


# The playbook loop's bookkeeping commands live in their own module (they use the
# helpers above, so they are imported once those exist).
from tunebook.cli.loop import baseline, launch, launches, round2  # noqa: E402

for _command in (baseline, launch, launches, round2):
    cli.add_command(_command)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="tunebook")
