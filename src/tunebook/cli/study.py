"""Running studies: run, worker, retry, delete, demo, init."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from tunebook.cli._common import (
    check_output_file,
    console,
    db_option,
    duration,
    exit_if_nothing_completed,
    exit_if_stopped,
    heartbeat_option,
    no_progress_option,
    open_db,
    print_run_summary,
    runs_dir_option,
    slots_option,
    trial_timeout_option,
)
from tunebook.errors import TunebookError


@click.command()
@click.argument("spec_file", type=click.Path(dir_okay=False, path_type=Path))
@slots_option
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
def run(spec_file: Path, workers: int | None, devices: str, db: str | None,
        runs_dir: Path | None, heartbeat_timeout: float, trial_timeout: str | None,
        no_local_workers: bool, executor: str, address: str, no_progress: bool) -> None:
    """Run a study file: create the study, or resume it if one of that name exists.

    \b
    Resuming continues the quasi-random sequence exactly where it stopped: trial i is
    always the same point. Trials interrupted by Ctrl-C or by a killed worker are
    re-queued and run again. Raising `budget` in the file and running again adds
    trials; changing anything else is refused (give the study a new name instead).
    """
    from tunebook.report.console import ProgressBar
    from tunebook.runner.devices import parse_devices
    from tunebook.runner.local import run_study
    from tunebook.spec import load_spec

    spec = load_spec(spec_file)
    store = open_db(db)
    chosen = parse_devices(devices)
    with ProgressBar(console, enabled=not (no_progress or no_local_workers)) as bar:
        result = run_study(spec, store, workers=workers or (None if chosen else 1),
                           devices=chosen or None, on_progress=bar.update,
                           runs_dir=runs_dir, heartbeat_timeout_s=heartbeat_timeout,
                           local_workers=not no_local_workers, executor=executor,
                           ray_address=address, trial_timeout_s=duration(trial_timeout))
    if no_local_workers:
        console.print(f"study [bold]{escape(spec.name)}[/] ready: "
                      f"{result.prepared.to_run} trials queued in {store.url} (each created "
                      "when a worker asks for it); start workers with `tunebook worker --db "
                      "URL`.")
        return
    print_run_summary(store, result)
    exit_if_stopped(result.stopped_by)
    exit_if_nothing_completed(store, result)


@click.command()
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
    store = open_db(db)
    console.print(f"Running the demo study [bold]{spec.name}[/] from {spec.path} into "
                  f"{store.url} ...")
    with ProgressBar(console) as bar:
        result = run_study(spec, store, workers=workers, on_progress=bar.update)
    print_run_summary(store, result)
    with console.status("writing the report ..."):
        write_report(store, [result.prepared.study.name], report_path)
    console.print(f"report written to [bold]{report_path}[/] (open it in a browser). Next: "
                  f"`tunebook trials {spec.name}` and `tunebook show {spec.name}/0`.")


@click.command()
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

    store = open_db(db, create=wait)  # --wait may start before the first study exists
    options = WorkerOptions(
        SlotOptions(runs_dir or default_runs_dir(store), slots=workers, max_trials=max_trials,
                    wait=wait, heartbeat_timeout_s=heartbeat_timeout,
                    max_attempts=max_attempts, trial_timeout_s=duration(trial_timeout)),
        devices=tuple(d.strip() for d in devices.split(",") if d.strip()))
    done = run_worker(store, list(studies), options)
    left = _left_to_run(store, list(studies))
    capped = " (--max-trials reached)" if max_trials and done.finished >= max_trials else ""
    if done.stopped_by is not None:
        console.print(f"worker finished {done.finished} trials.")
    elif left:
        console.print(f"worker finished {done.finished} trials{capped}; {left} trial(s) are "
                      "still to run: start a worker again to run them.")
    else:
        console.print(f"worker finished {done.finished} trials; nothing is left to run.")
    exit_if_stopped(done.stopped_by)


def _left_to_run(store: Any, names: list[str]) -> int:
    """Trials the studies (all, without names) still have to run, created or not: the
    figure `tunebook status` shows in its "to run" column."""
    from tunebook.analysis.overview import overview

    trees = [store.tree(n) for n in names] if names else store.trees()
    return sum(overview(store, tree).to_run for tree in trees)


def _other_finished(store: Any, study: str, wanted: list[str]) -> str:
    """How to re-queue the unsuccessful trials ``--status`` left out (an infeasible trial
    is not a failed one: a fixed trainer may make it feasible)."""
    from tunebook.records import TrialStatus

    counts = store.counts(store.tree(study).ids)
    other = {s.value: n for s in (TrialStatus.FAILED, TrialStatus.INFEASIBLE)
             if s.value not in wanted and (n := counts.get(s, 0))}
    if not other:
        return ""
    said = ", ".join(f"{n} {s}" for s, n in other.items())
    return (f" It has {said}: re-queue them with `tunebook retry {study} --status "
            f"{','.join([*wanted, *other])}`.")


@click.command()
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
    store = open_db(db, create=False)
    again = retry_study(store, study, [allowed[s] for s in wanted], list(indices) or None)
    if not again:
        console.print(f"no {'/'.join(wanted)} trials to re-queue in {escape(study)}."
                      + _other_finished(store, study, wanted), highlight=False)
        return
    console.print(f"re-queued {len(again)} trials of [bold]{escape(study)}[/] "
                  f"({', '.join(str(t.index) for t in again[:20])}"
                  f"{', ...' if len(again) > 20 else ''}); run it again to run them.")


@click.command()
@click.argument("study")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--files", is_flag=True, help="Also remove the study's trial folders (logs, "
              "checkpoints) under --runs-dir.")
@click.option("--force", is_flag=True, help="Delete even while trials are running (a run "
              "working on the study then stops with an error).")
@db_option
@runs_dir_option
def delete(study: str, yes: bool, files: bool, force: bool, db: str | None,
           runs_dir: Path | None) -> None:
    """Delete STUDY: its sub-studies, trials, metric points and checkpoint records.

    Asks first (--yes to skip). Checkpoint and log files stay on disk unless --files.
    A study with running trials is refused unless --force: a run is working on it.
    """
    from tunebook.records import TrialStatus
    from tunebook.runner.local import default_runs_dir
    from tunebook.runner.study import delete_study

    store = open_db(db, create=False)
    tree = store.tree(study)
    counts = store.counts(tree.ids)
    count = sum(counts.values())
    running = counts.get(TrialStatus.RUNNING, 0)
    if running and not force:
        raise TunebookError(f"study {study!r} has {running} running trial(s): a run is working "
                            "on it. Stop that run first (Ctrl-C re-queues its trials), or "
                            "pass --force to delete it anyway")
    if not yes and not click.confirm(f"delete study {study!r} and its {count} trials from "
                                     f"{store.url}?", default=False, err=True):
        raise TunebookError("nothing deleted")
    gone = delete_study(store, study, (runs_dir or default_runs_dir(store)) if files else None)
    console.print(f"deleted [bold]{escape(gone.study)}[/] ({gone.trials} trials"
                  + (f", {len(gone.folders)} run folders" if files else "") + ").")


@click.command()
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
    from tunebook.runner.slots import check_writable_dir

    check_writable_dir(directory, "DIRECTORY")
    try:
        text = study_yaml(optimizer, budget)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--optimizer/--budget") from None
    targets = {directory / "study.yaml": text, directory / "train.py": TRAIN_PY}
    existing = [str(p) for p in targets if p.exists()]
    if existing and not force:
        raise TunebookError(f"{', '.join(existing)} already exist; pass --force to overwrite")
    for path in targets:
        check_output_file(path, "DIRECTORY")
    for path, text in targets.items():
        path.write_text(text)
    console.print(f"wrote {directory / 'study.yaml'} and {directory / 'train.py'}; try: "
                  f"tunebook run {directory / 'study.yaml'} --workers 2")


# The playbook loop's bookkeeping commands live in their own module (they use the
# helpers above, so they are imported once those exist).


COMMANDS = (run, worker, retry, delete, demo, init)
