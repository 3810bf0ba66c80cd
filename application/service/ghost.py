"""`GhostRun`: run an agent once on a message and a history the client sends, keeping nothing.

Stateless: the history lives in a store made for this run only and is thrown away after. A
reply asking for client tools ends the ghost run ``waiting_for_tool`` with the calls listed;
the client runs them and sends a new ghost request with the whole history.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

import attrs

from application.registry import BackendRegistry
from application.run_agent import RunAgent
from application.service.agents import to_runtime_agent
from application.service.client_tools import ClientToolRunner
from application.service.conversations import MAX_TURNS_LIMIT, client_tools
from application.service.errors import NotFoundError, require
from application.service.events import event_payload
from domain.events import RunEnded
from domain.messages import ChatMessage, ToolCall
from domain.ports import AgentRepositoryPort, ConversationStorePort, ToolRunnerPort
from domain.service import RunStats

__all__ = ["GhostResult", "GhostRun"]


@attrs.frozen(kw_only=True)
class GhostResult:
    """How a ghost run ended: ``status`` (completed, failed, cancelled, max_turns or
    waiting_for_tool), every message, the client calls it waits for, the error and stats."""

    status: str
    messages: tuple[ChatMessage, ...]
    tool_requests: tuple[ToolCall, ...] = ()
    error: str | None = None
    stats: RunStats = attrs.field(factory=RunStats)


@attrs.define
class GhostRun:
    """Stateless runs of an owner's agent."""

    agents: AgentRepositoryPort
    backends: BackendRegistry
    new_store: Callable[[], ConversationStorePort]
    tools: ToolRunnerPort | None = None
    max_turns: int = 25
    reserved_tool_names: tuple[str, ...] = ()

    async def stream(
        self,
        owner_id: str,
        agent_id: str,
        *,
        content: str,
        messages: Sequence[ChatMessage] = (),
        client_tool_schemas: Sequence[Mapping[str, Any]] = (),
        max_turns: int | None = None,
    ) -> AsyncIterator[tuple[str, Any]]:
        """The run's events as ``(type, data)``; the last is ``("result", GhostResult)``.

        Raises (before the first event):
            NotFoundError: no such agent for this owner.
            ValidationFailedError: no content, a bad tool schema or ``max_turns``.
        """
        record = await self.agents.get(owner_id, agent_id)
        if record is None:
            raise NotFoundError(f"no agent {agent_id!r}")
        errors: dict[str, list[str]] = {}
        if not content.strip():
            errors["content"] = ["the message is empty; say what the agent should do"]
        if max_turns is not None and not 1 <= max_turns <= MAX_TURNS_LIMIT:
            errors["max_turns"] = [f"max_turns must be from 1 to {MAX_TURNS_LIMIT}"]
        client = client_tools(client_tool_schemas, self.reserved_tool_names, errors)
        require(errors)
        return self._run(record, content, messages, client, max_turns or self.max_turns)

    async def _run(
        self, record: Any, content: str, history: Sequence[ChatMessage], client: Any, max_turns: int
    ) -> AsyncIterator[tuple[str, Any]]:
        store = self.new_store()
        for message in history:
            await store.append("ghost", message)
        runner = ClientToolRunner(self.tools, client)
        run_agent = RunAgent(backends=self.backends, store=store, tools=runner, max_turns=max_turns)
        agent = to_runtime_agent(record, extra_tools=[tool.name for tool in client])
        async for event in run_agent.stream(agent, content, conversation_id="ghost"):
            if isinstance(event, RunEnded):
                yield (
                    "result",
                    GhostResult(
                        status=event.status.value,
                        messages=event.messages,
                        tool_requests=event.pending_tool_calls,
                        error=event.error.message if event.error is not None else None,
                        stats=RunStats(
                            turns=event.turns,
                            prompt_tokens=event.usage.prompt_tokens,
                            completion_tokens=event.usage.completion_tokens,
                            total_tokens=event.usage.total_tokens,
                        ),
                    ),
                )
                return
            payload = event_payload(event, runner.client_names)
            if payload is not None:
                yield payload[0].value, payload[1]

    async def run(self, owner_id: str, agent_id: str, **kwargs: Any) -> GhostResult:
        """The whole result at once (see `stream`)."""
        events = await self.stream(owner_id, agent_id, **kwargs)
        async for type, data in events:
            if type == "result":
                result: GhostResult = data
                return result
        raise RuntimeError("the ghost run ended without a result")  # pragma: no cover - a bug
