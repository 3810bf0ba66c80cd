"""The echoing fake: what ``cw run --backend fake`` and ``cw fake-server`` answer once the script is out.

The echo goes through the same real adapters and parsers as a scripted reply, in every wire
format, streamed or whole, with usage.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.llm.fake import FakeLLM, FakeScriptExhaustedError, echo_response
from domain.events import ResponseCompleted, StreamEvent, TextDelta
from domain.messages import AIResponse, ChatMessage, ToolCall

pytestmark = pytest.mark.anyio

CONVERSATION = [
    ChatMessage.system("Be brief."),
    ChatMessage.user("first question"),
    ChatMessage.assistant("first answer"),
    ChatMessage.user("Répète après moi : 静夜思, a line long enough to arrive in several pieces."),
]
LAST = CONVERSATION[-1].content


async def _stream(llm: FakeLLM, messages: Any = CONVERSATION) -> list[StreamEvent]:
    return [event async for event in llm.stream(messages)]


@pytest.mark.parametrize("wire", ["openai", "anthropic", "ollama"])
async def test_the_echo_streams_the_last_user_message_with_usage(wire: str) -> None:
    fake = FakeLLM(wire=wire, echo=True)
    events = await _stream(fake)
    deltas = [event.text for event in events if isinstance(event, TextDelta)]
    assert "".join(deltas) == LAST
    assert len(deltas) > 1  # streamed, not one block
    final = events[-1]
    assert isinstance(final, ResponseCompleted)
    assert final.response.content == LAST
    usage = final.response.usage
    assert usage.completion_tokens > 0
    assert usage.prompt_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


@pytest.mark.parametrize("wire", ["openai", "anthropic", "ollama"])
async def test_the_echo_answers_whole_requests_too(wire: str) -> None:
    fake = FakeLLM(wire=wire, echo=True)
    reply = await fake.complete(CONVERSATION)
    assert reply.content == LAST
    assert reply.usage.total_tokens > 0
    assert fake.requests[0].get("stream") in (False, None)


async def test_the_script_comes_first_then_the_echo() -> None:
    fake = FakeLLM([AIResponse(content="scripted")], echo=True)
    assert (await fake.complete(CONVERSATION)).content == "scripted"
    assert (await fake.complete(CONVERSATION)).content == LAST
    assert (await fake.complete([ChatMessage.user("again")])).content == "again"


async def test_without_echo_an_exhausted_script_is_still_an_error() -> None:
    with pytest.raises(FakeScriptExhaustedError):
        await FakeLLM().complete(CONVERSATION)


async def test_the_echo_after_a_tool_round_trip_repeats_the_user_not_the_tool() -> None:
    call = ToolCall(id="c1", name="read", arguments={"file_path": "a"})
    history = [
        ChatMessage.user("read a"),
        ChatMessage.assistant(tool_calls=(call,)),
        ChatMessage.tool(call, "contents of a"),
    ]
    for wire in ("openai", "anthropic", "ollama"):
        assert (await FakeLLM(wire=wire, echo=True).complete(history)).content == "read a"


def test_a_body_without_messages_gets_a_reply_that_says_so() -> None:
    for body in (None, {}, {"messages": "nope"}, {"messages": [{"role": "user", "content": 3}]}):
        reply = echo_response(body)
        assert "no user message" in reply.content
        assert reply.usage.total_tokens > 0


@given(text=st.text(min_size=1).filter(lambda t: t.strip() == t and t.strip()))
def test_echo_response_returns_any_text_word_for_word(text: str) -> None:
    body = {"messages": [{"role": "user", "content": [{"type": "text", "text": text}]}]}
    assert echo_response(body).content == text
