"""``tunebook mcp``: the playbook's evidence as typed tools for agents (MCP over stdio)."""

from __future__ import annotations

import click

from tunebook.cli._common import db_option, open_db


@click.command(name="mcp")
@db_option
@click.option("--allow-run", is_flag=True, help="Also allow the tools that start or steer "
              "training (start_run, start_rerun, start_autopilot, approve, reject, stop); "
              "each starts a detached `tunebook` process the server does not wait on.")
def mcp(db: str | None, allow_run: bool) -> None:
    """Serve the database to an agent over the Model Context Protocol (stdio).

    \b
    Tools: studies, trials, trial, checklist, conclusion, importance, propose_next,
    timeline, report, jobs; with --allow-run also approve, reject, start_run,
    start_rerun, start_autopilot and stop. Resources: tunebook://study/NAME/spec and
    tunebook://study/NAME/report. Read-only unless --allow-run (propose_next writes a
    study file only when asked). Configure a client to run, e.g.:

    \b
      tunebook mcp --db /path/to/tunebook.db
    Needs the extra: pip install "tunebook[mcp]". Setup: docs/integrations.md.
    """
    try:
        import mcp.server.mcpserver  # noqa: F401

        from tunebook.agent.server import serve
    except ImportError as exc:
        raise click.ClickException(f"the MCP server needs its extra ({exc.name} is missing): "
                                   'pip install "tunebook[mcp]"') from None
    store = open_db(db, create=False, read_only=True)  # a wrong path fails here, clearly
    serve(str(store.url), allow_run=allow_run)


COMMANDS = (mcp,)
