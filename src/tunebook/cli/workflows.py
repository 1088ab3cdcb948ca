"""The playbook's procedures: lr-sweep, warmup-sweep, batch-size, rerun, next.

Each command parses its arguments, calls one function of :mod:`tunebook.workflows`,
and renders what it returns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from tunebook.cli._common import (
    check_output_file,
    console,
    db_option,
    exit_if_stopped,
    fleet_option,
    no_progress_option,
    open_db,
    print_run_summary,
    run_options,
    runs_dir_option,
    slots_option,
)
from tunebook.errors import TunebookError


@click.command()
@click.argument("study")
@click.option("--top", type=int, default=None,
              help="Re-run the K best distinct configurations of each scientific value "
              "[default: 1 per value; 3 when the study has no scientific values, so the "
              "re-runs choose among them].")
@click.option("--seeds", default=3, show_default=True, help="New seeds per configuration.")
@click.option("--name", "child", default=None, help="The child study's name "
              "[default: STUDY-seeds].")
@slots_option
@fleet_option
@db_option
@runs_dir_option
@no_progress_option
def rerun(study: str, top: int | None, seeds: int, child: str | None, workers: int | None,
          devices: str, no_local_workers: bool, db: str | None, runs_dir: Path | None,
          no_progress: bool) -> None:
    """Train STUDY's best configurations again with new seeds, in a child study.

    The playbook judges a difference against trial-to-trial variance: a best trial is the
    luckiest of many draws. The child study's report compares scientific values by their
    mean over seeds and the spread over seeds. Without scientific values it re-runs the
    best three and names the one with the best mean: on a noisy objective that pick is
    worth more than the choice of sampler (docs/samplers.md). Running the command again
    finishes what is left of the same child study.

    \b
      tunebook rerun my-study --seeds 5        # best config of each value, 5 seeds
      tunebook report my-study-seeds -o seeds.html
    """
    from tunebook.workflows import rerun as rerun_seeds

    store = open_db(db)
    with run_options(no_progress, workers=workers, runs_dir=runs_dir,
                     devices=devices,
                     no_local_workers=no_local_workers) as options:
        done = rerun_seeds(store, study, top=top, seeds=seeds, child=child, options=options)
    made = done.made
    console.print(f"re-ran {len(made.configs)} configuration(s) of [bold]{escape(study)}[/] "
                  f"× {made.seeds} seeds as [bold]{escape(made.study.name)}[/] "
                  f"({made.added} new training(s))")
    print_run_summary(store, done.run, header=False)
    if done.report is not None:
        console.print(done.report.conclusion.text, highlight=False)
    exit_if_stopped(done.run.stopped_by)


@click.command(name="lr-sweep")
@click.argument("spec_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--range", "span", default="1e-5:10", show_default=True,
              help="LOW:HIGH of the learning rate, swept on a log scale.")
@click.option("--points", default=12, show_default=True, help="How many learning rates.")
@click.option("--key", default="learning_rate", show_default=True,
              help="The learning-rate parameter's name in the study file.")
@slots_option
@fleet_option
@click.option("-o", "--output", default="lr-sweep.html", show_default=True,
              type=click.Path(dir_okay=False, path_type=Path), help="The plots, as HTML.")
@click.option("--early-check/--no-early-check", default=True, show_default=True,
              help="Then train once at 2x the best lr, reading every step, to catch early "
                   "instability that recovers.")
@click.option("--early-steps", default=500, show_default=True,
              help="Steps of the early check (at most the study's max_steps).")
@db_option
@no_progress_option
def lr_sweep(spec_file: Path, span: str, points: int, key: str, workers: int | None,
             devices: str, no_local_workers: bool, output: Path, early_check: bool,
             early_steps: int, db: str | None, no_progress: bool) -> None:
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
    from tunebook.report.sweeps import write_sweep_report
    from tunebook.spec import load_spec, study_spec
    from tunebook.workflows import lr_sweep as sweep_lr
    from tunebook.workflows.lrsweep import parse_range

    low, high = parse_range(span)
    check_output_file(output, "-o/--output")
    store = open_db(db)
    with run_options(no_progress, workers=workers, devices=devices,
                     no_local_workers=no_local_workers) as options:
        found = sweep_lr(load_spec(spec_file), store, key=key, low=low, high=high,
                         points=points, early_check=early_check, early_steps=early_steps,
                         options=options)
    _print_sweep(found.sweep, found.studies[0], "best")
    console.print(escape(study_spec(store.get_study(found.studies[0])).model.description),
                  highlight=False)  # what the sweep held, the scientific values included
    if found.early is not None:
        console.print(f"early check: {key} = {found.early.lr:.3g}, every step for "
                      f"{found.early.steps} steps ({found.studies[1]})", highlight=False)
        console.print(escape(found.early.statement), highlight=False)
    write_sweep_report(found.sweep, output, store, early=found.early)
    console.print(f"plots written to {escape(str(output))}")
    exit_if_stopped(found.stopped_by)


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


@click.command(name="warmup-sweep")
@click.argument("spec_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--unstable-lr", required=True, type=float,
              help="The lowest learning rate the lr-sweep found unstable.")
@click.option("--points", default=5, show_default=True,
              help="Warmup lengths: none, then half-decade steps up to 10 % of max_steps.")
@click.option("--key", default="learning_rate", show_default=True,
              help="The learning-rate parameter's name in the study file.")
@click.option("--warmup-key", default="warmup_steps", show_default=True,
              help="The warmup-length parameter your trainer reads.")
@slots_option
@fleet_option
@click.option("-o", "--output", default="warmup-sweep.html", show_default=True,
              type=click.Path(dir_okay=False, path_type=Path), help="The plots, as HTML.")
@db_option
@no_progress_option
def warmup_sweep(spec_file: Path, unstable_lr: float, points: int, key: str, warmup_key: str,
                 workers: int | None, devices: str, no_local_workers: bool,
                 output: Path, db: str | None, no_progress: bool) -> None:
    """Find the warmup that makes a too-high learning rate stable (the playbook's recipe).

    The base learning rate is 10x --unstable-lr; warmup lengths go from none to 10 % of
    max_steps. Prints which warmup is the shortest that trains stably, and the next step:
    adopt it and sweep the learning rate again.

    \b
      tunebook lr-sweep study.yaml            # e.g. 0.3 is the first unstable point
      tunebook warmup-sweep study.yaml --unstable-lr 0.3
    """
    from tunebook.report.sweeps import write_sweep_report
    from tunebook.spec import load_spec
    from tunebook.workflows import warmup_sweep as sweep_warmup

    check_output_file(output, "-o/--output")
    store = open_db(db)
    with run_options(no_progress, workers=workers, devices=devices,
                     no_local_workers=no_local_workers) as options:
        found = sweep_warmup(load_spec(spec_file), store, unstable_lr=unstable_lr, key=key,
                             warmup_key=warmup_key, points=points, options=options)
    _print_sweep(found.sweep, found.study, "shortest stable")
    write_sweep_report(found.sweep, output, store, title="Warmup sweep", log=False)
    console.print(f"plots written to {escape(str(output))}")
    exit_if_stopped(found.stopped_by)


@click.command(name="batch-size")
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
    from tunebook.spec import load_spec
    from tunebook.workflows import batch_size_probe
    from tunebook.workflows.batchsize import parse_sizes

    store = open_db(db)
    with run_options(no_progress) as options:
        found = batch_size_probe(load_spec(spec_file), store, sizes=parse_sizes(sizes),
                                 key=key, steps=steps, options=options)
    probe = found.result
    table = Table(key, "steps/s", "examples/s", "status", title=found.study)
    for p in probe.points:
        note = " ← best" if probe.best is not None and p is probe.best else ""
        table.add_row(str(p.size), "-" if p.steps_per_s is None else f"{p.steps_per_s:.4g}",
                      "-" if p.examples_per_s is None else f"{p.examples_per_s:.4g}{note}",
                      escape(p.reason or p.status))
    console.print(table)
    console.print(probe.statement, highlight=False)
    exit_if_stopped(found.stopped_by)


@click.command(name="next")
@click.argument("study")
@click.option("-o", "--output", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write it [default: NEXT-NAME.yaml beside the study's file].")
@click.option("--force", is_flag=True, help="Overwrite the file if it exists (it may be one "
              "you edited and ran).")
@db_option
def next_study(study: str, output: Path | None, force: bool, db: str | None) -> None:
    """Write the next study file from STUDY's checklist, each change with its reason.

    Widens a bound the best trials crowd, ends a range where trials turn infeasible, fixes
    a nuisance parameter whose effect across its range is bounded below the study's noise
    (at the top trials' median), raises the budget when sampling is thin, doubles
    max_steps when the best curves would gain more than the noise, and switches to bayes
    (warm-started) once every check passes. A change the evidence does not support is
    not made: it is listed with what would settle it. Error rates: docs/advice.md. The
    file is named STUDY-r2 (then -r3, ...) and `tunebook run` accepts it as is.
    """
    from tunebook.workflows import next_study as design_next

    if output is not None:
        check_output_file(output, "-o/--output")
    try:
        made = design_next(open_db(db, read_only=True), study, output=output, force=force)
    except PermissionError as exc:  # the default path, beside the study's file
        raise TunebookError(f"cannot write {exc.filename} ({exc.strerror}); pass -o PATH in "
                            "a folder you can write to") from None
    for change in made.changes:
        if change.reason:
            console.print(f"  • {escape(change.where)}: {escape(change.reason)}",
                          highlight=False)
    for held in made.held:
        console.print(f"  [dim]– not changed: {escape(held.reason)}[/]", highlight=False)
    if not made.changes:
        console.print("  nothing to change: the checklist asks for no new design")
    if not made.edited_source:
        console.print("[yellow]note:[/] the study file changed (or is gone) since the study "
                      "ran, so the next file is written from the stored study, without "
                      "your file's comments")
    console.print(f"wrote {escape(str(made.path))}; run it with: tunebook run "
                  f"{escape(str(made.path))}")


COMMANDS = (rerun, lr_sweep, warmup_sweep, batch_size, next_study)
