"""Ollama's native wire format in one place: every pure mapping the adapter needs.

Reference: https://github.com/ollama/ollama/blob/main/docs/api.md. The pieces live in
`request` (the ``/api/chat`` body), `stream` (NDJSON stream objects and whole replies →
events and `AIResponse`), `errors` (Ollama's error texts → the domain error tree) and
`models` (``/api/tags``, ``/api/show``, ``/api/ps``, ``/api/pull`` shapes). None of them
touches ``httpx``, files or the network. Each parser has a ``render_*`` inverse for the
fake backend and the property tests.
"""

from __future__ import annotations

from .errors import BACKEND, error_for_ollama, error_text
from .models import (
    is_pull_finished,
    merge_show,
    parse_ps,
    parse_pull_progress,
    parse_show,
    parse_tags,
    pull_error,
    render_ps,
    render_pull_stream,
    render_show,
    render_tags,
)
from .request import build_chat_request, build_options, image_base64, request_warnings
from .stream import (
    DURATION_KEYS,
    StreamState,
    new_tool_call_id,
    parse_chat_response,
    render_chat_response,
    render_chat_stream,
)

__all__ = [
    "BACKEND",
    "DURATION_KEYS",
    "StreamState",
    "build_chat_request",
    "build_options",
    "error_for_ollama",
    "error_text",
    "image_base64",
    "is_pull_finished",
    "merge_show",
    "new_tool_call_id",
    "parse_chat_response",
    "parse_ps",
    "parse_pull_progress",
    "parse_show",
    "parse_tags",
    "pull_error",
    "render_chat_response",
    "render_chat_stream",
    "render_ps",
    "render_pull_stream",
    "render_show",
    "render_tags",
    "request_warnings",
]
