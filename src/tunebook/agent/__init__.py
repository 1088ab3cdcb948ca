"""tunebook for agents: the playbook's evidence as typed tools over MCP (``tunebook mcp``).

:mod:`tunebook.agent.tools` holds the tools as plain methods over a store;
:mod:`tunebook.agent.server` serves them with the ``mcp`` SDK (the ``mcp`` extra).
"""

from tunebook.agent.tools import NotAllowed, Tools

__all__ = ["NotAllowed", "Tools"]
