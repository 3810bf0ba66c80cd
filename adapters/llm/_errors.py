"""Pure classification of model-server failures into the typed `domain.errors` tree.

Every backend meets the same two kinds of failure: a non-2xx HTTP reply, and an
``{"error": …}`` object arriving inside a 200 stream. Both must become the same error
classes, carry data (status, ``retry_after``, provider, model) and read as something a
person can act on. Keeping the classification here, free of ``httpx``, lets every backend
share it and lets tests cover it without a network.

Server bodies are untrusted text: they are truncated and any secret-looking token
(``hf_…``, ``sk-…``, ``Bearer …``) is redacted before it goes into a message; a key of
another shape is caught by `scrub_error`, which the HTTP engine applies with the configured
secrets to every error it raises.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from adapters.llm._clocks import parse_retry_after
from domain.errors import (
    AuthenticationError,
    ContextLengthExceededError,
    InvalidRequestError,
    LLMError,
    ModelNotFoundError,
    OverloadedError,
    PermissionDeniedError,
    ProviderError,
    RateLimitError,
)

__all__ = [
    "MAX_DETAIL_CHARS",
    "error_for_status",
    "error_from_stream_payload",
    "parse_retry_after",
    "redact_secrets",
    "scrub_error",
    "scrub_text",
]

MAX_DETAIL_CHARS = 500
"""The longest piece of a server's error text quoted in a message."""

_SECRET = re.compile(
    r"(?:\bBearer\s+[A-Za-z0-9._~+/=-]+)"
    r"|(?:\bhf_[A-Za-z0-9]{4,})"
    r"|(?:\bsk-(?:ant-)?[A-Za-z0-9_-]{4,})",
    re.IGNORECASE,
)

_CONTEXT_LENGTH = re.compile(
    r"context[ _-]?length|context window|maximum context|too many tokens|prompt is too long"
    r"|input is too long|input too long|tokens? \+ `?max_new_tokens|reduce the length of the messages",
    re.IGNORECASE,
)
_OVERLOADED = re.compile(r"overload|too busy|over capacity|at capacity", re.IGNORECASE)
_RATE_LIMIT = re.compile(r"rate[ _-]?limit|too many requests|quota", re.IGNORECASE)

_STATUS_TEXT = {
    400: "bad request",
    401: "unauthorized",
    402: "payment required",
    403: "forbidden",
    404: "not found",
    408: "request timeout",
    409: "conflict",
    413: "request too large",
    422: "unprocessable request",
    429: "too many requests",
    500: "internal server error",
    502: "bad gateway",
    503: "service unavailable",
    504: "gateway timeout",
    529: "overloaded",
}


def redact_secrets(text: str) -> str:
    """Replace anything that looks like an API key or bearer token with ``[REDACTED]``."""
    return _SECRET.sub("[REDACTED]", text)


_MIN_SECRET_CHARS = 4


def scrub_text(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every value of ``secrets`` (4 characters or more) replaced by ``***``."""
    for secret in sorted({s for s in secrets if s and len(s) >= _MIN_SECRET_CHARS}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def scrub_error(error: LLMError, secrets: Iterable[str]) -> LLMError:
    """``error`` with every secret value removed from its message (its ``str``, ``repr`` and ``args``).

    A server may echo what it was sent ("Incorrect API key provided: …") in any shape, so the
    configured values themselves are replaced, not just the shapes `redact_secrets` knows.
    """
    message = scrub_text(error.message, secrets)
    if message != error.message:
        error.message = message
        error.args = (message,)
    return error


def _truncate(text: str, limit: int = MAX_DETAIL_CHARS) -> str:
    text = " ".join(text.split())  # HTML and pretty-printed JSON collapse to one line
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + "…"


@attrs.frozen(kw_only=True)
class _Detail:
    """What a server said about a failure: its message and any machine-readable hints."""

    message: str = ""
    code: str | None = None
    type: str | None = None
    status: int | None = None


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _from_object(obj: Mapping[str, Any]) -> _Detail:
    """An error object such as ``{"message": …, "code": …, "type": …}``."""
    message = obj.get("message") or obj.get("msg") or obj.get("detail") or obj.get("error")
    status = obj.get("status") or obj.get("status_code")
    if not isinstance(status, int) or isinstance(status, bool):
        status = obj.get("code") if isinstance(obj.get("code"), int) else None
    return _Detail(
        message=_as_text(message) if message is not None else _as_text(obj),
        code=_str_or_none(obj.get("code")),
        type=_str_or_none(obj.get("type") or obj.get("error_type")),
        status=status,
    )


def _from_detail_list(items: list[Any]) -> str:
    """FastAPI-style validation details: ``[{"loc": [...], "msg": ...}, …]``."""
    parts = []
    for item in items:
        if isinstance(item, Mapping) and "msg" in item:
            loc = item.get("loc")
            where = ".".join(str(p) for p in loc) if isinstance(loc, list | tuple) else ""
            parts.append(f"{where}: {item['msg']}" if where else str(item["msg"]))
        else:
            parts.append(_as_text(item))
    return "; ".join(parts)


def _detail_of(payload: Any) -> _Detail:
    """Pull the human message (and code/type) out of any error body shape we know."""
    if isinstance(payload, Mapping):
        if "error" in payload and payload["error"] not in (None, ""):
            error = payload["error"]
            if isinstance(error, Mapping):
                return _from_object(error)
            return _Detail(
                message=_as_text(error),
                type=_str_or_none(payload.get("error_type") or payload.get("type")),
                code=_str_or_none(payload.get("code")),
            )
        if "detail" in payload:
            detail_value = payload["detail"]
            if isinstance(detail_value, list):
                return _Detail(message=_from_detail_list(detail_value))
            if isinstance(detail_value, Mapping):
                return _from_object(detail_value)
            return _Detail(message=_as_text(detail_value))
        if "message" in payload:
            return _from_object(payload)
        return _Detail(message=_as_text(payload))
    if payload is None:
        return _Detail()
    return _Detail(message=_as_text(payload))


def _decode_body(body: bytes | str | Any) -> Any:
    """The body as parsed JSON when it is JSON, else as text."""
    if isinstance(body, bytes | bytearray):
        body = bytes(body).decode("utf-8", errors="replace")
    if isinstance(body, str):
        stripped = body.strip()
        if not stripped:
            return None
        try:
            return json.loads(stripped)
        except (ValueError, RecursionError):
            return stripped
    return body


def _looks_like_context_length(detail: _Detail) -> bool:
    if detail.code == "context_length_exceeded" or detail.type == "context_length_exceeded":
        return True
    return bool(_CONTEXT_LENGTH.search(detail.message))


def _looks_overloaded(detail: _Detail) -> bool:
    hints = " ".join(filter(None, (detail.message, detail.code, detail.type)))
    return bool(_OVERLOADED.search(hints))


def _looks_rate_limited(detail: _Detail) -> bool:
    hints = " ".join(filter(None, (detail.code, detail.type)))
    return bool(_RATE_LIMIT.search(hints)) or bool(_RATE_LIMIT.search(detail.message))


def _subject(backend: str, model: str | None, provider: str | None) -> str:
    parts = [backend]
    if model:
        parts.append(f"model {model!r}")
    if provider:
        parts.append(f"provider {provider!r}")
    return parts[0] if len(parts) == 1 else f"{parts[0]} ({', '.join(parts[1:])})"


def _compose(head: str, detail: _Detail, advice: str | None) -> str:
    message = head
    text = redact_secrets(_truncate(detail.message)) if detail.message else ""
    if text:
        message += f": {text}"
    if advice:
        message += f". {advice}" if not message.endswith((".", "!", "?")) else f" {advice}"
    return message


def _default_advice(status: int, model: str | None) -> str | None:
    if status == 401:
        return "Check the API key: it is missing, wrong or revoked."
    if status == 402:
        return "The account behind the key has no credit left for this call."
    if status == 403:
        return "The key is valid but lacks the permission this call needs."
    if status == 404:
        return f"Check the model id{f' {model!r}' if model else ''}; it was not found."
    if status == 429:
        return "Too many requests: wait and try again."
    if status >= 500:
        return "The server failed; try again later."
    return None


def error_for_status(
    *,
    backend: str,
    status: int,
    headers: Mapping[str, str],
    body: bytes | str | Any,
    model: str | None = None,
    provider: str | None = None,
    advice: Mapping[int, str] | None = None,
) -> LLMError:
    """The typed error for a non-2xx HTTP reply.

    Args:
        backend: the backend name, for the message and the error's data.
        status: the HTTP status code.
        headers: the response headers (any case; ``httpx.Headers`` works).
        body: the response body: bytes, text, or already-parsed JSON.
        model: the model id of the request.
        provider: the provider that refused the call, when known.
        advice: per-status guidance from the backend (e.g. the Hugging Face token
            permission); it replaces the generic advice for that status.

    Returns:
        The matching `LLMError` subclass with ``status``, ``retry_after`` (when the
        server said), ``backend``, ``model`` and ``provider`` set. It is returned, not
        raised, so the caller can chain it with ``raise … from exc``.
    """
    detail = _detail_of(_decode_body(body))
    retry_after = parse_retry_after(headers)
    hint = (advice or {}).get(status) or _default_advice(status, model)
    reason = _STATUS_TEXT.get(status, "error")
    head = f"{_subject(backend, model, provider)} returned HTTP {status} ({reason})"
    message = _compose(head, detail, hint)
    cls: type[LLMError]
    if status in (400, 422, 413):
        cls = ContextLengthExceededError if _looks_like_context_length(detail) else InvalidRequestError
    elif status == 401:
        cls = AuthenticationError
    elif status in (402, 403):
        cls = PermissionDeniedError
    elif status == 404:
        cls = ModelNotFoundError
    elif status == 429:
        cls = RateLimitError
    elif status in (503, 529) or (status >= 500 and _looks_overloaded(detail)):
        cls = OverloadedError
    elif status >= 500 or status in (408, 409):
        cls = ProviderError
    elif 400 <= status < 500:
        cls = InvalidRequestError
    else:
        cls = LLMError
    return cls(
        message,
        backend=backend,
        status=status,
        retry_after=retry_after,
        provider=provider,
        model=model,
    )


def error_from_stream_payload(
    payload: Any,
    *,
    backend: str,
    model: str | None = None,
    provider: str | None = None,
    advice: Mapping[int, str] | None = None,
) -> LLMError:
    """The typed error for an ``{"error": …}`` object that arrived inside a 200 stream.

    The payload is classified like an HTTP failure of the same kind: an ``overloaded``
    hint, a rate limit or a context-length complaint first, then the status it carries
    (``status``, ``status_code`` or an integer ``code``): 401 authentication, 402/403
    permission, 404 model not found, other 4xx invalid request, 5xx provider error.
    Anything else is a retryable `ProviderError`, because the server started answering
    and then failed.

    Args:
        payload: the parsed JSON of the data line (usually ``{"error": …}``).
        backend: the backend name.
        model: the model id of the request.
        provider: the provider that served the stream, when known.
        advice: per-status guidance from the backend, as for `error_for_status`; used
            when the payload carries that status.
    """
    detail = _detail_of(payload)
    if isinstance(payload, Mapping) and detail.status is None:
        status = payload.get("status") or payload.get("status_code") or payload.get("code")
        if isinstance(status, int) and not isinstance(status, bool):
            detail = attrs.evolve(detail, status=status)
    head = f"{_subject(backend, model, provider)} reported an error mid-stream"
    status = detail.status
    cls: type[LLMError]
    hint: str | None
    if _looks_overloaded(detail) or status in (503, 529):
        cls = OverloadedError
        hint = "The provider is overloaded; try again later or pick another provider."
    elif status == 429 or _looks_rate_limited(detail):
        cls = RateLimitError
        hint = "Too many requests: wait and try again."
    elif _looks_like_context_length(detail):
        cls = ContextLengthExceededError
        hint = "Shorten the conversation or pick a model with a larger context window."
    elif status == 401:
        cls = AuthenticationError
        hint = "Check the API key."
    elif status in (402, 403):
        cls = PermissionDeniedError
        hint = _default_advice(status, model)
    elif status == 404:
        cls = ModelNotFoundError
        hint = _default_advice(status, model)
    elif status is not None and 400 <= status < 500:
        cls = InvalidRequestError
        hint = None
    else:
        cls = ProviderError
        hint = "Try again, or pick another provider."
    if status is not None and advice and status in advice:
        hint = advice[status]
    message = _compose(head, detail if detail.message else attrs.evolve(detail, message="(no details)"), hint)
    return cls(message, backend=backend, status=status, provider=provider, model=model)
