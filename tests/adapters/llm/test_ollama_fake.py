"""The fake backend speaking Ollama's wire: scripted steps through the real Ollama parser."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.llm.fake import FakeLLM, HTTPFailure, MidStreamError, Truncated
from adapters.llm.ollama.fake_wire import ollama_tool_ids
from domain.errors import (
    ContextLengthExceededError,
    ModelNotFoundError,
    OverloadedError,
    ProviderError,
    RateLimitError,
    StreamError,
    TruncatedStreamError,
)
from domain.events import ResponseCompleted, TextDelta, ToolCallStarted
from domain.messages import AIResponse, ChatMessage, FinishReason, ToolCall, ToolDefinition, Usage

pytestmark = pytest.mark.anyio

HELLO = [ChatMessage.user("hi")]
TEXT = AIResponse(
    content="Grüß dich! Здравствуйте 🙂",
    usage=Usage(prompt_tokens=12, completion_tokens=9, total_tokens=21),
    model="fake-model",
)
CALLS = AIResponse(
    tool_calls=(
        ToolCall(id="scripted_1", name="read", arguments={"file_path": "a.txt"}),
        ToolCall(id="scripted_2", name="glob", arguments={"pattern": "*.py"}),
    ),
    finish_reason=FinishReason.TOOL_CALLS,
    model="fake-model",
)
TOOLS = [ToolDefinition(name="read"), ToolDefinition(name="glob")]


async def events_of(fake: FakeLLM, messages: list[ChatMessage] = HELLO, **kwargs: Any) -> list[Any]:
    return [event async for event in fake.stream(messages, **kwargs)]


async def test_a_scripted_reply_streams_through_the_ollama_parser() -> None:
    fake = FakeLLM([TEXT], wire="ollama")
    events = await events_of(fake)
    await fake.aclose()
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == TEXT.content
    final = events[-1]
    assert isinstance(final, ResponseCompleted)
    assert final.response.usage == TEXT.usage
    assert fake.requests[0]["stream"] is True
    assert fake.requests[0]["messages"] == [{"role": "user", "content": "hi"}]
    assert fake.transport.calls[0].path == "/api/chat"


async def test_complete_uses_the_non_streaming_shape() -> None:
    fake = FakeLLM([TEXT], wire="ollama")
    response = await fake.complete(HELLO)
    await fake.aclose()
    assert fake.requests[0]["stream"] is False
    assert (response.content, response.usage) == (TEXT.content, TEXT.usage)


async def test_scripted_tool_call_ids_round_trip_into_the_next_request() -> None:
    fake = FakeLLM([CALLS, TEXT], wire="ollama")
    events = await events_of(fake, tools=TOOLS)
    reply = events[-1].response
    assert [e.id for e in events if isinstance(e, ToolCallStarted)] == ["scripted_1", "scripted_2"]
    assert [c.id for c in reply.tool_calls] == ["scripted_1", "scripted_2"]
    messages = [*HELLO, reply.to_message(), *(ChatMessage.tool(c, "result") for c in reply.tool_calls)]
    await events_of(fake, messages, tools=TOOLS)
    await fake.aclose()
    assert ollama_tool_ids(fake.requests[1]) == (("scripted_1", "scripted_2"), ("scripted_1", "scripted_2"))
    tool_messages = [m for m in fake.requests[1]["messages"] if m["role"] == "tool"]
    assert [m["tool_name"] for m in tool_messages] == ["read", "glob"]


@pytest.mark.parametrize(
    ("step", "error"),
    [
        (
            HTTPFailure(status=404, message='model "fake-model" not found, try pulling it first'),
            ModelNotFoundError,
        ),
        (MidStreamError(response=TEXT, after=2, kind="overloaded"), OverloadedError),
        (
            MidStreamError(response=TEXT, after=2, kind="server", message="llama runner crashed"),
            ProviderError,
        ),
        (
            MidStreamError(response=TEXT, after=2, kind="rate_limit", message="rate limit exceeded"),
            RateLimitError,
        ),
        (
            MidStreamError(
                response=TEXT, after=2, kind="context_length", message="input exceeds the context length"
            ),
            ContextLengthExceededError,
        ),
        (Truncated(response=TEXT, after=3), TruncatedStreamError),
        (Truncated(response=TEXT, after=3, drop=True), TruncatedStreamError),
    ],
)
async def test_scripted_failures_become_typed_errors(step: Any, error: type[Exception]) -> None:
    fake = FakeLLM([step], wire="ollama", max_retries=0)
    with pytest.raises(error):
        await events_of(fake)
    await fake.aclose()


async def test_a_mid_stream_failure_keeps_the_partial_text_and_is_not_retried() -> None:
    fake = FakeLLM([MidStreamError(response=TEXT, after=3), TEXT], wire="ollama")
    with pytest.raises(OverloadedError) as caught:
        await events_of(fake)
    await fake.aclose()
    assert caught.value.partial is not None
    assert TEXT.content.startswith(caught.value.partial.content)
    assert caught.value.partial.content
    assert fake.transport.remaining == 1


@pytest.mark.parametrize(
    ("step", "error"),
    [
        (MidStreamError(response=TEXT, kind="overloaded"), OverloadedError),
        (Truncated(response=TEXT), StreamError),
    ],
)
async def test_failures_of_non_streaming_calls(step: Any, error: type[Exception]) -> None:
    fake = FakeLLM([step], wire="ollama", max_retries=0)
    with pytest.raises(error):
        await fake.complete(HELLO)
    await fake.aclose()


KINDS = [
    ("overloaded", OverloadedError),
    ("rate_limit", RateLimitError),
    ("server", ProviderError),
    ("context_length", ContextLengthExceededError),
]


@pytest.mark.parametrize(("kind", "error"), KINDS)
@pytest.mark.parametrize("message", [None, "{kind} went wrong"])
@pytest.mark.parametrize("stream", [True, False])
async def test_a_mid_stream_error_is_the_error_its_kind_names(
    kind: str, error: type[Exception], message: str | None, stream: bool
) -> None:
    """As on the OpenAI wire, ``kind`` picks the error, with the default message or any other."""
    options: dict[str, Any] = {} if message is None else {"message": message.format(kind=kind)}
    fake = FakeLLM(
        [MidStreamError(response=TEXT, after=2, kind=kind, **options)], wire="ollama", max_retries=0
    )
    with pytest.raises(error) as caught:
        await (events_of(fake) if stream else fake.complete(HELLO))
    await fake.aclose()
    assert type(caught.value) is error
    if message is not None:
        assert message.format(kind=kind) in str(caught.value)
