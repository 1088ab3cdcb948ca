"""Print a transcript of a real MCP session with ``tunebook mcp`` (docs/integrations.md).

Usage: ``python scripts/mcp-transcript.py DB`` after ``tunebook demo --db DB``: starts the
server over stdio with the SDK's client, calls the tools an agent would, and prints each
call and its structured answer (long lists cut to their first entries).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import anyio
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

CALLS: list[tuple[str, dict[str, Any]]] = [
    ("studies", {}),
    ("checklist", {"study": "digits-activation"}),
    ("conclusion", {"study": "digits-activation"}),
    ("trials", {"study": "digits-activation", "status": "completed", "top_k": 3,
                "columns": ["activation", "learning_rate"]}),
    ("propose_next", {"study": "digits-activation"}),
    ("trial", {"study": "digits-activation", "index": 99}),
    ("start_autopilot", {"study_file": "study.yaml", "budget": "40"}),
]


def _cut(value: Any, items: int = 3, chars: int = 240) -> Any:
    if isinstance(value, list):
        return [_cut(v, items, chars) for v in value[:items]] + (
            [f"... {len(value) - items} more"] if len(value) > items else [])
    if isinstance(value, dict):
        return {k: _cut(v, items, chars) for k, v in value.items()}
    if isinstance(value, str) and len(value) > chars:
        return value[:chars] + " ..."
    return value


async def main(db: str) -> None:
    params = StdioServerParameters(command=sys.executable,
                                   args=["-m", "tunebook.cli", "mcp", "--db", db])
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        names = [t.name for t in (await session.list_tools()).tools]
        print(f"> list_tools\n{', '.join(names)}\n")
        for tool, arguments in CALLS:
            result = await session.call_tool(tool, arguments)
            print(f"> {tool} {json.dumps(arguments)}")
            if result.is_error:
                print(f"error: {result.content[0].text}\n")
            else:
                print(json.dumps(_cut(result.structured_content), indent=1) + "\n")


if __name__ == "__main__":
    anyio.run(main, sys.argv[1])
