"""Building the body of Ollama's ``POST /api/chat`` from domain values (pure).

Reference: https://github.com/ollama/ollama/blob/main/docs/api.md ("Generate a chat
completion"). Sampling settings go under ``options`` with Ollama's names (``num_predict`` is
max tokens — the system we port forgot it —, ``num_ctx`` the context window); frequency
and presence penalties are not sent (`request_warnings` says so). Assistant tool calls are
sent in Ollama's ``{"function": {"name", "arguments": {…}}}`` shape and tool results carry
``tool_name``, which is how Ollama ties a result to its call. Each call also carries our
``id`` and each result its ``tool_call_id``: servers that know these fields (newer Ollama)
match results by id, older ones ignore unknown fields. Images go as base64 on the message;
those that need I/O (files, URLs) are encoded by the adapter beforehand and passed in.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import unquote_to_bytes

from adapters.llm._fields import present
from domain.messages import ChatMessage, ImageInput, Role, ToolCall, ToolDefinition
from domain.model_config import NormalizedModelConfig

__all__ = ["build_chat_request", "build_options", "image_base64", "request_warnings"]


_OPTION_NAMES = (
    ("temperature", "temperature"),
    ("top_p", "top_p"),
    ("top_k", "top_k"),
    ("num_ctx", "context_length"),
    ("num_predict", "max_tokens"),
    ("seed", "seed"),
)
"""Ollama's option name → the `NormalizedModelConfig` field it is sent from."""


def build_options(config: NormalizedModelConfig) -> dict[str, Any]:
    """The ``options`` object: the normalised settings under Ollama's names, unset ones left out."""
    options = present(**{option: getattr(config, field) for option, field in _OPTION_NAMES})
    if config.stop:
        options["stop"] = list(config.stop)
    return options


def request_warnings(config: NormalizedModelConfig) -> tuple[str, ...]:
    """What `build_chat_request` leaves out of ``config``, as messages for a log or a user."""
    warnings = []
    for field in ("frequency_penalty", "presence_penalty"):
        value = getattr(config, field)
        if value:  # 0.0 changes nothing, so dropping it loses nothing
            warnings.append(f"{field}={value} is not an Ollama chat option and was not sent")
    return tuple(warnings)


def _format(response_format: Mapping[str, Any] | None) -> str | Mapping[str, Any] | None:
    """Ollama's ``format`` from an OpenAI-style ``response_format`` (or a bare JSON schema)."""
    if not response_format:
        return None
    kind = response_format.get("type")
    if kind == "json_object":
        return "json"
    if kind == "json_schema":
        spec = response_format.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, Mapping) else None
        return schema if isinstance(schema, Mapping) else "json"
    if kind == "text":
        return None
    return response_format  # already a JSON schema, as Ollama takes it


def _think(config: NormalizedModelConfig) -> bool | str | None:
    if config.reasoning is False:
        return False
    if config.reasoning_effort and config.reasoning_effort in ("low", "medium", "high"):
        return config.reasoning_effort  # gpt-oss takes a level instead of a flag
    return config.reasoning


def image_base64(image: ImageInput) -> str | None:
    """The base64 text of an image that needs no I/O (bytes or a ``data:`` URI), else ``None``.

    Raises:
        ValueError: a ``data:`` URI whose payload is not valid base64.
    """
    if image.data is not None:
        return base64.b64encode(image.data).decode("ascii")
    if image.url is not None and image.url[:5].lower() == "data:":
        header, _, payload = image.url.partition(",")
        if header.lower().endswith(";base64"):
            try:
                raw = base64.b64decode(payload, validate=False)
            except (binascii.Error, ValueError) as exc:
                raise ValueError(f"the data URI of an image is not valid base64: {exc}") from exc
            return base64.b64encode(raw).decode("ascii")
        return base64.b64encode(unquote_to_bytes(payload)).decode("ascii")
    return None


def _images_of(message: ChatMessage, resolved: Mapping[ImageInput, str]) -> list[str]:
    encoded = []
    for image in message.images:
        text = resolved.get(image)
        if text is None:
            text = image_base64(image)
        if text is None:
            where = image.path if image.path is not None else image.url
            raise ValueError(f"image {where!r} was not resolved to base64 before building the request")
        encoded.append(text)
    return encoded


def _tool_call_to_wire(call: ToolCall) -> dict[str, Any]:
    return {"id": call.id, "function": {"name": call.name, "arguments": dict(call.arguments)}}


def _message_to_wire(
    message: ChatMessage, resolved: Mapping[ImageInput, str], names_by_id: Mapping[str, str]
) -> dict[str, Any]:
    wire: dict[str, Any] = {"role": message.role.value, "content": message.content}
    if message.images:
        wire["images"] = _images_of(message, resolved)
    if message.role is Role.ASSISTANT:
        if message.thinking:
            wire["thinking"] = message.thinking
        if message.tool_calls:
            wire["tool_calls"] = [_tool_call_to_wire(call) for call in message.tool_calls]
    elif message.role is Role.TOOL:
        name = message.name or names_by_id.get(message.tool_call_id or "")
        if name:
            wire["tool_name"] = name
        wire["tool_call_id"] = message.tool_call_id
    return wire


def _tool_to_wire(tool: ToolDefinition) -> dict[str, Any]:
    parameters = dict(tool.parameters) or {"type": "object", "properties": {}}
    if "properties" in parameters and not parameters["properties"]:
        parameters["properties"] = {}
    return {
        "type": "function",
        "function": {"name": tool.name, "description": tool.description, "parameters": parameters},
    }


def build_chat_request(
    messages: Sequence[ChatMessage],
    tools: Sequence[ToolDefinition],
    config: NormalizedModelConfig,
    *,
    stream: bool,
    images: Mapping[ImageInput, str] | None = None,
    keep_alive: str | float | None = None,
) -> dict[str, Any]:
    """The JSON body of ``POST /api/chat``.

    Args:
        messages: the conversation, system prompt first when there is one.
        tools: the tools the model may call (left out when ``config.tool_choice`` is ``"none"``).
        config: the normalised model settings.
        stream: ask for NDJSON streaming.
        images: base64 texts of the images that needed I/O (paths, URLs), by image.
        keep_alive: how long Ollama keeps the model loaded (``"5m"``, seconds, ``-1``…).

    Raises:
        ValueError: an image that needs I/O is missing from ``images``.
    """
    resolved = images or {}
    names_by_id = {call.id: call.name for message in messages for call in message.tool_calls}
    body: dict[str, Any] = {
        "model": config.model,
        "messages": [_message_to_wire(message, resolved, names_by_id) for message in messages],
        "stream": stream,
    }
    if tools and config.tool_choice != "none":
        body["tools"] = [_tool_to_wire(tool) for tool in tools]
    options = build_options(config)
    if options:
        body["options"] = options
    think = _think(config)
    if think is not None:
        body["think"] = think
    fmt = _format(config.response_format)
    if fmt is not None:
        body["format"] = fmt
    if keep_alive is not None:
        body["keep_alive"] = keep_alive
    return body
