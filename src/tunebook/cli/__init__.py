"""The ``tunebook`` command line: parse, call one library function, print with rich.

The commands live by topic: :mod:`.study` (running studies), :mod:`.inspect` (reading the
store), :mod:`.workflows` (the playbook's procedures), :mod:`.loop` (round 2, baseline and
launches); :mod:`._common` holds what they share.
"""

from __future__ import annotations

from typing import Any

import click
from rich.markup import escape

from tunebook.cli._common import err_console
from tunebook.errors import TunebookError


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
      tunebook autopilot study.yaml --budget 60   the whole loop, each decision explained
      tunebook demo                       train an MLP on digits, compare 3 activations
      tunebook init                       write a starter study.yaml + train.py
      tunebook run study.yaml -w 2        run (or resume) a study with 2 workers
      tunebook status                     what is in the database
      tunebook trials NAME                every trial of a study
      tunebook show NAME/7                one trial in detail
      tunebook report NAME -o report.html the checklist, plots and a conclusion
      tunebook table --format md          the tracking sheet of all studies
      tunebook dashboard                  live, read-only view in the browser
      tunebook mcp                        the evidence as typed tools for agents (MCP)
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




def _register() -> None:
    from tunebook.cli import agent, autopilot, inspect, loop, study, workflows

    for module in (study, autopilot, inspect, workflows, loop, agent):
        for command in module.COMMANDS:
            cli.add_command(command)


_register()


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="tunebook")
