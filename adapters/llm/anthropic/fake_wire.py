"""The ``anthropic`` wire format of the fake backend: scripted steps as Anthropic's own bytes.

Why: ``FakeLLM(wire="anthropic")`` (and the contract suite) must drive the real
`AnthropicLLM` through its real SSE decoding, event state and error mapping, so every step
is rendered exactly as the Messages API sends it — named SSE events, ``{"type": "error"}``
bodies with Anthropic's error types and statuses (529 for overload). `adapters.llm.fake`
imports this module the first time the format is asked for.

For `MidStreamError` and `Truncated`, ``after`` counts stream events from the start
(``message_start``, then each block's start, deltas and stop); a truncated stream never
reaches ``message_stop``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from adapters.llm import fake_steps
from adapters.llm._http import RetryPolicy
from adapters.llm._sse import ServerSentEvent, render_sse
from adapters.llm.anthropic import wire
from adapters.llm.anthropic.llm import AnthropicLLM
from adapters.llm.anthropic.response import STATUS_TYPES
from adapters.llm.anthropic.settings import AnthropicSettings
from domain.messages import AIResponse

__all__ = ["AnthropicFormat", "anthropic_tool_ids", "render_anthropic_step"]

_IN_STREAM = {
    "overloaded": ("overloaded_error", 529),
    "rate_limit": ("rate_limit_error", 429),
    "server": ("api_error", 500),
    "context_length": ("invalid_request_error", 400),
}


class AnthropicFormat(fake_steps.StepFormat):
    """Messages API replies: a ``Message`` object, or named SSE events, one network write each."""

    def completion(self, response: AIResponse) -> dict[str, Any]:
        return wire.render_completion(response)

    def events(self, response: AIResponse) -> list[dict[str, Any]]:
        return wire.render_stream(response, fragment=7, ping=False)

    def finishes(self, payload: Mapping[str, Any]) -> bool:
        return payload.get("type") == "message_stop"

    def frames(self, payloads: Sequence[Mapping[str, Any]], *, done: bool) -> tuple[bytes, ...]:
        return tuple(
            render_sse([ServerSentEvent(event=str(p["type"]), data=json.dumps(p, ensure_ascii=False))])
            for p in payloads
        )

    def status_error(self, step: fake_steps.HTTPFailure) -> dict[str, Any]:
        kind = STATUS_TYPES.get(step.status, "api_error" if step.status >= 500 else "invalid_request_error")
        return wire.render_error(kind, step.message)

    def stream_error(self, step: fake_steps.MidStreamError) -> tuple[dict[str, Any], int]:
        kind, status = _IN_STREAM[step.kind]
        message = f"prompt is too long: {step.message}" if step.kind == "context_length" else step.message
        return wire.render_error(kind, message), status


render_anthropic_step = AnthropicFormat().render
"""A step as the Messages API would send it (named SSE events when ``stream`` is set)."""


def anthropic_tool_ids(body: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(ids of assistant ``tool_use`` blocks, ids answered by ``tool_result`` blocks) in a request."""
    messages = body.get("messages", []) if isinstance(body, Mapping) else []
    calls: list[str] = []
    results: list[str] = []
    for message in messages:
        content = message.get("content")
        if not isinstance(content, list):
            continue
        for block in content:
            if block.get("type") == "tool_use" and message.get("role") == "assistant":
                calls.append(str(block["id"]))
            elif block.get("type") == "tool_result" and message.get("role") == "user":
                results.append(str(block["tool_use_id"]))
    return tuple(calls), tuple(results)


def _adapter(options: fake_steps.FakeAdapterOptions) -> AnthropicLLM:
    return AnthropicLLM(
        settings=AnthropicSettings(
            api_key="sk-ant-fake", base_url="https://fake.invalid/v1", max_retries=options.max_retries
        ),
        retry=RetryPolicy(max_retries=options.max_retries),
        **options.adapter_options(),
    )


fake_steps.register_wire(
    fake_steps.FakeWire(
        name="anthropic", render=render_anthropic_step, adapter=_adapter, tool_ids=anthropic_tool_ids
    )
)
