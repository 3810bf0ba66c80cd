"""The LLM port's contract, run against every backend in ``conftest.BACKENDS``.

Each backend's real adapter is driven by scripted wire bytes (``adapters.llm.fake``), so
these tests exercise the real request building, stream decoding, tool-call reassembly and
error classification of every backend in the same terms.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from adapters.llm.fake import HTTPFailure, MidStreamError, Truncated
from domain.errors import (
    AuthenticationError,
    InvalidRequestError,
    LLMError,
    ModelNotFoundError,
    OverloadedError,
    PermissionDeniedError,
    ProviderError,
    RateLimitError,
    TruncatedStreamError,
)
from domain.events import ResponseCompleted, StreamEvent, TextDelta, ToolCallStarted
from domain.messages import (
    AIResponse,
    ChatMessage,
    FinishReason,
    ImageInput,
    ToolCall,
    ToolDefinition,
    Usage,
)
from domain.ports import LLMPort
from tests.adapters.llm.conftest import Scripted

pytestmark = pytest.mark.anyio

Make = Callable[..., Scripted]

HELLO = (ChatMessage.system("You are terse."), ChatMessage.user("Say hello in two languages."))
USAGE = Usage(prompt_tokens=21, completion_tokens=9, total_tokens=30)
TEXT = AIResponse(
    content="Hello! — 你好，世界 ✓ and a longer tail so it streams in several chunks.", usage=USAGE
)

READ = ToolDefinition(
    name="read",
    description="Read a file",
    parameters={"type": "object", "properties": {"file_path": {"type": "string"}}, "required": ["file_path"]},
)
GLOB = ToolDefinition(
    name="glob",
    description="Find files",
    parameters={"type": "object", "properties": {"pattern": {"type": "string"}, "path": {"type": "string"}}},
)
TOOLS = (READ, GLOB)


def calls_reply(*calls: ToolCall) -> AIResponse:
    return AIResponse(tool_calls=calls, finish_reason=FinishReason.TOOL_CALLS, usage=USAGE)


PARALLEL = calls_reply(
    ToolCall(id="call_read_1", name="read", arguments={"file_path": "notes/ünïcode.txt"}),
    ToolCall(
        id="call_glob_2",
        name="glob",
        arguments={"pattern": "**/*.py", "path": "src", "options": {"depth": 3, "flags": ["a", "b"]}},
    ),
)


async def stream_all(llm: LLMPort, messages: Any = HELLO, **options: Any) -> list[StreamEvent]:
    return [event async for event in llm.stream(messages, **options)]


async def stream_into(llm: LLMPort, into: list[StreamEvent], messages: Any = HELLO) -> None:
    async for event in llm.stream(messages):
        into.append(event)


def final(events: list[StreamEvent]) -> AIResponse:
    assert isinstance(events[-1], ResponseCompleted)
    assert sum(isinstance(e, ResponseCompleted) for e in events) == 1
    return events[-1].response


def text_of(events: list[StreamEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


# --- replies -----------------------------------------------------------------------------------


async def test_plain_text_reply(scripted: Make) -> None:
    adapter = scripted(TEXT)
    reply = await adapter.llm.complete(HELLO)
    assert reply.content == TEXT.content
    assert reply.finish_reason is FinishReason.STOP
    assert reply.tool_calls == ()
    assert len(adapter.requests) == 1


async def test_streamed_text_equals_complete_text(scripted: Make) -> None:
    adapter = scripted(TEXT, TEXT)
    whole = await adapter.llm.complete(HELLO)
    events = await stream_all(adapter.llm)
    assert sum(isinstance(e, TextDelta) for e in events) > 1  # really streamed in pieces
    assert text_of(events) == whole.content == TEXT.content
    streamed = final(events)
    assert streamed.content == whole.content
    assert streamed.finish_reason is whole.finish_reason is FinishReason.STOP


async def test_usage_is_the_providers_in_both_modes(scripted: Make) -> None:
    adapter = scripted(TEXT, TEXT)
    assert (await adapter.llm.complete(HELLO)).usage == USAGE
    assert final(await stream_all(adapter.llm)).usage == USAGE


async def test_parallel_tool_calls(scripted: Make) -> None:
    adapter = scripted(PARALLEL, PARALLEL)
    whole = await adapter.llm.complete(HELLO, tools=TOOLS)
    events = await stream_all(adapter.llm, tools=TOOLS)
    streamed = final(events)
    for reply in (whole, streamed):
        assert reply.finish_reason is FinishReason.TOOL_CALLS
        assert [(c.id, c.name, dict(c.arguments)) for c in reply.tool_calls] == [
            (c.id, c.name, dict(c.arguments)) for c in PARALLEL.tool_calls
        ]
        assert all(c.is_valid for c in reply.tool_calls)
    started = [e for e in events if isinstance(e, ToolCallStarted)]
    assert [(e.id, e.name) for e in started] == [("call_read_1", "read"), ("call_glob_2", "glob")]


async def test_tool_call_ids_round_trip_through_two_tool_turns(scripted: Make) -> None:
    first = PARALLEL
    second = calls_reply(ToolCall(id="call_read_3", name="read", arguments={"file_path": "b.txt"}))
    answer = AIResponse(content="Both files say hello.", usage=USAGE)
    adapter = scripted(first, second, answer)
    messages: list[ChatMessage] = list(HELLO)
    for _turn in range(3):
        events = await stream_all(adapter.llm, messages, tools=TOOLS)
        reply = final(events)
        messages.append(reply.to_message())
        if not reply.tool_calls:
            break
        messages.extend(
            ChatMessage.tool(
                call, f"contents of {call.arguments['file_path']}" if call.name == "read" else "a.py\nb.py"
            )
            for call in reply.tool_calls
        )
    assert reply.content == "Both files say hello."
    expected = ("call_read_1", "call_glob_2", "call_read_3")
    assert adapter.tool_ids(adapter.requests[-1]) == (expected, expected)
    assert adapter.tool_ids(adapter.requests[1]) == (expected[:2], expected[:2])
    assert "contents of b.txt" in json.dumps(adapter.requests[-1], ensure_ascii=False)


async def test_images_reach_the_wire(scripted: Make) -> None:
    # Bytes and a data URI: every backend can send those without fetching anything
    # (some must inline an http(s) URL as base64, which their own tests cover).
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(64))
    gif = b"GIF89a" + bytes(range(100, 140))
    gif_uri = f"data:image/gif;base64,{base64.b64encode(gif).decode()}"
    message = ChatMessage.user(
        "What is in these?", images=(ImageInput(data=png, media_type="image/png"), ImageInput(url=gif_uri))
    )
    adapter = scripted(TEXT)
    reply = await adapter.llm.complete([message])
    assert reply.content == TEXT.content
    sent = json.dumps(adapter.requests[0])
    assert base64.b64encode(png).decode() in sent
    assert base64.b64encode(gif).decode() in sent
    assert "What is in these?" in sent


# --- errors ------------------------------------------------------------------------------------

STATUS_ERRORS = [
    (400, InvalidRequestError),
    (401, AuthenticationError),
    (403, PermissionDeniedError),
    (404, ModelNotFoundError),
    (422, InvalidRequestError),
    (429, RateLimitError),
    (500, ProviderError),
    (503, OverloadedError),
]


@pytest.mark.parametrize("mode", ["complete", "stream"])
@pytest.mark.parametrize(("status", "error_type"), STATUS_ERRORS)
async def test_error_status_becomes_its_typed_error(
    scripted: Make, mode: str, status: int, error_type: type[LLMError]
) -> None:
    failure = HTTPFailure(
        status=status, message=f"detail from the server for {status}", headers={"retry-after": "7"}
    )
    adapter = scripted(failure)
    call = adapter.llm.complete(HELLO) if mode == "complete" else stream_all(adapter.llm)
    with pytest.raises(error_type) as caught:
        await call
    error = caught.value
    assert error.status == status
    assert error.backend == adapter.llm.name
    assert f"detail from the server for {status}" in str(error)
    assert error.partial is None
    if status == 429:
        assert error.retry_after == 7
    assert len(adapter.requests) == 1


async def test_an_error_in_the_middle_of_a_stream_keeps_the_partial(scripted: Make) -> None:
    adapter = scripted(MidStreamError(response=TEXT, after=3))
    received: list[StreamEvent] = []
    with pytest.raises(OverloadedError) as caught:
        await stream_into(adapter.llm, received)
    shown = text_of(received)
    assert shown  # something was shown before the failure…
    assert caught.value.partial is not None
    assert caught.value.partial.content == shown  # …and nothing shown is lost
    assert not any(isinstance(e, ResponseCompleted) for e in received)


@pytest.mark.parametrize("drop", [False, True], ids=["clean-eof", "dropped"])
async def test_a_truncated_stream_is_an_error_never_a_success(scripted: Make, drop: bool) -> None:
    adapter = scripted(Truncated(response=TEXT, after=3, drop=drop))
    received: list[StreamEvent] = []
    with pytest.raises(TruncatedStreamError) as caught:
        await stream_into(adapter.llm, received)
    assert caught.value.partial is not None
    assert caught.value.partial.content == text_of(received)
    assert TEXT.content.startswith(caught.value.partial.content)
    assert not any(isinstance(e, ResponseCompleted) for e in received)


# --- cancellation ------------------------------------------------------------------------------


async def test_aclose_of_a_stream_closes_the_connection(scripted: Make) -> None:
    adapter = scripted(TEXT)
    stream: AsyncIterator[StreamEvent] = adapter.llm.stream(HELLO)
    first = await stream.__anext__()
    assert isinstance(first, TextDelta)
    await stream.aclose()  # type: ignore[attr-defined]
    assert adapter.transport.calls[0].disconnected.is_set()


async def test_break_closes_the_connection(scripted: Make) -> None:
    adapter = scripted(TEXT)
    async for _event in adapter.llm.stream(HELLO):
        break
    gc.collect()
    await asyncio.wait_for(adapter.transport.calls[0].disconnected.wait(), 2)


async def test_cancelling_the_task_closes_the_connection(scripted: Make) -> None:
    adapter = scripted(TEXT)
    first = asyncio.Event()
    hold = asyncio.Event()

    async def consume() -> None:
        async for _event in adapter.llm.stream(HELLO):
            first.set()
            await hold.wait()  # a slow consumer, cancelled while it holds an event

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), 2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    gc.collect()
    await asyncio.wait_for(adapter.transport.calls[0].disconnected.wait(), 2)


async def test_a_stream_read_to_its_end_is_not_reported_as_cut(scripted: Make) -> None:
    adapter = scripted(TEXT)
    await stream_all(adapter.llm)
    assert not adapter.transport.calls[0].disconnected.is_set()


# --- the rest of the port ----------------------------------------------------------------------


async def test_port_basics(scripted: Make) -> None:
    adapter = scripted()
    llm = adapter.llm
    assert isinstance(llm, LLMPort)
    assert llm.capabilities().streaming
    assert llm.capabilities().function_calling
    assert llm.count_tokens("x" * 40) == 10
    assert llm.count_tokens("x" * 41) == 11
    assert llm.context_limit() > 0
    bound = llm.with_config(llm.config.__class__(model=llm.config.model, context_length=1234))
    assert bound.context_limit() == 1234
    assert llm.config.context_length != 1234  # the original is unchanged
    assert "hf_contract_token" not in repr(llm)


async def test_with_config_shares_the_pool_which_only_the_original_closes(scripted: Make) -> None:
    adapter = scripted(TEXT, TEXT, TEXT)
    llm = adapter.llm
    bound = llm.with_config(llm.config.__class__(model=llm.config.model, context_length=4321))
    await bound.aclose()  # a copy does not own the pool: closing it closes nothing
    assert (await bound.complete(HELLO)).content == TEXT.content
    assert (await llm.complete(HELLO)).content == TEXT.content
    await llm.aclose()  # the owner closes the pool, once, for the copies too
    await llm.aclose()
