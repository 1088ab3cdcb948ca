"""``tunebook mcp``: the tools of :mod:`tunebook.agent.tools` served over MCP (stdio), on
the official ``mcp`` SDK (the ``mcp`` extra, imported only here).

Every tool has a typed input and output schema (from the signatures and the models) and a
description that says what to do with the answer. A tool's error (an unknown study, an
index out of range, a tool the server does not allow) comes back as an MCP tool error
whose text is the fix; no traceback reaches the agent.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Any

from tunebook.agent.tools import Tools
from tunebook.errors import TunebookError

INSTRUCTIONS = """\
tunebook runs the Deep Learning Tuning Playbook: studies of trials over scientific,
nuisance and fixed hyperparameters. Read a study as the playbook does: `checklist` (is the
search space big enough, enough trials, infeasible trials, optimisation problems, what the
curves say; each with a verdict, its statistic and the next step), then `conclusion` (does
the gap between scientific values beat the seed spread?), then `propose_next` (the typed
changes the evidence supports, and those it does not yet). An autopilot started with
approve_each stops before each step: read `timeline` and `approve` or `reject` with a
reason. Tools that start training need the server started with --allow-run."""


def build_server(tools: Tools) -> Any:
    """The MCP server exposing ``tools`` (resources: each study's file and report)."""
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError

    server = MCPServer("tunebook", instructions=INSTRUCTIONS)

    def tool(fn: Callable[..., Any], description: str) -> None:
        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except TunebookError as exc:
                raise ToolError(str(exc)) from None
            except LookupError as exc:
                raise ToolError(str(exc).strip("'\"")) from None

        call.__name__, call.__doc__ = fn.__name__, fn.__doc__
        # The types themselves, not their names: the SDK builds the schemas from them.
        call.__signature__ = inspect.signature(fn, eval_str=True)  # type: ignore[attr-defined]
        call.__annotations__ = typing.get_type_hints(fn)
        server.add_tool(call, name=fn.__name__, description=description,
                        structured_output=True)

    t = tools
    tool(t.studies, "The studies in the database: trial counts by status, the best "
         "objective value, and whether an autopilot of that name has a timeline. Start here.")
    tool(t.trials, "A study's trials: filter by status (queued, running, completed, "
         "infeasible, failed, pruned), keep the top_k best by the objective, choose the "
         "parameter columns. At most 500 rows; total says how many matched.")
    tool(t.trial, "One trial: parameters, status and reason (why it failed or was "
         "infeasible), seed, attempts, the digest of the code it ran, warnings, and a "
         "summary of every metric it reported (first, last, best, steps).")
    tool(t.checklist, "The playbook's checklist of a study: each check's verdict (ok, warn, "
         "fail, unknown), what the evidence shows, its statistics, and the next step. Act on "
         "fail and warn first.")
    tool(t.conclusion, "The conclusion the evidence supports (does a scientific value win "
         "by more than the seed spread?) and the isolation rows: per value its best, its mean "
         "over seeds where re-run, and the spread.")
    tool(t.importance, "Which nuisance parameters move the objective: permutation "
         "importance with its 10-90 % range over refits (a range reaching 0 is no effect).")
    tool(t.propose_next, "`tunebook next` as a proposal: the typed changes to the study "
         "(widen, cut, fix, budget, steps, sampler), each with its reason and statistic, the "
         "changes held back, and the file it would write. Written only with write=true "
         "(force=true to overwrite).")
    tool(t.timeline, "An autopilot's timeline: every decision (phase, action, why, the "
         "evidence) and the one waiting for approval, if any.")
    tool(t.report, "Write a fresh offline HTML report of the studies and return its path.")
    tool(t.approve, "Approve the decision an --approve autopilot waits on; it goes on in a "
         "detached process (watch it with timeline and jobs). Needs --allow-run.")
    tool(t.reject, "Reject the decision an --approve autopilot waits on, with why; it takes "
         "the next best action in a detached process. Needs --allow-run.")
    tool(t.start_run, "Start `tunebook run STUDY_FILE` in a detached process (resumes a "
         "study that exists). Needs --allow-run.")
    tool(t.start_rerun, "Start `tunebook rerun STUDY`: its best configurations again on "
         "more seeds, detached. Needs --allow-run.")
    tool(t.start_autopilot, "Start the autopilot on a study file under a budget (trainings, "
         "or a time such as 2h), detached; approve_each stops before each step for "
         "approve/reject. Needs --allow-run.")
    tool(t.jobs, "The processes this server started: running or their exit code, and the "
         "end of each log.")
    tool(t.stop, "Stop a job this server started (SIGTERM: its trials are re-queued). "
         "Needs --allow-run.")

    @server.resource("tunebook://study/{name}/spec", mime_type="application/json",
                     description="The study's stored spec: what it searched and how.")
    def study_file(name: str) -> str:
        import json

        return json.dumps(study_spec_of(tools, name), indent=1, default=str)

    @server.resource("tunebook://study/{name}/report", mime_type="text/html",
                     description="A fresh offline HTML report of the study.")
    def study_report(name: str) -> str:
        from pathlib import Path

        return Path(tools.report([name]).path).read_text()

    return server


def study_spec_of(tools: Tools, name: str) -> dict[str, Any]:
    from tunebook.spec import study_spec

    return dict(study_spec(tools.store.tree(name).root).snapshot())


def serve(db: str, *, allow_run: bool = False) -> None:
    """Serve the tools over stdio until the client closes the stream."""
    build_server(Tools(db, allow_run=allow_run)).run("stdio")


__all__ = ["INSTRUCTIONS", "build_server", "serve"]
