"""The byte streams every client in the benchmark consumes, as real providers send them.

Each stream is a list of wire chunks (one network write each) plus the number of data
events in it, so that every client is measured per chunk on exactly the same bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

WORDS = (
    "The ",
    "quick ",
    "brown ",
    "fox ",
    "jumps ",
    "over ",
    "the ",
    "lazy ",
    "dog, ",
    "über ",
    "naïve ",
    "🦊 ",
)


@dataclass(frozen=True)
class Stream:
    name: str
    path: str
    content_type: str
    chunks: tuple[bytes, ...]
    events: int


def _sse(payload: dict[str, object]) -> bytes:
    return b"data: " + json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode() + b"\n\n"


def _openai_chunk(delta: dict[str, object], finish: str | None = None) -> dict[str, object]:
    return {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": "meta-llama/Llama-3.1-8B-Instruct",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def openai_text(count: int) -> Stream:
    chunks = [_sse(_openai_chunk({"role": "assistant", "content": ""}))]
    chunks += [_sse(_openai_chunk({"content": WORDS[i % len(WORDS)]})) for i in range(count)]
    chunks.append(_sse(_openai_chunk({}, "stop")))
    usage = {"prompt_tokens": 12, "completion_tokens": count, "total_tokens": 12 + count}
    chunks.append(
        _sse({"id": "chatcmpl-bench", "object": "chat.completion.chunk", "choices": [], "usage": usage})
    )
    chunks.append(b"data: [DONE]\n\n")
    return Stream(
        f"text-{count}", f"/text/{count}/v1/chat/completions", "text/event-stream", tuple(chunks), count
    )


def openai_parallel_tools(calls: int = 3, fragments: int = 400) -> Stream:
    """Parallel tool calls whose JSON arguments arrive in tiny, interleaved fragments."""
    chunks = [_sse(_openai_chunk({"role": "assistant", "content": None}))]
    arguments = [
        json.dumps({"path": f"src/module_{i}.py", "pattern": "def .*" * (fragments // 8)})
        for i in range(calls)
    ]
    step = [max(1, len(a) // fragments) for a in arguments]
    for index in range(calls):
        start = {
            "index": index,
            "id": f"call_{index}",
            "type": "function",
            "function": {"name": "grep", "arguments": ""},
        }
        chunks.append(_sse(_openai_chunk({"tool_calls": [start]})))
    positions = [0] * calls
    while any(positions[i] < len(arguments[i]) for i in range(calls)):
        for index in range(calls):
            if positions[index] >= len(arguments[index]):
                continue
            piece = arguments[index][positions[index] : positions[index] + step[index]]
            positions[index] += step[index]
            chunks.append(
                _sse(_openai_chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}))
            )
    chunks.append(_sse(_openai_chunk({}, "tool_calls")))
    chunks.append(b"data: [DONE]\n\n")
    events = len(chunks) - 1
    return Stream("tool-calls", "/tools/v1/chat/completions", "text/event-stream", tuple(chunks), events)


def ollama_text(count: int) -> Stream:
    def line(payload: dict[str, object]) -> bytes:
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"

    base = {"model": "llama3.1", "created_at": "2026-11-25T08:00:00.000000Z"}
    chunks = [
        line({**base, "message": {"role": "assistant", "content": WORDS[i % len(WORDS)]}, "done": False})
        for i in range(count)
    ]
    chunks.append(
        line(
            {
                **base,
                "message": {"role": "assistant", "content": ""},
                "done": True,
                "done_reason": "stop",
                "total_duration": 5_000_000_000,
                "load_duration": 1_000_000,
                "prompt_eval_count": 12,
                "prompt_eval_duration": 10_000_000,
                "eval_count": count,
                "eval_duration": 4_000_000_000,
            }
        )
    )
    return Stream(
        f"ollama-{count}", f"/ollama/{count}/api/chat", "application/x-ndjson", tuple(chunks), count
    )


def anthropic_text(count: int) -> Stream:
    def event(name: str, payload: dict[str, object]) -> bytes:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        return f"event: {name}\ndata: {body}\n\n".encode()

    message = {
        "id": "msg_bench",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 12, "output_tokens": 1},
    }
    chunks = [
        event("message_start", {"type": "message_start", "message": message}),
        event(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        ),
    ]
    chunks += [
        event(
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": WORDS[i % len(WORDS)]},
            },
        )
        for i in range(count)
    ]
    chunks += [
        event("content_block_stop", {"type": "content_block_stop", "index": 0}),
        event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": count},
            },
        ),
        event("message_stop", {"type": "message_stop"}),
    ]
    return Stream(
        f"anthropic-{count}", f"/anthropic/{count}/v1/messages", "text/event-stream", tuple(chunks), count
    )


def all_streams() -> dict[str, Stream]:
    streams = [
        openai_text(200),
        openai_text(20_000),
        openai_parallel_tools(),
        ollama_text(200),
        ollama_text(20_000),
        anthropic_text(200),
        anthropic_text(20_000),
    ]
    return {stream.path: stream for stream in streams}
