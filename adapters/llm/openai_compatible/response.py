"""Replies in the OpenAI Chat Completions format: a JSON body → an `AIResponse`.

Pure and total: any JSON either parses or raises a typed `LLMError` (an ``{"error": …}``
body is classified by what it says). The helpers here (usage, text parts, reasoning fields,
envelope facts) are shared with the stream state in `stream`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from adapters.llm._errors import error_from_stream_payload
from adapters.llm._thinking import ThinkTagSplitter
from adapters.llm._tool_calls import new_call_id, parse_arguments
from adapters.llm.openai_compatible.request import arguments_text
from domain.errors import StreamError
from domain.events import ThinkingDelta
from domain.messages import AIResponse, FinishReason, ToolCall, Usage

__all__ = [
    "DEFAULT_BACKEND",
    "bad_reply",
    "estimate_tokens",
    "estimated_usage",
    "finish_reason_from_wire",
    "metadata_of",
    "model_of",
    "parse_completion",
    "reasoning_of",
    "text_of",
    "usage_from_wire",
]

DEFAULT_BACKEND = "openai-compatible"


def bad_reply(what: str, *, backend: str, model: str | None, provider: str | None) -> StreamError:
    """The error for a reply the format cannot read: "``backend`` sent ``what``"."""
    return StreamError(f"{backend} sent {what}", backend=backend, model=model, provider=provider)


_FINISH_REASONS = {
    "stop": FinishReason.STOP,
    "eos_token": FinishReason.STOP,  # TGI
    "end_turn": FinishReason.STOP,
    "stop_sequence": FinishReason.STOP,
    "length": FinishReason.LENGTH,
    "max_tokens": FinishReason.LENGTH,
    "model_length": FinishReason.LENGTH,
    "tool_calls": FinishReason.TOOL_CALLS,
    "function_call": FinishReason.TOOL_CALLS,
    "tool_use": FinishReason.TOOL_CALLS,
    "content_filter": FinishReason.CONTENT_FILTER,
}


def finish_reason_from_wire(value: Any) -> FinishReason:
    """Map a wire finish reason; unknown or missing reasons are ``stop``."""
    if isinstance(value, str):
        return _FINISH_REASONS.get(value, FinishReason.STOP)
    return FinishReason.STOP


def estimate_tokens(chars: int) -> int:
    """Our token estimate for a text length: ``ceil(chars / 4)``."""
    return math.ceil(chars / 4)


def _int(value: Any) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    return 0


def usage_from_wire(usage: Any) -> Usage | None:
    if not isinstance(usage, Mapping):
        return None
    prompt = _int(usage.get("prompt_tokens", usage.get("input_tokens")))
    completion = _int(usage.get("completion_tokens", usage.get("output_tokens")))
    total = _int(usage.get("total_tokens")) or prompt + completion
    return Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=total)


def estimated_usage(prompt_chars: int, completion_chars: int) -> Usage:
    prompt, completion = estimate_tokens(prompt_chars), estimate_tokens(completion_chars)
    return Usage(
        prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion, estimated=True
    )


def text_of(content: Any) -> str:
    """Message content: a string, null, or a list of ``{"type": "text", "text": …}`` parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part.get("text", "") if isinstance(part, Mapping) and isinstance(part.get("text"), str) else ""
            for part in content
        )
    return ""


def reasoning_of(source: Mapping[str, Any]) -> str:
    for key in ("reasoning_content", "reasoning"):
        value = source.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def metadata_of(payload: Mapping[str, Any]) -> dict[str, Any]:
    metadata: dict[str, Any] = {}
    if isinstance(payload.get("id"), str) and payload["id"]:
        metadata["response_id"] = payload["id"]
    if isinstance(payload.get("system_fingerprint"), str) and payload["system_fingerprint"]:
        metadata["system_fingerprint"] = payload["system_fingerprint"]
    return metadata


def model_of(payload: Mapping[str, Any]) -> str:
    model = payload.get("model")
    return model if isinstance(model, str) else ""


def _call_from_wire(entry: Mapping[str, Any], names: Mapping[str, str]) -> ToolCall:
    function = entry.get("function")
    if not isinstance(function, Mapping):
        function = entry  # a flat {"name": …, "arguments": …} entry
    raw_name = function.get("name")
    name: str = raw_name if isinstance(raw_name, str) else ""
    name = names.get(name, name)
    raw_id = entry.get("id")
    call_id: str = raw_id if isinstance(raw_id, str) and raw_id else new_call_id()
    arguments = function.get("arguments")
    if isinstance(arguments, Mapping):
        return ToolCall(id=call_id, name=name, arguments=dict(arguments))  # TGI sends an object
    if arguments is None:
        return ToolCall(id=call_id, name=name)
    raw = arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)
    parsed, error = parse_arguments(raw)
    if error is None:
        return ToolCall(id=call_id, name=name, arguments=parsed)
    return ToolCall(id=call_id, name=name, raw_arguments=raw, parse_error=error)


def _split_think_tags(content: str) -> tuple[str, str]:
    if "<think>" not in content:
        return content, ""
    splitter = ThinkTagSplitter()
    text: list[str] = []
    thinking: list[str] = []
    for event in (*splitter.feed(content), *splitter.flush()):
        (thinking if isinstance(event, ThinkingDelta) else text).append(event.text)
    return "".join(text), "".join(thinking)


def parse_completion(
    payload: Any,
    *,
    tool_names: Mapping[str, str] | None = None,
    backend: str = DEFAULT_BACKEND,
    model: str | None = None,
    provider: str | None = None,
    prompt_chars: int = 0,
    advice: Mapping[int, str] | None = None,
) -> AIResponse:
    """The `AIResponse` of a non-streaming reply body.

    Args:
        payload: the parsed JSON body.
        tool_names: wire name -> original name (see `tool_name_map`).
        backend: the backend name, for errors.
        model: the requested model, used when the body names none, and for errors.
        provider: the serving provider, for errors.
        prompt_chars: length of the prompt, for the usage estimate when the body has none.
        advice: per-status guidance for an ``{"error": …}`` body (see `error_for_status`).

    Raises:
        LLMError: the body is an ``{"error": …}`` object (classified by what it says).
        StreamError: the body is not a completion (not an object, or no choices).
    """
    if not isinstance(payload, Mapping):
        raise bad_reply("a reply that is not a JSON object", backend=backend, model=model, provider=provider)
    if payload.get("error"):
        raise error_from_stream_payload(
            payload, backend=backend, model=model, provider=provider, advice=advice
        )
    choices = payload.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
        raise bad_reply(
            "a reply without choices; the provider may not support this model",
            backend=backend,
            model=model,
            provider=provider,
        )
    choice = choices[0]
    message = choice.get("message")
    if not isinstance(message, Mapping):
        message = {}
    names = tool_names or {}
    content, tag_thinking = _split_think_tags(text_of(message.get("content")))
    thinking = reasoning_of(message) + tag_thinking
    raw_calls = message.get("tool_calls")
    if isinstance(raw_calls, Mapping):
        raw_calls = [raw_calls]
    calls = [_call_from_wire(c, names) for c in raw_calls or () if isinstance(c, Mapping)]
    legacy = message.get("function_call")
    if not calls and isinstance(legacy, Mapping):
        calls = [_call_from_wire({"function": legacy}, names)]
    finish = finish_reason_from_wire(choice.get("finish_reason"))
    if calls and finish is FinishReason.STOP:
        finish = FinishReason.TOOL_CALLS
    usage = usage_from_wire(payload.get("usage"))
    if usage is None:
        completion_chars = len(content) + len(thinking) + sum(len(arguments_text(c)) for c in calls)
        usage = estimated_usage(prompt_chars, completion_chars)
    return AIResponse(
        content=content,
        thinking=thinking or None,
        tool_calls=tuple(calls),
        finish_reason=finish,
        usage=usage,
        model=model_of(payload) or model or "",
        metadata=metadata_of(payload),
    )
