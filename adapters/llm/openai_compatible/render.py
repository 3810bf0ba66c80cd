"""The inverses of the parsers, for the fake backend and the property tests.

``parse_completion(render_completion(r)) == r`` and a `StreamState` fed ``render_stream(r)``
finishes as ``r``; `StreamQuirks` reproduces what real servers do differently.
"""

from __future__ import annotations

import json
from typing import Any

import attrs

from adapters.llm._sse import ServerSentEvent, render_sse
from adapters.llm.openai_compatible.request import arguments_text, tool_call_to_wire
from adapters.llm.openai_compatible.stream import DONE
from domain.messages import AIResponse, ToolCall, Usage

__all__ = ["StreamQuirks", "render_completion", "render_stream", "render_stream_bytes"]


def _usage_to_wire(usage: Usage) -> dict[str, int]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


def _envelope(response: AIResponse, kind: str) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if "response_id" in response.metadata:
        body["id"] = response.metadata["response_id"]
    body["object"] = kind
    if response.model:
        body["model"] = response.model
    if "system_fingerprint" in response.metadata:
        body["system_fingerprint"] = response.metadata["system_fingerprint"]
    return body


def render_completion(response: AIResponse, *, reasoning_field: str = "reasoning_content") -> dict[str, Any]:
    """The non-streaming body that `parse_completion` turns back into ``response``.

    An estimated usage is left out (the parser estimates again); only ``response_id`` and
    ``system_fingerprint`` of the metadata have a place on the wire.
    """
    message: dict[str, Any] = {"role": "assistant"}
    message["content"] = response.content or (None if response.tool_calls else "")
    if response.thinking:
        message[reasoning_field] = response.thinking
    if response.tool_calls:
        message["tool_calls"] = [
            tool_call_to_wire(call, {call.name: call.name}) for call in response.tool_calls
        ]
    body = _envelope(response, "chat.completion")
    body["choices"] = [{"index": 0, "message": message, "finish_reason": response.finish_reason.value}]
    if not response.usage.estimated:
        body["usage"] = _usage_to_wire(response.usage)
    return body


@attrs.frozen(kw_only=True)
class StreamQuirks:
    """Provider quirks `render_stream` can reproduce, so tests cover what real servers send.

    Attributes:
        repeat_ids: repeat ``id``, ``type`` and ``name`` in every tool-call chunk.
        index: ``"present"`` (the standard), ``"missing"`` (no key) or ``"null"``.
        empty_name_first: open each tool call with an empty-string name, the name following.
        arguments_as_object: send each valid call's arguments whole, as a JSON object.
        interleave: send the fragments of parallel calls round-robin (needs an index or
            repeated ids to be unambiguous; without either the calls go one after another).
        reasoning_field: ``reasoning_content`` or ``reasoning``.
        think_tags: put the thinking in the content between ``<think>`` tags instead.
        usage_chunk: send usage in a final chunk with empty ``choices`` (OpenAI
            ``include_usage``) rather than in the finish chunk.
        done: whether a ``[DONE]`` sentinel follows (only `render_stream_bytes`).
    """

    repeat_ids: bool = False
    index: str = attrs.field(
        default="present", validator=attrs.validators.in_(("present", "missing", "null"))
    )
    empty_name_first: bool = False
    arguments_as_object: bool = False
    interleave: bool = False
    reasoning_field: str = "reasoning_content"
    think_tags: bool = False
    usage_chunk: bool = True
    done: bool = True


def _pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def _call_chunks(response: AIResponse, chunk_size: int, quirks: StreamQuirks) -> list[dict[str, Any]]:
    """The ``delta.tool_calls`` entries, in the order they are sent."""
    per_call: list[list[dict[str, Any]]] = []
    for index, call in enumerate(response.tool_calls):

        def entry(
            extra: dict[str, Any], *, head: bool, index: int = index, call: ToolCall = call
        ) -> dict[str, Any]:
            item: dict[str, Any] = {}
            if quirks.index == "present":
                item["index"] = index
            elif quirks.index == "null":
                item["index"] = None
            if head or quirks.repeat_ids:
                item["id"] = call.id
                item["type"] = "function"
                extra = {"name": call.name, **extra}
            item["function"] = extra
            return item

        entries: list[dict[str, Any]] = []
        if quirks.empty_name_first:
            first = entry({"arguments": ""}, head=True)
            first["function"]["name"] = ""
            entries.append(first)
            entries.append(entry({"arguments": ""}, head=True))
        if quirks.arguments_as_object and call.parse_error is None:
            entries.append(entry({"arguments": dict(call.arguments)}, head=True))
        else:
            text = arguments_text(call)
            fragments = _pieces(text, chunk_size) or [""]
            for number, fragment in enumerate(fragments):
                entries.append(
                    entry({"arguments": fragment}, head=number == 0 and not quirks.empty_name_first)
                )
        per_call.append(entries)
    unambiguous = quirks.index == "present" or quirks.repeat_ids
    if quirks.interleave and unambiguous and len(per_call) > 1:
        ordered: list[dict[str, Any]] = []
        # Heads first, in call order, so every call is opened before fragments interleave.
        for entries in per_call:
            ordered.append(entries[0])
        longest = max(len(entries) for entries in per_call)
        for position in range(1, longest):
            for entries in per_call:
                if position < len(entries):
                    ordered.append(entries[position])
        return ordered
    return [entry for entries in per_call for entry in entries]


def render_stream(
    response: AIResponse, *, chunk_size: int = 16, quirks: StreamQuirks | None = None
) -> list[dict[str, Any]]:
    """The stream chunks a `StreamState` turns back into ``response``.

    Args:
        response: the reply to render.
        chunk_size: the most characters of text or arguments per chunk.
        quirks: provider quirks to reproduce.
    """
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    quirks = quirks or StreamQuirks()
    envelope = _envelope(response, "chat.completion.chunk")

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**envelope, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    chunks = [chunk({"role": "assistant", "content": ""})]
    if response.thinking:
        if quirks.think_tags:
            text = f"<think>{response.thinking}</think>"
            chunks.extend(chunk({"content": piece}) for piece in _pieces(text, chunk_size))
        else:
            field = quirks.reasoning_field
            chunks.extend(chunk({field: piece}) for piece in _pieces(response.thinking, chunk_size))
    chunks.extend(chunk({"content": piece}) for piece in _pieces(response.content, chunk_size))
    chunks.extend(chunk({"tool_calls": [entry]}) for entry in _call_chunks(response, chunk_size, quirks))
    last = chunk({}, response.finish_reason.value)
    if response.usage.estimated:
        chunks.append(last)
    elif quirks.usage_chunk:
        chunks.append(last)
        chunks.append({**envelope, "choices": [], "usage": _usage_to_wire(response.usage)})
    else:
        chunks.append({**last, "usage": _usage_to_wire(response.usage)})
    return chunks


def render_stream_bytes(
    response: AIResponse,
    *,
    chunk_size: int = 16,
    quirks: StreamQuirks | None = None,
    newline: str = "\n",
) -> bytes:
    """`render_stream` as SSE bytes, followed by ``data: [DONE]`` unless ``quirks.done`` is off."""
    quirks = quirks or StreamQuirks()
    events = [
        ServerSentEvent(data=json.dumps(c, ensure_ascii=False, separators=(",", ":")))
        for c in render_stream(response, chunk_size=chunk_size, quirks=quirks)
    ]
    if quirks.done:
        events.append(ServerSentEvent(data=DONE))
    return render_sse(events, newline=newline)
