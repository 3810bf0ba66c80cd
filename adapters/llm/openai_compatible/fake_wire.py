"""The ``openai`` wire format of the fake backend: scripted steps as OpenAI chat-completions bytes.

Why: ``FakeLLM()`` (the default wire) and the contract suite must drive the real
`OpenAICompatibleLLM` — and through it the Hugging Face, OpenAI and vLLM adapters — through
the real SSE decoding, stream state and error mapping, so every step is rendered as an
OpenAI-compatible server sends it. `adapters.llm.fake` imports this module when it loads.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from adapters.llm import fake_steps
from adapters.llm._http import RetryPolicy
from adapters.llm._sse import ServerSentEvent, render_sse
from adapters.llm.openai_compatible import wire as openai_wire
from domain.messages import AIResponse

__all__ = ["OpenAIFormat", "openai_tool_ids", "render_openai_step"]

_ERROR_TYPES = {
    "overloaded": "overloaded_error",
    "rate_limit": "rate_limit_error",
    "server": "server_error",
    "context_length": "context_length_exceeded",
}


class OpenAIFormat(fake_steps.StepFormat):
    """Chat-completions replies: JSON, or ``data:`` events ending with ``[DONE]``."""

    def completion(self, response: AIResponse) -> dict[str, Any]:
        return openai_wire.render_completion(response)

    def events(self, response: AIResponse) -> list[dict[str, Any]]:
        return openai_wire.render_stream(response)

    def finishes(self, payload: Mapping[str, Any]) -> bool:
        """The finish chunk, and the usage chunk after it (which has no choices)."""
        choices = payload.get("choices") or []
        return not choices or any(isinstance(c, Mapping) and c.get("finish_reason") for c in choices)

    def frames(self, payloads: Sequence[Any], *, done: bool) -> tuple[bytes, ...]:
        events = [render_sse([ServerSentEvent(data=json.dumps(p, ensure_ascii=False))]) for p in payloads]
        if done:
            events.append(render_sse([ServerSentEvent(data="[DONE]")]))
        return tuple(events)

    def status_error(self, step: fake_steps.HTTPFailure) -> dict[str, Any]:
        return {"error": {"message": step.message, "type": "invalid_request_error", "code": step.status}}

    def stream_error(self, step: fake_steps.MidStreamError) -> tuple[dict[str, Any], int]:
        """The error chunk; without a stream, a 200 with an error body, as some gateways answer."""
        kind = _ERROR_TYPES[step.kind]
        return {"error": {"message": step.message, "type": kind, "code": kind}}, 200


render_openai_step = OpenAIFormat().render
"""A step as the OpenAI chat-completions API would send it (SSE when ``stream`` is set)."""


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
