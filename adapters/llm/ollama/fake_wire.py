"""The ``ollama`` wire format of the fake backend: scripted steps as Ollama's real bytes.

``FakeLLM(wire="ollama")`` imports this module, which registers the format: each scripted
step is rendered the way ``ollama serve`` answers ``/api/chat`` — NDJSON objects, one per
network write, ending with the ``done: true`` object; whole JSON when the request asked for
``stream: false``; ``{"error": …}`` bodies and lines for failures — and played to the real
`OllamaLLM`, so the fake exercises the Ollama parser offline. Tool calls are rendered
with the scripted ids, as newer Ollama servers send them, so scripts can name the ids they
expect back; the id-less replies of older servers are covered by the adapter's own tests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from adapters.llm import fake_steps
from adapters.llm._ndjson import render_ndjson
from domain.errors import (
    ContextLengthExceededError,
    LLMError,
    OverloadedError,
    ProviderError,
    RateLimitError,
)
from domain.messages import AIResponse

from . import wire
from .llm import OllamaLLM
from .settings import OllamaSettings

__all__ = ["OLLAMA_FAKE_WIRE", "OllamaFormat", "ollama_tool_ids", "render_ollama_step"]

_KIND_STATUS = {"overloaded": 503, "rate_limit": 429, "server": 500, "context_length": 400}

_KIND_TEXT = {
    "overloaded": "server busy, please try again.  maximum pending requests exceeded",
    "rate_limit": "too many requests",
    "server": "an error was encountered while running the model",
    "context_length": "the input length exceeds the context length",
}
"""What Ollama (or a proxy in front of it) says for each kind of scripted failure."""

_KIND_ERROR: dict[str, type[LLMError]] = {
    "overloaded": OverloadedError,
    "rate_limit": RateLimitError,
    "server": ProviderError,
    "context_length": ContextLengthExceededError,
}

_DEFAULT_MESSAGE = attrs.fields(fake_steps.MidStreamError).message.default


def _error_text(step: fake_steps.MidStreamError) -> str:
    """The ``error`` text for ``step``, which must say what kind of failure it is.

    Ollama's error lines carry no type, only text, and the adapter classifies by text: so
    the step's ``kind`` is spelled out the way Ollama says it, and a scripted ``message``
    that does not already say it is appended to that text.
    """
    if step.message == _DEFAULT_MESSAGE:
        return _KIND_TEXT[step.kind]
    said = wire.error_for_ollama(status=None, text=step.message, model=None)
    if type(said) is _KIND_ERROR[step.kind]:
        return step.message
    return f"{_KIND_TEXT[step.kind]}: {step.message}"


class OllamaFormat(fake_steps.StepFormat):
    """``/api/chat`` replies: NDJSON objects ending with ``done: true``, or one JSON object."""

    streams_by_default = True
    stream_type = "application/x-ndjson"

    def completion(self, response: AIResponse) -> dict[str, Any]:
        return wire.render_chat_response(response, include_ids=True)

    def events(self, response: AIResponse) -> list[dict[str, Any]]:
        return wire.render_chat_stream(response, include_ids=True)

    def finishes(self, payload: Mapping[str, Any]) -> bool:
        return payload.get("done") is True

    def frames(self, payloads: Sequence[Any], *, done: bool) -> tuple[bytes, ...]:
        return tuple(render_ndjson([obj]) for obj in payloads)

    def status_error(self, step: fake_steps.HTTPFailure) -> dict[str, Any]:
        return {"error": step.message}

    def stream_error(self, step: fake_steps.MidStreamError) -> tuple[dict[str, Any], int]:
        """The error line; without a stream Ollama reports the failure with a status."""
        return {"error": _error_text(step)}, _KIND_STATUS[step.kind]


render_ollama_step = OllamaFormat().render
"""A scripted step as Ollama's ``/api/chat`` sends it (NDJSON unless ``stream`` is false)."""


def ollama_tool_ids(body: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(ids of assistant tool calls, ids answered by tool messages) in an Ollama request body."""
    messages = body.get("messages", []) if isinstance(body, Mapping) else []
    calls = tuple(
        str(call.get("id", ""))
        for message in messages
        if message.get("role") == "assistant"
        for call in message.get("tool_calls") or ()
    )
    results = tuple(str(m.get("tool_call_id", "")) for m in messages if m.get("role") == "tool")
    return calls, results


def _adapter(options: fake_steps.FakeAdapterOptions) -> OllamaLLM:
    settings = OllamaSettings(base_url="http://ollama.fake.invalid:11434", max_retries=options.max_retries)
    return OllamaLLM(settings=settings, **options.adapter_options())


OLLAMA_FAKE_WIRE = fake_steps.FakeWire(
    name="ollama", render=render_ollama_step, adapter=_adapter, tool_ids=ollama_tool_ids
)

fake_steps.register_wire(OLLAMA_FAKE_WIRE)
