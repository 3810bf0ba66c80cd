"""Requests in the OpenAI Chat Completions format: messages, tools and settings → a JSON body.

Pure functions over domain values (https://platform.openai.com/docs/api-reference/chat/create);
tool names are reduced to what every provider accepts and mapped back by `tool_name_map`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from adapters.llm._images import image_url as default_image_url
from domain.messages import ChatMessage, ImageInput, Role, ToolCall, ToolDefinition
from domain.model_config import NormalizedModelConfig

__all__ = [
    "ImageURL",
    "arguments_text",
    "build_request",
    "message_to_wire",
    "sanitize_tool_name",
    "tool_call_to_wire",
    "tool_name_map",
    "tool_to_wire",
]

_TOOL_NAME_INVALID = re.compile(r"[^A-Za-z0-9_-]")


_TOOL_CHOICE_KEYWORDS = frozenset({"auto", "none", "required"})


ImageURL = Callable[[ImageInput], str]


def sanitize_tool_name(name: str) -> str:
    """A tool name reduced to what every provider accepts: ``[A-Za-z0-9_-]``, at most 64 chars."""
    cleaned = _TOOL_NAME_INVALID.sub("_", name)[:64]
    return cleaned or "tool"


def _sanitized_names(names: Iterable[str]) -> dict[str, str]:
    """original -> wire name, unique even when two names reduce to the same text."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for name in names:
        if name in out:
            continue
        candidate = base = sanitize_tool_name(name)
        counter = 2
        while candidate in used:
            suffix = f"_{counter}"
            candidate = base[: 64 - len(suffix)] + suffix
            counter += 1
        used.add(candidate)
        out[name] = candidate
    return out


def tool_name_map(tools: Sequence[ToolDefinition]) -> dict[str, str]:
    """wire name -> original name, to map parsed tool calls back to the tools we offered."""
    return {wire: original for original, wire in _sanitized_names(t.name for t in tools).items()}


def tool_to_wire(tool: ToolDefinition, *, wire_name: str | None = None) -> dict[str, Any]:
    """One tool as ``{"type": "function", "function": {name, description, parameters}}``."""
    parameters = dict(tool.parameters)
    parameters.setdefault("type", "object")
    properties = parameters.get("properties")
    if not isinstance(properties, Mapping) or not properties:
        # An empty PHP array or a list would go out as [] and be rejected: always an object.
        parameters["properties"] = {}
    function: dict[str, Any] = {"name": wire_name or sanitize_tool_name(tool.name)}
    if tool.description:
        function["description"] = tool.description
    function["parameters"] = parameters
    return {"type": "function", "function": function}


def arguments_text(call: ToolCall) -> str:
    if call.parse_error is not None and call.raw_arguments is not None:
        return call.raw_arguments  # send back exactly what the model said
    return json.dumps(dict(call.arguments), ensure_ascii=False)


def tool_call_to_wire(call: ToolCall, names: Mapping[str, str]) -> dict[str, Any]:
    return {
        "id": call.id,
        "type": "function",
        "function": {
            "name": names.get(call.name) or sanitize_tool_name(call.name),
            "arguments": arguments_text(call),
        },
    }


def message_to_wire(
    message: ChatMessage,
    *,
    image_url: ImageURL = default_image_url,
    tool_names: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """One message in the Chat Completions shape.

    Thinking is not sent back (the format has no field for it, and some providers refuse
    ``reasoning_content`` on input); a tool message carries only ``tool_call_id`` and
    ``content``, which every OpenAI-compatible server accepts.

    Args:
        message: the message.
        image_url: turns an attached image into an ``image_url`` string (reads files).
        tool_names: original tool name -> wire name, for assistant tool calls.
    """
    names = tool_names or {}
    if message.role is Role.TOOL:
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
    if message.role is Role.ASSISTANT:
        wire: dict[str, Any] = {"role": "assistant"}
        if message.tool_calls:
            wire["content"] = message.content or None
            wire["tool_calls"] = [tool_call_to_wire(call, names) for call in message.tool_calls]
        else:
            wire["content"] = message.content
        return wire
    if message.images:
        parts: list[dict[str, Any]] = []
        if message.content:
            parts.append({"type": "text", "text": message.content})
        parts.extend(
            {"type": "image_url", "image_url": {"url": image_url(image)}} for image in message.images
        )
        return {"role": message.role.value, "content": parts}
    return {"role": message.role.value, "content": message.content}


def _tool_choice(choice: str | Mapping[str, Any], names: Mapping[str, str]) -> str | dict[str, Any]:
    if isinstance(choice, str):
        if choice in _TOOL_CHOICE_KEYWORDS:
            return choice
        return {"type": "function", "function": {"name": names.get(choice) or sanitize_tool_name(choice)}}
    return dict(choice)


def build_request(
    messages: Sequence[ChatMessage],
    tools: Sequence[ToolDefinition],
    config: NormalizedModelConfig,
    *,
    stream: bool,
    include_usage: bool = True,
    max_tokens_key: str = "max_tokens",
    image_url: ImageURL = default_image_url,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON body of a ``POST /chat/completions``.

    Args:
        messages: the conversation in order; the caller puts the system prompt first.
        tools: the tools offered; names are reduced to ``[A-Za-z0-9_-]`` (see `tool_name_map`).
        config: model and sampling settings; ``None`` values are left out.
        stream: whether to ask for a server-sent event stream.
        include_usage: when streaming, ask for a final usage chunk (``stream_options``).
        max_tokens_key: ``max_tokens``, or ``max_completion_tokens`` for OpenAI's newer models.
        image_url: turns an attached image into an ``image_url`` string.
        extra: provider-specific fields, merged last (they win).

    Raises:
        ConfigError: an attached image cannot be read (from ``image_url``).
    """
    names = _sanitized_names(t.name for t in tools)
    body: dict[str, Any] = {"model": config.model}  # first: routers read the model from a prefix
    body["messages"] = [message_to_wire(m, image_url=image_url, tool_names=names) for m in messages]
    if tools:
        body["tools"] = [tool_to_wire(t, wire_name=names[t.name]) for t in tools]
        if config.tool_choice is not None:
            body["tool_choice"] = _tool_choice(config.tool_choice, names)
    options: dict[str, Any] = {
        "temperature": config.temperature,
        "top_p": config.top_p,
        max_tokens_key: config.max_tokens,
        "frequency_penalty": config.frequency_penalty,
        "presence_penalty": config.presence_penalty,
        "seed": config.seed,
        "reasoning_effort": config.reasoning_effort,
    }
    body.update({key: value for key, value in options.items() if value is not None})
    if config.stop:
        body["stop"] = list(config.stop)
    if config.response_format is not None:
        body["response_format"] = dict(config.response_format)
    body["stream"] = stream
    if stream and include_usage:
        body["stream_options"] = {"include_usage": True}
    if extra:
        body.update(extra)
    return body
