"""The ``openai`` wire format of the fake backend: scripted steps as OpenAI chat-completions bytes.

Why: ``FakeLLM()`` (the default wire) and the contract suite must drive the real
`OpenAICompatibleLLM` — and through it the Hugging Face, OpenAI and vLLM adapters — through
the real SSE decoding, stream state and error mapping, so every step is rendered as an
OpenAI-compatible server sends it. `adapters.llm.fake` imports this module when it loads.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from adapters.llm import fake_steps
from adapters.llm._http import RetryPolicy
from adapters.llm._sse import ServerSentEvent, render_sse
from adapters.llm.openai_compatible import wire as openai_wire
from adapters.llm.testing.scripted_server import ScriptedResponse
from domain.messages import AIResponse

__all__ = ["openai_tool_ids", "render_openai_step"]

_ERROR_TYPES = {
    "overloaded": "overloaded_error",
    "rate_limit": "rate_limit_error",
    "server": "server_error",
    "context_length": "context_length_exceeded",
}


def _sse(payloads: Iterable[Any], *, done: bool) -> tuple[bytes, ...]:
    events = [render_sse([ServerSentEvent(data=json.dumps(p, ensure_ascii=False))]) for p in payloads]
    if done:
        events.append(render_sse([ServerSentEvent(data="[DONE]")]))
    return tuple(events)


def _failure(step: fake_steps.HTTPFailure) -> ScriptedResponse:
    if step.body is None:
        payload = {"error": {"message": step.message, "type": "invalid_request_error", "code": step.status}}
        return ScriptedResponse.json(payload, status=step.status, headers=dict(step.headers))
    if isinstance(step.body, bytes | str):
        body = step.body.encode() if isinstance(step.body, str) else step.body
        return ScriptedResponse(
            status=step.status, headers={"content-type": "text/plain", **step.headers}, chunks=(body,)
        )
    return ScriptedResponse.json(step.body, status=step.status, headers=dict(step.headers))


def _openai_error(step: fake_steps.MidStreamError) -> dict[str, Any]:
    return {
        "error": {"message": step.message, "type": _ERROR_TYPES[step.kind], "code": _ERROR_TYPES[step.kind]}
    }


def render_openai_step(step: fake_steps.FakeStep, body: Any) -> ScriptedResponse:
    """A step as the OpenAI chat-completions API would send it (SSE when ``stream`` is set)."""
    stream = isinstance(body, Mapping) and bool(body.get("stream"))
    if isinstance(step, fake_steps.HTTPFailure):
        return _failure(step)
    if isinstance(step, AIResponse):
        if not stream:
            return ScriptedResponse.json(openai_wire.render_completion(step))
        return ScriptedResponse(chunks=_sse(openai_wire.render_stream(step), done=True))
    if isinstance(step, fake_steps.MidStreamError):
        if not stream:
            return ScriptedResponse.json(_openai_error(step))
        head = openai_wire.render_stream(step.response)[: step.after]
        return ScriptedResponse(chunks=_sse([*head, _openai_error(step)], done=False))
    if not stream:
        text = json.dumps(openai_wire.render_completion(step.response)).encode()
        return ScriptedResponse(
            headers={"content-type": "application/json"},
            chunks=(text[: len(text) // 2],),
            drop_after=1 if step.drop else None,
        )
    head = openai_wire.render_stream(step.response)
    # The finish chunk (and the usage chunk after it) would say the model finished.
    unfinished = [chunk for chunk in head if not _finishes(chunk)][: step.after]
    return ScriptedResponse(
        chunks=_sse(unfinished, done=False), drop_after=len(unfinished) if step.drop else None
    )


def _finishes(chunk: Mapping[str, Any]) -> bool:
    choices = chunk.get("choices") or []
    return not choices or any(isinstance(c, Mapping) and c.get("finish_reason") for c in choices)


def openai_tool_ids(body: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(ids of assistant tool calls, ids answered by tool messages) in an OpenAI request body."""
    messages = body.get("messages", []) if isinstance(body, Mapping) else []
    calls = tuple(
        str(call["id"])
        for message in messages
        if message.get("role") == "assistant"
        for call in message.get("tool_calls") or ()
    )
    results = tuple(str(m["tool_call_id"]) for m in messages if m.get("role") == "tool")
    return calls, results


def _openai_adapter(options: fake_steps.FakeAdapterOptions) -> Any:
    from adapters.llm.openai_compatible.llm import OpenAICompatibleLLM

    return OpenAICompatibleLLM(
        base_url="http://fake.invalid/v1",
        retry=RetryPolicy(max_retries=options.max_retries),
        **options.adapter_options(),
    )


fake_steps.register_wire(
    fake_steps.FakeWire(
        name="openai", render=render_openai_step, adapter=_openai_adapter, tool_ids=openai_tool_ids
    )
)
