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

import json
from collections.abc import Mapping
from typing import Any

import attrs

from adapters.llm import fake_steps
from adapters.llm._ndjson import render_ndjson
from adapters.llm.testing.scripted_server import ScriptedResponse
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

__all__ = ["OLLAMA_FAKE_WIRE", "ollama_tool_ids", "render_ollama_step"]

_NDJSON = {"content-type": "application/x-ndjson"}
_JSON = {"content-type": "application/json; charset=utf-8"}

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


def _lines(objects: list[dict[str, Any]]) -> tuple[bytes, ...]:
    return tuple(render_ndjson([obj]) for obj in objects)


def _stream(response: AIResponse) -> list[dict[str, Any]]:
    return wire.render_chat_stream(response, include_ids=True)


def _unfinished(response: AIResponse) -> list[dict[str, Any]]:
    """The stream objects of ``response`` without the final ``done`` object."""
    return _stream(response)[:-1]


def _failure(step: fake_steps.HTTPFailure) -> ScriptedResponse:
    if step.body is None:
        return ScriptedResponse(
            status=step.status,
            headers={**_JSON, **step.headers},
            chunks=(json.dumps({"error": step.message}).encode(),),
        )
    if isinstance(step.body, bytes | str):
        body = step.body.encode() if isinstance(step.body, str) else step.body
        return ScriptedResponse(
            status=step.status, headers={"content-type": "text/plain", **step.headers}, chunks=(body,)
        )
    return ScriptedResponse(
        status=step.status, headers={**_JSON, **step.headers}, chunks=(json.dumps(step.body).encode(),)
    )


def render_ollama_step(step: fake_steps.FakeStep, body: Any) -> ScriptedResponse:
    """A scripted step as Ollama's ``/api/chat`` sends it (NDJSON unless ``stream`` is false)."""
    stream = not (isinstance(body, Mapping) and body.get("stream") is False)
    if isinstance(step, fake_steps.HTTPFailure):
        return _failure(step)
    if isinstance(step, AIResponse):
        if not stream:
            return ScriptedResponse(
                headers=_JSON,
                chunks=(json.dumps(wire.render_chat_response(step, include_ids=True)).encode(),),
            )
        return ScriptedResponse(headers=_NDJSON, chunks=_lines(_stream(step)))
    if isinstance(step, fake_steps.MidStreamError):
        error = {"error": _error_text(step)}
        if not stream:  # without streaming Ollama reports the failure with a status
            return ScriptedResponse(
                status=_KIND_STATUS[step.kind], headers=_JSON, chunks=(json.dumps(error).encode(),)
            )
        return ScriptedResponse(
            headers=_NDJSON, chunks=_lines([*_unfinished(step.response)[: step.after], error])
        )
    if not stream:
        text = json.dumps(wire.render_chat_response(step.response, include_ids=True)).encode()
        return ScriptedResponse(
            headers=_JSON, chunks=(text[: len(text) // 2],), drop_after=1 if step.drop else None
        )
    head = _unfinished(step.response)[: step.after]
    return ScriptedResponse(headers=_NDJSON, chunks=_lines(head), drop_after=len(head) if step.drop else None)


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
