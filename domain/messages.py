"""Conversation values shared by every layer: messages, tool calls, usage and replies.

These are frozen, keyword-only attrs classes. Collections are tuples and mappings are
never mutated after construction; change a value with ``attrs.evolve``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

__all__ = [
    "AIResponse",
    "ChatMessage",
    "FinishReason",
    "ImageInput",
    "Role",
    "ThinkingBlock",
    "ToolCall",
    "ToolDefinition",
    "ToolPending",
    "ToolResult",
    "Usage",
]


class Role(enum.StrEnum):
    """Who speaks a message."""

    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"


class FinishReason(enum.StrEnum):
    """Why the model stopped, normalised across backends."""

    STOP = "stop"
    LENGTH = "length"
    TOOL_CALLS = "tool_calls"
    CONTENT_FILTER = "content_filter"


def _frozen_mapping(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return dict(value) if value else {}


def _images(value: Iterable[ImageInput]) -> tuple[ImageInput, ...]:
    return tuple(value)


def _tool_calls(value: Iterable[ToolCall]) -> tuple[ToolCall, ...]:
    return tuple(value)


def _thinking_blocks(value: Iterable[ThinkingBlock]) -> tuple[ThinkingBlock, ...]:
    return tuple(value)


@attrs.frozen(kw_only=True)
class ImageInput:
    """An image attached to a user message.

    Exactly one of ``url``, ``data`` or ``path`` is set. ``url`` is an http(s) URL or a
    ``data:`` URI; ``data`` is raw bytes (give ``media_type``); ``path`` is a local file
    that an adapter reads when it builds the request (the domain never touches files).
    """

    url: str | None = None
    data: bytes | None = attrs.field(default=None, repr=lambda v: f"<{len(v)} bytes>" if v else "None")
    path: str | None = None
    media_type: str | None = None

    def __attrs_post_init__(self) -> None:
        given = sum(value is not None for value in (self.url, self.data, self.path))
        if given != 1:
            raise ValueError("an image needs exactly one of url=, data= or path=")

    @classmethod
    def from_reference(cls, reference: str) -> ImageInput:
        """Build an image from what a user typed: an http(s) URL, a data URI or a path."""
        lowered = reference.lower()
        if lowered.startswith(("http://", "https://", "data:")):
            return cls(url=reference)
        return cls(path=reference)


@attrs.frozen(kw_only=True)
class ToolDefinition:
    """A tool the model may call: its name, what it does and a JSON Schema of its arguments."""

    name: str = attrs.field()
    description: str = ""
    parameters: Mapping[str, Any] = attrs.field(
        factory=lambda: {"type": "object", "properties": {}}, converter=_frozen_mapping
    )

    @name.validator
    def _name_not_empty(self, attribute: object, value: str) -> None:
        if not value.strip():
            raise ValueError("a tool needs a non-empty name")


@attrs.frozen(kw_only=True)
class ToolCall:
    """One call the model asked for.

    ``id`` is the single identifier used end to end: the tool result message carries it back
    as ``tool_call_id``. When the model sent arguments that are not a JSON object,
    ``arguments`` is empty, ``raw_arguments`` keeps the text exactly as received and
    ``parse_error`` says what was wrong, so the agent loop can tell the model.
    """

    id: str
    name: str
    arguments: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen_mapping)
    raw_arguments: str | None = None
    parse_error: str | None = None

    @property
    def is_valid(self) -> bool:
        """Whether the arguments parsed into a JSON object."""
        return self.parse_error is None


@attrs.frozen(kw_only=True)
class ThinkingBlock:
    """A reasoning block as a provider returned it, kept so it can be sent back verbatim.

    Anthropic requires thinking blocks, with their signatures, to be replayed on the next
    turn when tools are used; ``redacted`` blocks carry opaque ``data`` instead of text.
    """

    text: str = ""
    signature: str | None = None
    redacted: bool = False
    data: str | None = None


@attrs.frozen(kw_only=True)
class ChatMessage:
    """One message of a conversation."""

    role: Role = attrs.field(converter=Role)
    content: str = ""
    images: tuple[ImageInput, ...] = attrs.field(default=(), converter=_images)
    tool_calls: tuple[ToolCall, ...] = attrs.field(default=(), converter=_tool_calls)
    tool_call_id: str | None = attrs.field(default=None)
    """Set exactly on ``Role.TOOL`` messages: the id of the call this message answers."""
    name: str | None = None
    """On tool messages, the tool's name (some backends need it)."""
    thinking: str | None = None
    thinking_blocks: tuple[ThinkingBlock, ...] = attrs.field(default=(), converter=_thinking_blocks)
    is_error: bool = False
    """On tool messages: the content describes a failure rather than a result."""

    @tool_call_id.validator
    def _only_on_tool_messages(self, attribute: object, value: str | None) -> None:
        if (self.role is Role.TOOL) != (value is not None):
            raise ValueError("tool_call_id must be set exactly on tool messages")

    @classmethod
    def system(cls, content: str) -> ChatMessage:
        return cls(role=Role.SYSTEM, content=content)

    @classmethod
    def user(cls, content: str, *, images: tuple[ImageInput, ...] = ()) -> ChatMessage:
        return cls(role=Role.USER, content=content, images=images)

    @classmethod
    def assistant(cls, content: str = "", *, tool_calls: tuple[ToolCall, ...] = ()) -> ChatMessage:
        return cls(role=Role.ASSISTANT, content=content, tool_calls=tool_calls)

    @classmethod
    def tool(cls, call: ToolCall, content: str, *, is_error: bool = False) -> ChatMessage:
        return cls(role=Role.TOOL, content=content, tool_call_id=call.id, name=call.name, is_error=is_error)


@attrs.frozen(kw_only=True)
class ToolResult:
    """What running one tool call produced. ``content`` is never empty."""

    call_id: str
    name: str
    content: str = attrs.field()
    is_error: bool = False

    @content.validator
    def _not_empty(self, attribute: object, value: str) -> None:
        if value == "":
            raise ValueError("a tool result needs content; describe an empty result in words")

    def to_message(self) -> ChatMessage:
        return ChatMessage(
            role=Role.TOOL,
            content=self.content,
            tool_call_id=self.call_id,
            name=self.name,
            is_error=self.is_error,
        )


@attrs.frozen(kw_only=True)
class ToolPending:
    """A tool call that runs elsewhere: a client executes it and submits its result later.

    A tool runner returns this instead of a `ToolResult` for a client tool; the run then
    pauses (``RunStatus.WAITING_FOR_TOOL``) once the reply's other calls are done.
    """

    call_id: str
    name: str


@attrs.frozen(kw_only=True)
class Usage:
    """Token counts of one model call. ``estimated`` is true when we computed them ourselves."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    estimated: bool = False

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            total_tokens=self.total_tokens + other.total_tokens,
            estimated=self.estimated or other.estimated,
        )


@attrs.frozen(kw_only=True)
class AIResponse:
    """A whole reply of the model.

    ``metadata`` holds backend facts such as ``provider`` (who served the call on a router),
    ``response_id`` or durations.
    """

    content: str = ""
    thinking: str | None = None
    thinking_blocks: tuple[ThinkingBlock, ...] = attrs.field(default=(), converter=_thinking_blocks)
    tool_calls: tuple[ToolCall, ...] = attrs.field(default=(), converter=_tool_calls)
    finish_reason: FinishReason = attrs.field(default=FinishReason.STOP, converter=FinishReason)
    usage: Usage = attrs.field(factory=Usage)
    model: str = ""
    metadata: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen_mapping)

    def to_message(self) -> ChatMessage:
        """The assistant message that records this reply in a conversation."""
        return ChatMessage(
            role=Role.ASSISTANT,
            content=self.content,
            tool_calls=self.tool_calls,
            thinking=self.thinking,
            thinking_blocks=self.thinking_blocks,
        )
