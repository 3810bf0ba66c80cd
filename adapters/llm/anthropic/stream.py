"""Turn Anthropic's streamed Messages events into our stream events, purely.

Format: https://docs.anthropic.com/en/docs/build-with-claude/streaming. A reply streams as
``message_start``; then per content block ``content_block_start``, ``content_block_delta``
(``text_delta``, ``input_json_delta``, ``thinking_delta``, ``signature_delta``) and
``content_block_stop``; then ``message_delta`` (``stop_reason``, cumulative ``usage``) and
``message_stop``. ``ping`` may come at any time; ``error`` (``overloaded_error``…) may come
instead of the rest. Only ``message_stop`` says the reply is complete: a stream that ends
without it is truncated, never a quiet success.

`AnthropicStreamState` keeps each block's fragments in a list, by block index, and joins
them once when the block stops: tool arguments are parsed once, not on every delta, so the
cost stays linear in their length. `render_stream` is its inverse, for fakes and tests.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attrs

from adapters.llm._tool_calls import parse_arguments
from adapters.llm.anthropic.response import (
    BACKEND,
    assemble_response,
    error_from_payload,
    render_content,
    render_usage,
    stop_reason_for,
)
from domain.errors import StreamError, TruncatedStreamError
from domain.events import StreamEvent, TextDelta, ThinkingDelta, ToolArgumentsDelta, ToolCallStarted
from domain.messages import AIResponse, ThinkingBlock, ToolCall

__all__ = ["AnthropicStreamState", "parse_tool_input", "render_stream"]


def parse_tool_input(text: str, *, call_id: str, name: str) -> ToolCall:
    """A `ToolCall` from the joined ``input_json_delta`` fragments of one block.

    An empty text means no arguments. Text that is not a JSON object is kept as
    ``raw_arguments`` with a ``parse_error`` (from the shared `parse_arguments`), so the
    agent loop can tell the model.
    """
    arguments, error = parse_arguments(text)
    if error is not None:
        return ToolCall(id=call_id, name=name, raw_arguments=text, parse_error=error)
    return ToolCall(id=call_id, name=name, arguments=arguments)


@attrs.define
class _Block:
    """One content block being streamed."""

    kind: str
    parts: list[str] = attrs.field(factory=list)
    signature: list[str] = attrs.field(factory=list)
    call_id: str = ""
    name: str = ""
    ordinal: int = -1
    """Position among the reply's tool calls (the ``index`` of our tool events)."""
    start_input: Any = None
    data: str = ""
    call: ToolCall | None = None
    """The parsed call, once the block stopped."""

    def tool_call(self) -> ToolCall:
        if self.call is not None:
            return self.call
        text = "".join(self.parts)
        if not text and isinstance(self.start_input, Mapping) and self.start_input:
            return ToolCall(id=self.call_id, name=self.name, arguments=self.start_input)
        return parse_tool_input(text, call_id=self.call_id, name=self.name)


@attrs.define
class AnthropicStreamState:
    """The state of one streamed reply; feed it each event's parsed ``data`` in order."""

    tool_names: Mapping[str, str] = attrs.field(factory=dict)
    """Wire tool name -> the name we offered (see ``tool_name_map``)."""
    response_id: str | None = None
    model: str = ""
    stop_reason: str | None = None
    stop_sequence: str | None = None
    started: bool = False
    """``message_start`` arrived."""
    done: bool = False
    """``message_stop`` arrived: the reply is complete."""
    _blocks: dict[int, _Block] = attrs.field(factory=dict)
    _usage: dict[str, Any] = attrs.field(factory=dict)
    _tool_calls: int = 0
    _last_index: int = -1

    def feed(self, payload: Any, *, event: str | None = None) -> list[StreamEvent]:
        """Apply one event and return the stream events it produces.

        Args:
            payload: the event's ``data``, decoded from JSON.
            event: the SSE ``event:`` name, used when the payload carries no ``type``.

        Raises:
            LLMError: an ``error`` event (an `OverloadedError` for ``overloaded_error``…),
                carrying what had arrived as ``partial``.
            StreamError: an event we cannot read.
        """
        if not isinstance(payload, Mapping):
            raise StreamError("Anthropic sent a stream event that is not a JSON object", backend=BACKEND)
        kind = payload.get("type") or event
        if kind == "error":
            raise error_from_payload(payload, model=self.model or None, partial=self.partial())
        if self.done:
            return []
        if kind == "content_block_delta":
            return self._delta(payload)
        if kind == "content_block_start":
            return self._start(payload)
        if kind == "content_block_stop":
            block = self._blocks.get(self._index(payload))
            if block is not None and block.kind == "tool_use":
                block.call = block.tool_call()
            return []
        if kind == "message_start":
            self._message_start(payload.get("message"))
        elif kind == "message_delta":
            delta = payload.get("delta")
            if isinstance(delta, Mapping):
                self.stop_reason = _str(delta.get("stop_reason")) or self.stop_reason
                self.stop_sequence = _str(delta.get("stop_sequence")) or self.stop_sequence
            self._merge_usage(payload.get("usage"))
        elif kind == "message_stop":
            self.done = True
        # ping, and event types added after this was written, carry nothing for us.
        return []

    def partial(self) -> AIResponse:
        """What has arrived so far, as a response (unfinished blocks included)."""
        return self._response()

    def finish(self) -> AIResponse:
        """The whole reply.

        Raises:
            TruncatedStreamError: ``message_stop`` never came; ``partial`` keeps what did.
        """
        if not self.done:
            raise TruncatedStreamError(
                "Anthropic's stream ended before message_stop; the reply is incomplete. "
                "What arrived is kept in the error; try again.",
                backend=BACKEND,
                model=self.model or None,
                partial=self.partial(),
            )
        return self._response()

    def _message_start(self, message: Any) -> None:
        self.started = True
        if not isinstance(message, Mapping):
            return
        self.response_id = _str(message.get("id")) or self.response_id
        self.model = _str(message.get("model")) or self.model
        self._merge_usage(message.get("usage"))

    def _merge_usage(self, usage: Any) -> None:
        # message_delta usage is cumulative: later figures replace earlier ones.
        if isinstance(usage, Mapping):
            self._usage.update({key: value for key, value in usage.items() if value is not None})

    def _index(self, payload: Mapping[str, Any]) -> int:
        index = payload.get("index")
        if isinstance(index, int) and not isinstance(index, bool):
            return index
        return self._last_index

    def _start(self, payload: Mapping[str, Any]) -> list[StreamEvent]:
        index = self._index(payload)
        if payload.get("index") is None:
            index = self._last_index + 1
        content = payload.get("content_block")
        content = content if isinstance(content, Mapping) else {}
        block = _Block(kind=str(content.get("type") or "text"))
        self._blocks[index] = block
        self._last_index = max(self._last_index, index)
        if block.kind == "text":
            return self._append(block, content.get("text"), TextDelta)
        if block.kind == "thinking":
            if isinstance(content.get("signature"), str):
                block.signature.append(content["signature"])
            return self._append(block, content.get("thinking"), ThinkingDelta)
        if block.kind == "redacted_thinking":
            block.data = str(content.get("data") or "")
            return []
        if block.kind == "tool_use":
            return self._start_tool(block, content)
        return []

    def _start_tool(self, block: _Block, content: Mapping[str, Any]) -> list[StreamEvent]:
        block.call_id = str(content.get("id") or f"toolu_{self._tool_calls}")
        name = str(content.get("name") or "")
        block.name = self.tool_names.get(name, name)
        block.ordinal = self._tool_calls
        block.start_input = content.get("input")
        self._tool_calls += 1
        return [ToolCallStarted(index=block.ordinal, id=block.call_id, name=block.name)]

    def _delta(self, payload: Mapping[str, Any]) -> list[StreamEvent]:
        delta = payload.get("delta")
        if not isinstance(delta, Mapping):
            raise StreamError("Anthropic sent a content_block_delta without a delta", backend=BACKEND)
        kind = delta.get("type")
        index = self._index(payload)
        block = self._blocks.get(index)
        if block is None:
            # A delta for a block that never started: tolerate it as a block of its kind.
            implied = {"text_delta": "text", "thinking_delta": "thinking", "signature_delta": "thinking"}
            if kind not in implied:
                raise StreamError(
                    f"Anthropic sent a {kind} for block {index}, which never started", backend=BACKEND
                )
            block = self._blocks[index] = _Block(kind=implied[str(kind)])
            self._last_index = max(self._last_index, index)
        if kind == "text_delta":
            return self._append(block, delta.get("text"), TextDelta)
        if kind == "input_json_delta":
            fragment = delta.get("partial_json")
            if not isinstance(fragment, str) or not fragment or block.kind != "tool_use":
                return []
            block.parts.append(fragment)
            return [ToolArgumentsDelta(index=block.ordinal, fragment=fragment)]
        if kind == "thinking_delta":
            return self._append(block, delta.get("thinking"), ThinkingDelta)
        if kind == "signature_delta":
            if isinstance(delta.get("signature"), str):
                block.signature.append(delta["signature"])
            return []
        return []  # citations_delta and future delta types

    @staticmethod
    def _append(block: _Block, text: Any, event: type[TextDelta | ThinkingDelta]) -> list[StreamEvent]:
        """Keep ``text`` (when it is some) in ``block`` and say it as an ``event``."""
        if not isinstance(text, str) or not text:
            return []
        block.parts.append(text)
        return [event(text=text)]

    def _response(self) -> AIResponse:
        texts: list[str] = []
        thinking: list[ThinkingBlock] = []
        calls: list[ToolCall] = []
        for index in sorted(self._blocks):
            block = self._blocks[index]
            if block.kind == "text":
                texts.append("".join(block.parts))
            elif block.kind == "thinking":
                signature = "".join(block.signature) if block.signature else None
                thinking.append(ThinkingBlock(text="".join(block.parts), signature=signature))
            elif block.kind == "redacted_thinking":
                thinking.append(ThinkingBlock(redacted=True, data=block.data))
            elif block.kind == "tool_use":
                calls.append(block.tool_call())
        message = {"id": self.response_id, "model": self.model, "usage": self._usage}
        message |= {"stop_reason": self.stop_reason, "stop_sequence": self.stop_sequence}
        return assemble_response(message, texts=texts, thinking_blocks=thinking, tool_calls=calls)


def render_stream(response: AIResponse, *, fragment: int = 7, ping: bool = True) -> list[dict[str, Any]]:
    """The event payloads Anthropic would stream for ``response`` (inverse of the state).

    Each payload's ``type`` is also its SSE event name. Text, thinking and tool arguments
    are cut into ``fragment``-character deltas; a call's ``raw_arguments`` (invalid JSON
    scripted on purpose) is streamed verbatim.
    """
    if fragment < 1:
        raise ValueError("fragment must be at least 1")
    usage = render_usage(response)
    start_usage = {key: value for key, value in usage.items() if key != "output_tokens"}
    events: list[dict[str, Any]] = [
        {
            "type": "message_start",
            "message": {
                "id": str(response.metadata.get("response_id") or "msg_fake"),
                "type": "message",
                "role": "assistant",
                "model": response.model,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {**start_usage, "output_tokens": 0},
            },
        }
    ]
    if ping:
        events.append({"type": "ping"})
    calls = iter(response.tool_calls)
    for index, block in enumerate(render_content(response)):
        kind = block["type"]
        if kind == "text":
            events.append(
                {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}
            )
            events += _deltas(index, "text_delta", "text", block["text"], fragment)
        elif kind == "thinking":
            start = {"type": "thinking", "thinking": ""}
            events.append({"type": "content_block_start", "index": index, "content_block": start})
            events += _deltas(index, "thinking_delta", "thinking", block["thinking"], fragment)
            if block["signature"]:
                delta = {"type": "signature_delta", "signature": block["signature"]}
                events.append({"type": "content_block_delta", "index": index, "delta": delta})
        elif kind == "redacted_thinking":
            events.append({"type": "content_block_start", "index": index, "content_block": dict(block)})
        else:
            call = next(calls)
            tool_start = {"type": "tool_use", "id": call.id, "name": call.name, "input": {}}
            events.append({"type": "content_block_start", "index": index, "content_block": tool_start})
            arguments = (
                call.raw_arguments if call.raw_arguments is not None else json.dumps(dict(call.arguments))
            )
            events += _deltas(index, "input_json_delta", "partial_json", arguments, fragment)
        events.append({"type": "content_block_stop", "index": index})
    stop_reason = response.metadata.get("stop_reason") or stop_reason_for(response.finish_reason)
    events.append(
        {
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": response.metadata.get("stop_sequence")},
            "usage": {"output_tokens": usage["output_tokens"]},
        }
    )
    events.append({"type": "message_stop"})
    return events


def _deltas(index: int, kind: str, key: str, text: str, fragment: int) -> list[dict[str, Any]]:
    return [
        {"type": "content_block_delta", "index": index, "delta": {"type": kind, key: text[i : i + fragment]}}
        for i in range(0, len(text), fragment)
    ]


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
