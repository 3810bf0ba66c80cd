"""`ManageConversations`: an owner's conversations with an agent, their messages and status."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from application.service.agents import page_errors
from application.service.clock import new_id, now
from application.service.errors import NotFoundError, require
from domain.messages import ChatMessage, ToolDefinition
from domain.ports import (
    AgentRepositoryPort,
    ConversationRepositoryPort,
    ConversationStorePort,
    EventLogPort,
    RunQueuePort,
)
from domain.service import ConversationRecord, ConversationStatus, Page

__all__ = ["ConversationView", "ManageConversations", "client_tools"]

MAX_TURNS_LIMIT = 50


@attrs.frozen(kw_only=True)
class ConversationView:
    """A conversation with its messages, in order."""

    record: ConversationRecord
    messages: tuple[ChatMessage, ...]


@attrs.define
class ManageConversations:
    """Create, list, read and delete an owner's conversations."""

    agents: AgentRepositoryPort
    conversations: ConversationRepositoryPort
    messages: ConversationStorePort
    events: EventLogPort
    queue: RunQueuePort
    reserved_tool_names: tuple[str, ...] = ()
    """Names client tools may not take (the server's builtin tools)."""

    async def create(
        self,
        owner_id: str,
        agent_id: str,
        *,
        title: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        client_tool_schemas: Sequence[Mapping[str, Any]] = (),
    ) -> ConversationRecord:
        """A new, idle conversation with the owner's agent.

        Raises:
            NotFoundError: no such agent for this owner.
            ValidationFailedError: a bad title, ``metadata.max_turns`` or tool schema.
        """
        if await self.agents.get(owner_id, agent_id) is None:
            raise NotFoundError(f"no agent {agent_id!r}")
        errors: dict[str, list[str]] = {}
        if title is not None and len(title) > 255:
            errors["title"] = ["the title may have at most 255 characters"]
        metadata = dict(metadata or {})
        max_turns = metadata.get("max_turns")
        if max_turns is not None and (
            isinstance(max_turns, bool)
            or not isinstance(max_turns, int)
            or not 1 <= max_turns <= MAX_TURNS_LIMIT
        ):
            errors["metadata.max_turns"] = [f"max_turns must be a whole number from 1 to {MAX_TURNS_LIMIT}"]
        tools = client_tools(client_tool_schemas, self.reserved_tool_names, errors)
        require(errors)
        stamp = now()
        record = ConversationRecord(
            id=new_id(),
            owner_id=owner_id,
            agent_id=agent_id,
            title=title,
            metadata=metadata,
            client_tool_schemas=tools,
            created_at=stamp,
            updated_at=stamp,
        )
        return await self.conversations.add(record)

    async def list(
        self,
        owner_id: str,
        *,
        agent_id: str | None = None,
        status: str | None = None,
        page: int = 1,
        per_page: int = 15,
    ) -> Page:
        """One page of the owner's conversations, newest first."""
        errors = page_errors(page, per_page)
        wanted: ConversationStatus | None = None
        if status is not None:
            try:
                wanted = ConversationStatus(status)
            except ValueError:
                errors["status"] = [f"status must be one of {', '.join(ConversationStatus)}"]
        require(errors)
        return await self.conversations.list(
            owner_id, agent_id=agent_id, status=wanted, page=page, per_page=per_page
        )

    async def get(self, owner_id: str, conversation_id: str) -> ConversationRecord:
        """The owner's conversation record; `NotFoundError` otherwise."""
        record = await self.conversations.get(owner_id, conversation_id)
        if record is None:
            raise NotFoundError(f"no conversation {conversation_id!r}")
        return record

    async def view(self, owner_id: str, conversation_id: str) -> ConversationView:
        """The conversation with its messages."""
        record = await self.get(owner_id, conversation_id)
        return ConversationView(record=record, messages=tuple(await self.messages.load(conversation_id)))

    async def delete(self, owner_id: str, conversation_id: str) -> None:
        """Delete the conversation, its messages and events; a run in progress is cancelled first."""
        record = await self.get(owner_id, conversation_id)
        if record.status.busy:
            await self.queue.cancel(conversation_id)
        await self.conversations.delete(owner_id, conversation_id)
        await self.messages.delete(conversation_id)
        await self.events.delete(conversation_id)


def client_tools(
    schemas: Sequence[Mapping[str, Any]], reserved: Sequence[str], errors: dict[str, list[str]]
) -> tuple[ToolDefinition, ...]:
    """Client tool definitions from ``[{name, description, parameters}]``, errors collected."""
    tools: list[ToolDefinition] = []
    seen: set[str] = set()
    for index, schema in enumerate(schemas):
        field = f"client_tool_schemas.{index}"
        name = schema.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 64:
            errors.setdefault(f"{field}.name", []).append("a tool needs a name of 1 to 64 characters")
            continue
        if name in seen:
            errors.setdefault(f"{field}.name", []).append(f"the tool {name!r} is listed twice")
            continue
        if name in reserved:
            errors.setdefault(f"{field}.name", []).append(
                f"{name!r} is a server tool; give the client tool another name"
            )
            continue
        parameters = schema.get("parameters")
        if parameters is None:
            parameters = {"type": "object", "properties": {}}
        if not isinstance(parameters, Mapping):
            errors.setdefault(f"{field}.parameters", []).append("parameters must be a JSON Schema object")
            continue
        description = schema.get("description")
        seen.add(name)
        tools.append(
            ToolDefinition(
                name=name,
                description=description if isinstance(description, str) else "",
                parameters=parameters,
            )
        )
    return tuple(tools)
