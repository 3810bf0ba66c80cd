"""`ClientToolRunner`: a tool runner that adds a conversation's client tools to the server's.

A client (the CLI, a web page) registers tool schemas with a conversation and runs those
tools itself. To the agent loop they are ordinary tools; running one answers `ToolPending`,
so the run pauses until the client submits the result. Names are unique across both sets:
a client tool may not shadow a server tool.
"""

from __future__ import annotations

from collections.abc import Sequence

from domain.messages import ToolCall, ToolDefinition, ToolPending, ToolResult
from domain.ports import ToolRunnerPort

__all__ = ["ClientToolRunner"]


class ClientToolRunner:
    """A `ToolRunnerPort`: the server's tools (may be ``None``) plus client tool definitions."""

    def __init__(self, server: ToolRunnerPort | None, client: Sequence[ToolDefinition]) -> None:
        self._server = server
        self._client = {definition.name: definition for definition in client}

    @property
    def client_names(self) -> frozenset[str]:
        """The names of the client tools."""
        return frozenset(self._client)

    def definitions(self, names: Sequence[str] | None = None) -> Sequence[ToolDefinition]:
        """The client tools named (all when ``names`` is ``None``) and the server tools named."""
        if names is None:
            server = tuple(self._server.definitions()) if self._server is not None else ()
            return (*server, *self._client.values())
        server_names = [name for name in names if name not in self._client]
        server_defs = (
            tuple(self._server.definitions(server_names)) if self._server is not None and server_names else ()
        )
        return (*server_defs, *(self._client[name] for name in names if name in self._client))

    async def run(self, call: ToolCall) -> ToolResult | ToolPending:
        """`ToolPending` for a client tool; the server runner's result otherwise."""
        if call.name in self._client:
            return ToolPending(call_id=call.id, name=call.name)
        if self._server is None:
            return ToolResult(
                call_id=call.id,
                name=call.name,
                content=f"Error: there is no tool named {call.name!r} here.",
                is_error=True,
            )
        return await self._server.run(call)
