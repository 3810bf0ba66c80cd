"""Values of the service: users, stored agents, conversations, run jobs and stored events.

The HTTP service, the job queue and the storage adapters exchange these; none of them
holds a web, SQL or Redis type. Times are timezone-aware UTC `datetime`s, ids are strings
(UUID4 hex for users, agents, conversations and runs), event ids are integers increasing per
conversation, starting at 1.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from domain.messages import ToolCall, ToolDefinition, _frozen_mapping

__all__ = [
    "TERMINAL_EVENTS",
    "AgentRecord",
    "AgentStatus",
    "ConversationRecord",
    "ConversationStatus",
    "EventType",
    "Page",
    "RunEnd",
    "RunJob",
    "RunStats",
    "StoredEvent",
    "ToolResultOutcome",
    "ToolResultStatus",
    "User",
]


def _tuple_of_str(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


def _tool_definitions(value: Iterable[ToolDefinition]) -> tuple[ToolDefinition, ...]:
    return tuple(value)


def _tool_calls(value: Iterable[ToolCall]) -> tuple[ToolCall, ...]:
    return tuple(value)


@attrs.frozen(kw_only=True)
class User:
    """A person who owns agents and conversations. The password hash is never on this value."""

    id: str
    name: str
    email: str
    created_at: dt.datetime


class AgentStatus(enum.StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"


@attrs.frozen(kw_only=True)
class AgentRecord:
    """An agent as stored for one owner.

    ``model_config`` holds the overrides by `NormalizedModelConfig` field names plus
    ``provider`` (Hugging Face routing); ``None`` values are not stored.
    """

    id: str
    owner_id: str
    name: str
    description: str = ""
    system_prompt: str = ""
    ai_backend: str
    model_config: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen_mapping)
    tools: tuple[str, ...] = attrs.field(default=(), converter=_tuple_of_str)
    status: AgentStatus = attrs.field(default=AgentStatus.ACTIVE, converter=AgentStatus)
    created_at: dt.datetime
    updated_at: dt.datetime


class ConversationStatus(enum.StrEnum):
    """Where a conversation stands. ``processing`` and ``waiting_for_tool`` mean a run owns it."""

    IDLE = "idle"
    PROCESSING = "processing"
    WAITING_FOR_TOOL = "waiting_for_tool"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    MAX_TURNS = "max_turns"

    @property
    def busy(self) -> bool:
        return self in (ConversationStatus.PROCESSING, ConversationStatus.WAITING_FOR_TOOL)


@attrs.frozen(kw_only=True)
class RunStats:
    """What a conversation's runs used so far."""

    turns: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


@attrs.frozen(kw_only=True)
class ConversationRecord:
    """A conversation of one owner with one agent. Its messages live in the conversation store.

    ``pending_tool_calls`` are the client tool calls the run waits for (status
    ``waiting_for_tool``); ``tool_results`` maps the ids answered so far to their result
    (``{"success": bool, "output": str | None, "error": str | None}``).
    """

    id: str
    owner_id: str
    agent_id: str
    title: str | None = None
    metadata: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen_mapping)
    client_tool_schemas: tuple[ToolDefinition, ...] = attrs.field(default=(), converter=_tool_definitions)
    status: ConversationStatus = attrs.field(default=ConversationStatus.IDLE, converter=ConversationStatus)
    run_id: str | None = None
    pending_tool_calls: tuple[ToolCall, ...] = attrs.field(default=(), converter=_tool_calls)
    tool_results: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen_mapping)
    error: str | None = None
    stats: RunStats = attrs.field(factory=RunStats)
    created_at: dt.datetime
    updated_at: dt.datetime


class ToolResultStatus(enum.StrEnum):
    """What became of a client tool result offered to the conversation's record."""

    RECORDED = "recorded"
    ALREADY_ANSWERED = "already_answered"
    UNKNOWN_CALL = "unknown_call"
    NOT_WAITING = "not_waiting"
    NO_CONVERSATION = "no_conversation"


@attrs.frozen(kw_only=True)
class ToolResultOutcome:
    """The answer of `ConversationRepositoryPort.record_tool_result`.

    ``calls`` are the calls the run waits (or waited) for and ``results`` the answers recorded
    so far, this one included when it was recorded. ``resumed`` is true for exactly one
    caller: the one whose result answered the last call, and whose write moved the
    conversation to ``processing`` under the new run id.
    """

    status: ToolResultStatus
    conversation_status: ConversationStatus | None = None
    calls: tuple[ToolCall, ...] = attrs.field(default=(), converter=_tool_calls)
    results: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen_mapping)
    resumed: bool = False

    @property
    def pending(self) -> tuple[str, ...]:
        """The ids of the calls still unanswered."""
        return tuple(call.id for call in self.calls if call.id not in self.results)


@attrs.frozen(kw_only=True)
class RunEnd:
    """A run's end as `ConversationRepositoryPort.end_run` recorded it: the record just before
    (its pending calls, its status) and just after (the new status, the stats' totals)."""

    before: ConversationRecord
    after: ConversationRecord


@attrs.frozen(kw_only=True)
class Page:
    """One page of a listing: ``items`` plus the total count across pages."""

    items: tuple[Any, ...] = attrs.field(converter=tuple)
    page: int
    per_page: int
    total: int


class EventType(enum.StrEnum):
    """The events a conversation's stream carries (the SSE ``event:`` field)."""

    STATUS_CHANGED = "status_changed"
    TEXT_CHUNK = "text_chunk"
    TOOL_EXECUTING = "tool_executing"
    TOOL_COMPLETED = "tool_completed"
    TOOL_REQUEST = "tool_request"
    RETRY = "retry"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    MAX_TURNS = "max_turns"


TERMINAL_EVENTS = frozenset({EventType.COMPLETED, EventType.FAILED, EventType.CANCELLED, EventType.MAX_TURNS})
"""One of these ends every run; a stream closes after one (or after a ``tool_request``)."""


@attrs.frozen(kw_only=True)
class StoredEvent:
    """An event of a conversation's stream, as kept by the event log.

    ``id`` increases by one per conversation, from 1; ``data`` is JSON-ready.
    """

    id: int
    conversation_id: str
    type: str
    data: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen_mapping)


@attrs.frozen(kw_only=True)
class RunJob:
    """A run to execute: continue ``conversation_id`` (its messages are already saved).

    ``resume`` is true when the run continues after client tool results rather than
    after a new user message; ``attempt`` counts deliveries (1 on the first).
    """

    run_id: str
    conversation_id: str
    owner_id: str
    resume: bool = False
    attempt: int = 1
