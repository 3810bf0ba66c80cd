"""Events a user interface can render as they come.

An LLM stream yields `TextDelta`, `ThinkingDelta`, `ToolCallStarted` and
`ToolArgumentsDelta` events and ends with exactly one `ResponseCompleted`. A run of an
agent yields those, plus `ToolExecutionStarted`/`ToolExecutionFinished` and
`MessageAppended`, and ends with exactly one `RunEnded`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import TypeAlias

import attrs

from domain.errors import AgentError
from domain.messages import AIResponse, ChatMessage, ToolCall, ToolResult, Usage


def _messages(value: Iterable[ChatMessage]) -> tuple[ChatMessage, ...]:
    return tuple(value)


def _calls(value: Iterable[ToolCall]) -> tuple[ToolCall, ...]:
    return tuple(value)


__all__ = [
    "MessageAppended",
    "ResponseCompleted",
    "RunEnded",
    "RunEvent",
    "RunStatus",
    "StreamEvent",
    "TextDelta",
    "ThinkingDelta",
    "ToolArgumentsDelta",
    "ToolCallStarted",
    "ToolExecutionFinished",
    "ToolExecutionStarted",
]


@attrs.frozen(kw_only=True)
class TextDelta:
    """A piece of the answer's text."""

    text: str


@attrs.frozen(kw_only=True)
class ThinkingDelta:
    """A piece of the model's reasoning."""

    text: str


@attrs.frozen(kw_only=True)
class ToolCallStarted:
    """The model began a tool call. ``index`` orders calls within one reply."""

    index: int
    id: str
    name: str


@attrs.frozen(kw_only=True)
class ToolArgumentsDelta:
    """A fragment of a tool call's JSON arguments, as the model sends it."""

    index: int
    fragment: str


@attrs.frozen(kw_only=True)
class ResponseCompleted:
    """The whole reply, rebuilt from the stream. Always the last event of a stream."""

    response: AIResponse


StreamEvent: TypeAlias = TextDelta | ThinkingDelta | ToolCallStarted | ToolArgumentsDelta | ResponseCompleted


class RunStatus(enum.StrEnum):
    """How a run of an agent ended."""

    COMPLETED = "completed"
    MAX_TURNS = "max_turns"
    FAILED = "failed"
    CANCELLED = "cancelled"
    WAITING_FOR_TOOL = "waiting_for_tool"
    """Paused: the reply asked for client tools (``RunEnded.pending_tool_calls``); the run goes
    on, as a new run, once their results are saved."""


@attrs.frozen(kw_only=True)
class MessageAppended:
    """A message was added to the conversation and saved."""

    message: ChatMessage


@attrs.frozen(kw_only=True)
class ToolExecutionStarted:
    """The runtime started running a tool call."""

    call: ToolCall


@attrs.frozen(kw_only=True)
class ToolExecutionFinished:
    """A tool call finished; ``result.is_error`` tells whether it failed."""

    result: ToolResult


@attrs.frozen(kw_only=True)
class RunEnded:
    """The terminal event of a run: exactly one per run.

    ``response`` is the last model reply (``None`` if none came); ``messages`` is every
    message of the conversation, in order; ``error`` is set when ``status`` is ``FAILED``.
    """

    status: RunStatus
    conversation_id: str
    messages: tuple[ChatMessage, ...] = attrs.field(default=(), converter=_messages)
    response: AIResponse | None = None
    usage: Usage = attrs.field(factory=Usage)
    turns: int = 0
    error: AgentError | None = None
    pending_tool_calls: tuple[ToolCall, ...] = attrs.field(default=(), converter=_calls)
    """With ``WAITING_FOR_TOOL``: every client call of the last reply, in call order."""


RunEvent: TypeAlias = (
    TextDelta
    | ThinkingDelta
    | ToolCallStarted
    | ToolArgumentsDelta
    | ResponseCompleted
    | MessageAppended
    | ToolExecutionStarted
    | ToolExecutionFinished
    | RunEnded
)
