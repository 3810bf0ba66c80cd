"""The OpenAI Chat Completions wire format, as pure functions over JSON values and domain objects.

Why one format for several backends: the Hugging Face router, OpenAI itself, vLLM and
Ollama's ``/v1`` all speak it (https://platform.openai.com/docs/api-reference/chat), each
with its own quirks. Building the request body, parsing a reply and following a stream live
here, free of ``httpx``, so every backend that speaks the format shares them and tests can
drive them with plain dicts. This module is the facade over four parts:

- `request` — messages, tools and settings → the JSON body (`build_request`);
- `response` — a non-streaming body → `AIResponse` (`parse_completion`);
- `stream` — each ``data:`` payload → stream events (`StreamState`);
- `render` — the inverses, for the fake backend and the property tests:
  ``parse_completion(render_completion(r)) == r`` and a `StreamState` fed
  ``render_stream(r)`` finishes as ``r``.
"""

from __future__ import annotations

from adapters.llm.openai_compatible.render import (
    StreamQuirks,
    render_completion,
    render_stream,
    render_stream_bytes,
)
from adapters.llm.openai_compatible.request import (
    build_request,
    message_to_wire,
    sanitize_tool_name,
    tool_name_map,
    tool_to_wire,
)
from adapters.llm.openai_compatible.response import (
    DEFAULT_BACKEND,
    estimate_tokens,
    finish_reason_from_wire,
    parse_completion,
)
from adapters.llm.openai_compatible.stream import DONE, StreamState, decode_stream_data

__all__ = [
    "DEFAULT_BACKEND",
    "DONE",
    "StreamQuirks",
    "StreamState",
    "build_request",
    "decode_stream_data",
    "estimate_tokens",
    "finish_reason_from_wire",
    "message_to_wire",
    "parse_completion",
    "render_completion",
    "render_stream",
    "render_stream_bytes",
    "sanitize_tool_name",
    "tool_name_map",
    "tool_to_wire",
]
