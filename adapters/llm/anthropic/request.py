"""Build the body of an Anthropic Messages API request (``POST /v1/messages``), purely.

Format: https://docs.anthropic.com/en/api/messages. The Messages API differs from OpenAI's
chat completions in ways that broke the system we port, so each is handled here once:

- the system prompt is a top-level ``system`` field, not a message; every system-role message
  of the history is folded into it, in order;
- ``max_tokens`` is required;
- assistant tool calls are ``tool_use`` blocks that keep the ids the model minted (the old
  system minted fresh ids and Anthropic answered 400 "unexpected tool_use_id");
- the results of one turn's tool calls go back together, as ``tool_result`` blocks of one user
  message, before any text of that message;
- with extended thinking, the assistant's thinking blocks (and their signatures) are sent
  back first in its content, unchanged, as Anthropic requires when tools are used;
- ``temperature`` only goes up to 1, and thinking forbids ``temperature``/``top_k``.

`adjust_config` applies those constraints and says what it changed in ``config.warnings``;
`build_request` turns messages, tools and an adjusted config into a JSON-ready dict. Nothing
here does I/O: images given as local paths are read by the adapter, which passes a resolver.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import unquote_to_bytes

import attrs

from adapters.llm._fields import present
from adapters.llm.openai_compatible.wire import sanitize_tool_name, tool_name_map
from domain.messages import ChatMessage, ImageInput, Role, ThinkingBlock, ToolCall, ToolDefinition
from domain.model_config import NormalizedModelConfig

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "MIN_THINKING_BUDGET",
    "ImageResolver",
    "adjust_config",
    "build_messages",
    "build_request",
    "build_tool_choice",
    "build_tools",
    "image_block",
    "wire_tool_names",
]

DEFAULT_MAX_TOKENS = 4096
"""Sent when the config sets no ``max_tokens``: Anthropic requires the field."""

MIN_THINKING_BUDGET = 1024
"""The smallest ``budget_tokens`` Anthropic accepts."""

MAX_TEMPERATURE = 1.0

ImageResolver = Callable[[ImageInput], tuple[str, str]]
"""Turns an image that is not a URL into ``(media_type, base64_data)`` (reads files)."""

_UNSUPPORTED = ("frequency_penalty", "presence_penalty", "seed", "response_format")


def adjust_config(config: NormalizedModelConfig) -> NormalizedModelConfig:
    """Fit a config to what the Messages API accepts, recording each change as a warning.

    Idempotent: adjusting an adjusted config changes nothing and adds no warning.

    Args:
        config: the normalised config of the call.

    Returns:
        The config to build the request from; ``warnings`` lists what was changed or dropped.
    """
    changes: dict[str, Any] = {}
    warnings: list[str] = []
    thinking = config.thinking_budget is not None

    if config.temperature is not None and config.temperature > MAX_TEMPERATURE:
        changes["temperature"] = MAX_TEMPERATURE
        warnings.append(f"temperature {config.temperature:g} is above Anthropic's maximum of 1; sent 1")
    elif config.temperature is not None and config.temperature < 0:
        changes["temperature"] = 0.0
        warnings.append(f"temperature {config.temperature:g} is below 0; sent 0")

    for name in _UNSUPPORTED:
        value = getattr(config, name)
        if value is not None and value != 0:
            changes[name] = None
            warnings.append(f"{name} is not supported by the Anthropic Messages API; ignored")

    if thinking:
        budget = config.thinking_budget or 0
        if budget < MIN_THINKING_BUDGET:
            warnings.append(
                f"thinking_budget {budget} is below Anthropic's minimum of {MIN_THINKING_BUDGET}; "
                f"sent {MIN_THINKING_BUDGET}"
            )
            budget = MIN_THINKING_BUDGET
            changes["thinking_budget"] = budget
        max_tokens = config.max_tokens or DEFAULT_MAX_TOKENS
        if max_tokens <= budget:
            # Thinking tokens count against max_tokens: keep the asked-for room for the answer.
            changes["max_tokens"] = budget + max_tokens
            warnings.append(
                f"max_tokens {max_tokens} must exceed thinking_budget {budget}; sent {budget + max_tokens}"
            )
        if config.temperature is not None:
            changes["temperature"] = None
            warnings.append("temperature cannot be set with extended thinking; not sent")
        if config.top_k is not None:
            changes["top_k"] = None
            warnings.append("top_k cannot be set with extended thinking; not sent")
        if config.top_p is not None and not 0.95 <= config.top_p <= 1:
            changes["top_p"] = None
            warnings.append("top_p must be between 0.95 and 1 with extended thinking; not sent")
        if _forces_tool(config.tool_choice):
            changes["tool_choice"] = None
            warnings.append("extended thinking does not allow forcing a tool; tool_choice not sent")
    if (
        changes.get("temperature", config.temperature) is not None
        and changes.get("top_p", config.top_p) is not None
    ):
        # Current Claude models refuse both at once ("temperature and top_p cannot both be
        # specified"); temperature is the one Anthropic recommends adjusting.
        changes["top_p"] = None
        warnings.append("Anthropic accepts temperature or top_p, not both; top_p not sent")

    if not changes:
        return config
    return attrs.evolve(config, **changes, warnings=(*config.warnings, *warnings))


def build_request(
    messages: Sequence[ChatMessage],
    config: NormalizedModelConfig,
    *,
    tools: Sequence[ToolDefinition] = (),
    stream: bool,
    resolve_image: ImageResolver | None = None,
) -> dict[str, Any]:
    """The JSON body of ``POST /messages``.

    Args:
        messages: the conversation, in order; system messages are folded into ``system``.
        config: the call's config, passed through `adjust_config` (done here again; idempotent).
        tools: the tools the model may call.
        stream: whether to ask for server-sent events.
        resolve_image: reads images given as a path (or bytes); URLs and data URIs need none.

    Returns:
        A dict ready for ``json.dumps``.

    Raises:
        ValueError: an image that cannot be sent (a path without a resolver, a bad data URI).
    """
    config = adjust_config(config)
    names = wire_tool_names(tools)
    system, wire_messages = build_messages(messages, resolve_image=resolve_image, tool_names=names)
    body: dict[str, Any] = {
        "model": config.model,
        "max_tokens": config.max_tokens or DEFAULT_MAX_TOKENS,
        "messages": wire_messages,
    }
    if system:
        body["system"] = system
    if stream:
        body["stream"] = True
    if tools:
        body["tools"] = build_tools(tools, tool_names=names)
        choice = build_tool_choice(config.tool_choice, tool_names=names)
        if choice is not None:
            body["tool_choice"] = choice
    if config.thinking_budget is not None:
        body["thinking"] = {"type": "enabled", "budget_tokens": config.thinking_budget}
    body.update(present(temperature=config.temperature, top_p=config.top_p, top_k=config.top_k))
    if config.stop:
        body["stop_sequences"] = list(config.stop)
    return body


def wire_tool_names(tools: Sequence[ToolDefinition]) -> dict[str, str]:
    """Original tool name -> the name sent (``[A-Za-z0-9_-]``, ≤ 64 chars, unique).

    Anthropic refuses other tool names; replies are mapped back with `tool_name_map`.
    """
    return {original: wire for wire, original in tool_name_map(tools).items()}


def build_tools(
    tools: Sequence[ToolDefinition], *, tool_names: Mapping[str, str] | None = None
) -> list[dict[str, Any]]:
    """Tools as ``{name, description, input_schema}``; the schema is always an object schema."""
    names = wire_tool_names(tools) if tool_names is None else tool_names
    wire: list[dict[str, Any]] = []
    for tool in tools:
        schema = dict(tool.parameters)
        schema.setdefault("type", "object")
        if schema.get("type") == "object" and not isinstance(schema.get("properties"), Mapping):
            schema["properties"] = {}
        entry: dict[str, Any] = {
            "name": names.get(tool.name) or sanitize_tool_name(tool.name),
            "input_schema": schema,
        }
        if tool.description:
            entry["description"] = tool.description
        wire.append(entry)
    return wire


def build_tool_choice(
    choice: str | Mapping[str, Any] | None, *, tool_names: Mapping[str, str] | None = None
) -> dict[str, Any] | None:
    """Map an OpenAI-style or Anthropic-style ``tool_choice`` to Anthropic's shape.

    ``auto``/``none``/``required`` (or ``any``), a bare tool name, an OpenAI
    ``{"type": "function", "function": {"name": …}}`` and an Anthropic dict are accepted.
    """
    names = tool_names or {}
    if choice is None:
        return None
    if isinstance(choice, str):
        if choice in ("auto", "none", "any"):
            return {"type": choice}
        if choice == "required":
            return {"type": "any"}
        return {"type": "tool", "name": names.get(choice, choice)}
    kind = choice.get("type")
    if kind == "function":
        function = choice.get("function")
        name = str(function.get("name") if isinstance(function, Mapping) else choice.get("name"))
        return {"type": "tool", "name": names.get(name, name)}
    wire = dict(choice)
    if wire.get("type") == "tool" and isinstance(wire.get("name"), str):
        wire["name"] = names.get(wire["name"], wire["name"])
    return wire


def build_messages(
    messages: Sequence[ChatMessage],
    *,
    resolve_image: ImageResolver | None = None,
    tool_names: Mapping[str, str] | None = None,
) -> tuple[str, list[dict[str, Any]]]:
    """Split the conversation into the ``system`` text and the wire ``messages``.

    Consecutive tool results become one user message of ``tool_result`` blocks; a user
    message that follows them joins that same message after the results (Anthropic wants
    the results first, and alternating roles).

    Returns:
        ``(system, messages)``; ``system`` is empty when there was no system text.
    """
    names = tool_names or {}
    system_parts: list[str] = []
    wire: list[dict[str, Any]] = []
    for message in messages:
        if message.role is Role.SYSTEM:
            if message.content:
                system_parts.append(message.content)
            continue
        if message.role is Role.TOOL:
            role, blocks = "user", [_tool_result_block(message)]
        elif message.role is Role.USER:
            role, blocks = "user", _user_blocks(message, resolve_image)
        else:
            role, blocks = "assistant", _assistant_blocks(message, names)
            if not blocks:
                # An empty assistant turn (say a reply that was only refused thinking) would
                # be rejected: "all messages must have non-empty content".
                continue
        if wire and wire[-1]["role"] == role:
            wire[-1]["content"].extend(blocks)
        else:
            wire.append({"role": role, "content": blocks})
    for entry in wire:
        content = entry["content"]
        if len(content) == 1 and content[0]["type"] == "text":
            entry["content"] = content[0]["text"]
    return "\n\n".join(system_parts), wire


def _tool_result_block(message: ChatMessage) -> dict[str, Any]:
    block: dict[str, Any] = {
        "type": "tool_result",
        "tool_use_id": message.tool_call_id,
        "content": message.content,
    }
    if message.is_error:
        block["is_error"] = True
    return block


def _user_blocks(message: ChatMessage, resolve_image: ImageResolver | None) -> list[dict[str, Any]]:
    # Anthropic recommends images before the text that refers to them.
    blocks = [image_block(image, resolve_image) for image in message.images]
    if message.content or not blocks:
        blocks.append({"type": "text", "text": message.content})
    return blocks


def _assistant_blocks(message: ChatMessage, names: Mapping[str, str]) -> list[dict[str, Any]]:
    blocks = [block for block in map(_thinking_block, message.thinking_blocks) if block is not None]
    if message.content:
        blocks.append({"type": "text", "text": message.content})
    blocks.extend(_tool_use_block(call, names) for call in message.tool_calls)
    return blocks


def _thinking_block(block: ThinkingBlock) -> dict[str, Any] | None:
    if block.redacted:
        return {"type": "redacted_thinking", "data": block.data or ""} if block.data else None
    if block.signature is None:
        # Reasoning from another backend (or a <think> tag) has no signature; Anthropic
        # would reject it, and it is not Claude's to verify anyway.
        return None
    return {"type": "thinking", "thinking": block.text, "signature": block.signature}


def _tool_use_block(call: ToolCall, names: Mapping[str, str]) -> dict[str, Any]:
    name = names.get(call.name) or sanitize_tool_name(call.name)
    return {"type": "tool_use", "id": call.id, "name": name, "input": dict(call.arguments)}


def image_block(image: ImageInput, resolve_image: ImageResolver | None = None) -> dict[str, Any]:
    """An ``image`` content block: a ``url`` source for http(s), ``base64`` otherwise.

    Args:
        image: the image.
        resolve_image: turns a non-URL image into ``(media_type, base64)``; the adapter
            passes one that reads files and checks sizes. Without it, data URIs and bytes
            with a ``media_type`` still work.

    Raises:
        ValueError: a malformed data URI, or an image that needs ``resolve_image`` but got none.
    """
    if image.url is not None and image.url.lower().startswith(("http://", "https://")):
        return {"type": "image", "source": {"type": "url", "url": image.url}}
    if resolve_image is not None:
        media_type, data = resolve_image(image)
        return _base64_block(media_type, data)
    if image.url is not None and image.url.lower().startswith("data:"):
        media_type, data = _split_data_uri(image.url)
        return _base64_block(image.media_type or media_type, data)
    if image.data is not None and image.media_type:
        return _base64_block(image.media_type, base64.b64encode(image.data).decode("ascii"))
    raise ValueError("this image must be read before it can be sent; pass resolve_image=")


def _base64_block(media_type: str, data: str) -> dict[str, Any]:
    return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}


def _split_data_uri(uri: str) -> tuple[str, str]:
    header, comma, payload = uri.partition(",")
    if not comma:
        raise ValueError("a data URI needs a comma between its header and its data")
    params = header[len("data:") :].split(";")
    media_type = params[0] or "image/jpeg"
    if "base64" in (param.lower() for param in params[1:]):
        try:
            base64.b64decode(payload, validate=True)
        except binascii.Error as exc:
            raise ValueError(f"the data URI's base64 payload is invalid: {exc}") from exc
        return media_type, payload
    return media_type, base64.b64encode(unquote_to_bytes(payload)).decode("ascii")


def _forces_tool(choice: str | Mapping[str, Any] | None) -> bool:
    wire = build_tool_choice(choice)
    return wire is not None and wire.get("type") in ("any", "tool")
