"""Ollama's error reports mapped to the domain error tree (pure; no httpx).

Ollama reports failures as ``{"error": "text"}``: as the body of a non-2xx reply, or as a
line in the middle of a 200 NDJSON stream (chat or pull). The text is what tells the
cases apart when the status does not (``model "x" not found, try pulling it first``,
``… does not support tools``, ``server busy``). Messages say what to do next.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from domain import errors

__all__ = ["BACKEND", "error_for_ollama", "error_text"]

BACKEND = "ollama"

_ERROR_TEXT_LIMIT = 500


def error_text(body: bytes | str | Any) -> str:
    """Ollama's ``error`` text from an error body (JSON or not), trimmed for a message."""
    payload: Any = body
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    if isinstance(body, str):
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError):
            payload = body
    if isinstance(payload, Mapping):
        error = payload.get("error", payload)
        if isinstance(error, Mapping):
            error = error.get("message", error)
        payload = error
    text = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False, default=str)
    text = text.strip()
    return text if len(text) <= _ERROR_TEXT_LIMIT else text[:_ERROR_TEXT_LIMIT] + "…"


def _route_missing(lowered: str) -> bool:
    """Whether a 404's text says the path does not exist (Ollama answers an unknown path
    with a plain ``404 page not found``; a missing model says ``model … not found``)."""
    return "page not found" in lowered and "model" not in lowered


def error_for_ollama(
    *,
    status: int | None,
    text: str,
    model: str | None,
    retry_after: float | None = None,
) -> errors.LLMError:
    """The domain error for an Ollama failure: an HTTP status with its ``error`` text, or an
    ``{"error": …}`` line in a stream (``status`` is ``None``)."""
    lowered = text.lower()
    detail = f": {text}" if text else ""
    common: dict[str, Any] = {"backend": BACKEND, "status": status, "model": model}
    if status == 404 and (model is None or _route_missing(lowered)):  # not an Ollama server's root
        return errors.LLMError(
            f"the server answered 404{detail}; check that OLLAMA_BASE_URL is the root of an Ollama "
            "server (http://host:11434) and that the server is recent enough",
            **common,
        )
    if status == 404 or (status is None and "not found" in lowered and "model" in lowered):
        name = model or "MODEL"
        return errors.ModelNotFoundError(
            f"Ollama has no model {name!r}{detail}. Download it with `cw pull {name} --backend ollama` "
            "(or `ollama pull`), or pick one from `cw models --backend ollama`.",
            **common,
        )
    if "context" in lowered and ("length" in lowered or "exceed" in lowered or "too long" in lowered):
        return errors.ContextLengthExceededError(
            f"the conversation does not fit the context window of {model!r}{detail}. "
            "Shorten it or raise context_length (num_ctx).",
            **common,
        )
    if status == 401:
        return errors.AuthenticationError(
            f"the Ollama server (or a proxy in front of it) refused the request as unauthenticated{detail}",
            **common,
        )
    if status == 403:
        return errors.PermissionDeniedError(f"the Ollama server refused access{detail}", **common)
    if status == 429 or (status is None and ("rate limit" in lowered or "too many requests" in lowered)):
        return errors.RateLimitError(
            f"Ollama is rate limiting requests{detail}; try again later", retry_after=retry_after, **common
        )
    if status == 503 or "server busy" in lowered or "overloaded" in lowered:
        return errors.OverloadedError(
            f"Ollama is busy{detail}; try again later (or raise OLLAMA_MAX_QUEUE / OLLAMA_NUM_PARALLEL)",
            retry_after=retry_after,
            **common,
        )
    if "does not support tools" in lowered:
        return errors.InvalidRequestError(
            f"{model!r} does not support tool calling{detail}. Use a model with tool support "
            "(llama3.1, qwen2.5, qwen3…) or run the agent without tools.",
            **common,
        )
    if "does not support thinking" in lowered:
        return errors.InvalidRequestError(
            f"{model!r} does not support thinking{detail}. Turn reasoning off for this agent.", **common
        )
    if status is not None and 400 <= status < 500:
        return errors.InvalidRequestError(f"Ollama refused the request ({status}){detail}", **common)
    if status is None:
        return errors.ProviderError(f"Ollama reported an error while generating{detail}", **common)
    return errors.ProviderError(f"Ollama failed ({status}){detail}", **common)
