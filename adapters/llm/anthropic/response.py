"""Read (and, for fakes and tests, write) Anthropic Messages API replies, purely.

Format: https://docs.anthropic.com/en/api/messages (the ``Message`` object),
https://docs.anthropic.com/en/api/errors (error bodies); the model list is in `models`.

A reply is a list of content blocks: ``text``, ``thinking`` (with a ``signature``),
``redacted_thinking`` (opaque ``data``) and ``tool_use`` (``id``, ``name``, ``input``). The
thinking blocks are kept whole in `AIResponse.thinking_blocks` so the next request can send
them back verbatim. Every parser here has a ``render_*`` inverse beside it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from adapters.llm._errors import MAX_DETAIL_CHARS, redact_secrets
from domain import errors
from domain.messages import AIResponse, FinishReason, ThinkingBlock, ToolCall, Usage

__all__ = [
    "BACKEND",
    "CONTEXT_WINDOW",
    "STATUS_TYPES",
    "assemble_response",
    "error_from_payload",
    "finish_reason_for",
    "parse_completion",
    "render_completion",
    "render_content",
    "render_error",
    "render_usage",
    "stop_reason_for",
    "usage_from",
]

BACKEND = "claude"
"""The one name of this backend, in settings, the registry and agent definitions."""

CONTEXT_WINDOW = 200_000
"""Every current Claude model has a 200k-token context window."""

_FINISH_REASONS = {
    "end_turn": FinishReason.STOP,
    "stop_sequence": FinishReason.STOP,
    "pause_turn": FinishReason.STOP,
    "max_tokens": FinishReason.LENGTH,
    "model_context_window_exceeded": FinishReason.LENGTH,
    "tool_use": FinishReason.TOOL_CALLS,
    "refusal": FinishReason.CONTENT_FILTER,
}
_STOP_REASONS = {
    FinishReason.STOP: "end_turn",
    FinishReason.LENGTH: "max_tokens",
    FinishReason.TOOL_CALLS: "tool_use",
    FinishReason.CONTENT_FILTER: "refusal",
}


def finish_reason_for(stop_reason: str | None) -> FinishReason:
    """Map Anthropic's ``stop_reason`` onto ours (unknown or missing reasons count as ``stop``)."""
    return _FINISH_REASONS.get(stop_reason or "", FinishReason.STOP)


def stop_reason_for(finish_reason: FinishReason) -> str:
    """The inverse of `finish_reason_for`, for renderers."""
    return _STOP_REASONS[finish_reason]


def usage_from(usage: Any) -> tuple[Usage, dict[str, int]]:
    """Token counts, and the prompt-cache counts that belong in the response metadata."""
    if not isinstance(usage, Mapping):
        return Usage(), {}
    prompt = _int(usage.get("input_tokens"))
    completion = _int(usage.get("output_tokens"))
    cache = {
        key: _int(usage[key])
        for key in ("cache_read_input_tokens", "cache_creation_input_tokens")
        if usage.get(key) is not None
    }
    return Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion), cache


def assemble_response(
    message: Mapping[str, Any],
    *,
    texts: Iterable[str],
    thinking_blocks: Sequence[ThinkingBlock],
    tool_calls: Sequence[ToolCall],
) -> AIResponse:
    """Build the `AIResponse` shared by the non-streaming parser and the stream state.

    ``message`` holds the ``Message`` object's own fields (``id``, ``model``, ``stop_reason``,
    ``stop_sequence``, ``usage``): the reply body, or what the stream's ``message_start`` and
    ``message_delta`` events said; the content arrives already read.
    """
    usage, cache = usage_from(message.get("usage"))
    stop_reason = _opt_str(message.get("stop_reason"))
    said = {"response_id": message.get("id"), "stop_reason": stop_reason}
    said["stop_sequence"] = message.get("stop_sequence")
    metadata: dict[str, Any] = {**cache}
    metadata.update((key, value) for key, value in said.items() if isinstance(value, str) and value)
    thinking = "".join(block.text for block in thinking_blocks if not block.redacted)
    return AIResponse(
        content="".join(texts),
        thinking=thinking or None,
        thinking_blocks=tuple(thinking_blocks),
        tool_calls=tuple(tool_calls),
        finish_reason=finish_reason_for(stop_reason),
        usage=usage,
        model=str(message.get("model") or ""),
        metadata=metadata,
    )


def parse_completion(payload: Any, *, tool_names: Mapping[str, str] | None = None) -> AIResponse:
    """Read a non-streaming reply (a ``Message`` object).

    Args:
        payload: the decoded JSON body.
        tool_names: wire tool name -> the name we offered (see ``tool_name_map``).

    Raises:
        LLMError: the body is an Anthropic error body (mapped by `error_from_payload`).
        StreamError: the body is not a message we can read.
    """
    if not isinstance(payload, Mapping):
        raise errors.StreamError("Anthropic sent a reply that is not a JSON object", backend=BACKEND)
    if payload.get("type") == "error":
        raise error_from_payload(payload)
    content = payload.get("content")
    if not isinstance(content, list):
        raise errors.StreamError("Anthropic sent a reply without a content list", backend=BACKEND)
    names = tool_names or {}
    texts: list[str] = []
    thinking: list[ThinkingBlock] = []
    calls: list[ToolCall] = []
    for block in content:
        if not isinstance(block, Mapping):
            raise errors.StreamError("Anthropic sent a content block that is not an object", backend=BACKEND)
        kind = block.get("type")
        if kind == "text":
            texts.append(str(block.get("text") or ""))
        elif kind == "thinking":
            thinking.append(
                ThinkingBlock(
                    text=str(block.get("thinking") or ""), signature=_opt_str(block.get("signature")) or None
                )
            )
        elif kind == "redacted_thinking":
            thinking.append(ThinkingBlock(redacted=True, data=str(block.get("data") or "")))
        elif kind == "tool_use":
            arguments = block.get("input")
            name = str(block.get("name") or "")
            calls.append(
                ToolCall(
                    id=str(block.get("id") or ""),
                    name=names.get(name, name),
                    arguments=arguments if isinstance(arguments, Mapping) else {},
                )
            )
        # Server-side tool blocks (web search…) and future block types carry nothing we map.
    return assemble_response(payload, texts=texts, thinking_blocks=thinking, tool_calls=calls)


def render_completion(response: AIResponse) -> dict[str, Any]:
    """The ``Message`` object Anthropic would send for ``response`` (inverse of `parse_completion`)."""
    return {
        "id": str(response.metadata.get("response_id") or "msg_fake"),
        "type": "message",
        "role": "assistant",
        "model": response.model,
        "content": render_content(response),
        "stop_reason": response.metadata.get("stop_reason") or stop_reason_for(response.finish_reason),
        "stop_sequence": response.metadata.get("stop_sequence"),
        "usage": render_usage(response),
    }


def render_content(response: AIResponse) -> list[dict[str, Any]]:
    """The content blocks of ``response``: thinking first, then text, then tool calls."""
    blocks: list[dict[str, Any]] = []
    thinking_blocks = response.thinking_blocks
    if not thinking_blocks and response.thinking:
        # A scripted reply with bare thinking text: Claude always signs its thinking.
        thinking_blocks = (ThinkingBlock(text=response.thinking, signature=""),)
    for block in thinking_blocks:
        if block.redacted:
            blocks.append({"type": "redacted_thinking", "data": block.data or ""})
        else:
            blocks.append({"type": "thinking", "thinking": block.text, "signature": block.signature or ""})
    if response.content:
        blocks.append({"type": "text", "text": response.content})
    for call in response.tool_calls:
        blocks.append({"type": "tool_use", "id": call.id, "name": call.name, "input": dict(call.arguments)})
    return blocks


def render_usage(response: AIResponse) -> dict[str, int]:
    """The ``usage`` object of ``response``, cache counts included when its metadata has them."""
    usage = {"input_tokens": response.usage.prompt_tokens, "output_tokens": response.usage.completion_tokens}
    for key in ("cache_read_input_tokens", "cache_creation_input_tokens"):
        if key in response.metadata:
            usage[key] = int(response.metadata[key])
    return usage


_CONTEXT_PATTERNS = re.compile(
    r"prompt is too long|context (window|length)|too many (input )?tokens"
    r"|exceeds? the model'?s? (maximum|limit)",
    re.IGNORECASE,
)

_ERROR_TYPES: dict[str, type[errors.LLMError]] = {
    "invalid_request_error": errors.InvalidRequestError,
    "request_too_large": errors.InvalidRequestError,
    "authentication_error": errors.AuthenticationError,
    "permission_error": errors.PermissionDeniedError,
    "billing_error": errors.PermissionDeniedError,
    "not_found_error": errors.ModelNotFoundError,
    "rate_limit_error": errors.RateLimitError,
    "api_error": errors.ProviderError,
    "timeout_error": errors.ProviderError,
    "overloaded_error": errors.OverloadedError,
}

STATUS_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    422: "invalid_request_error",
    429: "rate_limit_error",
    500: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}
"""The ``error.type`` Anthropic sends with each HTTP status (the fake renders its failures with it)."""


def error_from_payload(
    payload: Any,
    *,
    status: int | None = None,
    model: str | None = None,
    retry_after: float | None = None,
    partial: AIResponse | None = None,
) -> errors.LLMError:
    """The typed error for an Anthropic error body or ``event: error`` payload.

    ``{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}``
    becomes an `OverloadedError`, and so on; a ``prompt is too long`` invalid request becomes
    a `ContextLengthExceededError`. An unknown error type falls back on the HTTP status (or,
    in a stream, on `ProviderError`). The message says what to do next.

    Args:
        payload: the decoded JSON body or event data (anything: bad shapes are tolerated).
        status: the HTTP status, when the error came as a response rather than an event.
        model: the model of the request, named in not-found and context-length messages.
        retry_after: seconds the server asked us to wait (``retry-after`` header).
        partial: what a stream had produced before the error.
    """
    kind, detail = _error_fields(payload)
    if kind not in _ERROR_TYPES:
        kind = STATUS_TYPES.get(status or 0) or (
            "api_error" if (status or 500) >= 500 else "invalid_request_error"
        )
    cls = _ERROR_TYPES[kind]
    if cls is errors.InvalidRequestError and _CONTEXT_PATTERNS.search(detail):
        cls = errors.ContextLengthExceededError
    elif cls is errors.ProviderError and status in (503, 529):
        cls = errors.OverloadedError  # "service unavailable" from Anthropic or a gateway: come back later
    message = _guidance(cls, kind, detail, model=model, retry_after=retry_after)
    return cls(
        message,
        backend=BACKEND,
        status=status,
        retry_after=retry_after,
        model=model,
        partial=partial,
    )


def render_error(kind: str, message: str) -> dict[str, Any]:
    """An Anthropic error body / ``event: error`` payload (inverse of `error_from_payload`)."""
    return {"type": "error", "error": {"type": kind, "message": message}}


def _error_fields(payload: Any) -> tuple[str, str]:
    error: Any = payload.get("error", payload) if isinstance(payload, Mapping) else payload
    if isinstance(error, Mapping):
        return str(error.get("type") or ""), _clean(str(error.get("message") or ""))
    if isinstance(error, str):
        return "", _clean(error)
    return "", ""


def _clean(text: str) -> str:
    """Server text, one line, bounded, with anything that looks like a key redacted."""
    text = " ".join(text.split())
    if len(text) > MAX_DETAIL_CHARS:
        text = text[: MAX_DETAIL_CHARS - 1].rstrip() + "…"
    return redact_secrets(text)


def _guidance(
    cls: type[errors.LLMError], kind: str, detail: str, *, model: str | None, retry_after: float | None
) -> str:
    said = f": {detail}" if detail else ""
    # The server's own sentence may end with a full stop: "medium." must not become "medium..".
    told = said if said.endswith((".", "!", "?", "…")) else f"{said}."
    if cls is errors.AuthenticationError:
        return (
            f"Anthropic rejected the API key{told} Check ANTHROPIC_API_KEY "
            "(keys are created at https://console.anthropic.com/settings/keys)."
        )
    if cls is errors.PermissionDeniedError:
        if kind == "billing_error":
            return f"Anthropic refused the call for a billing reason{told} Check the plan and credits."
        return f"The Anthropic API key may not do this{told} Check the key's workspace and model access."
    if cls is errors.ModelNotFoundError:
        return (
            f"Anthropic has no model {model or '(unknown)'!r}{told} "
            "Pick one from `cw models --backend claude`, or check ANTHROPIC_BASE_URL."
        )
    if cls is errors.ContextLengthExceededError:
        return f"The conversation is too long for {model or 'the model'}{told} Shorten it or start a new one."
    if cls is errors.InvalidRequestError:
        if kind == "request_too_large":
            return f"The request is larger than Anthropic accepts (32 MB){told} Send fewer or smaller images."
        return f"Anthropic refused the request as invalid{told}"
    if cls is errors.RateLimitError:
        wait = f" Wait {retry_after:g} s and try again." if retry_after else " Wait a moment and try again."
        return f"Anthropic's rate limit was reached{told}{wait}"
    if cls is errors.OverloadedError:
        return f"Anthropic is overloaded{told} Try again in a moment."
    return f"Anthropic failed to answer ({kind or 'server error'}){told} Try again shortly."


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None
