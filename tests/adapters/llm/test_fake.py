"""The fake backend: scripts, recordings, failures, wire registration, determinism."""

from __future__ import annotations

import asyncio
from typing import Any

import attrs
import pytest
from hypothesis import given

from adapters.llm.fake import (
    FakeLLM,
    FakeScriptExhaustedError,
    FakeStep,
    FakeWire,
    HTTPFailure,
    MidStreamError,
    ScriptedTransport,
    Truncated,
    register_wire,
    script_handler,
    wire_for,
)
from adapters.llm.huggingface import HuggingFaceLLM, HuggingFaceSettings
from adapters.llm.testing.scripted_server import ScriptedResponse, ScriptedServer
from domain.errors import (
    ContextLengthExceededError,
    InvalidRequestError,
    LLMError,
    OverloadedError,
    ProviderError,
    RateLimitError,
    StreamError,
)
from domain.events import ResponseCompleted, StreamEvent, TextDelta, ThinkingDelta
from domain.messages import AIResponse, ChatMessage, ToolCall, Usage
from domain.model_config import NormalizedModelConfig
from tests.strategies import wire_ai_responses

pytestmark = pytest.mark.anyio

HELLO = [ChatMessage.user("Hello")]
USAGE = Usage(prompt_tokens=4, completion_tokens=8, total_tokens=12)
ONE = AIResponse(content="first answer", usage=USAGE)
TWO = AIResponse(content="second answer", usage=USAGE)


async def stream_all(llm: FakeLLM, messages: Any = HELLO) -> list[StreamEvent]:
    return [event async for event in llm.stream(messages)]


async def test_steps_are_served_in_order_then_a_clear_error() -> None:
    fake = FakeLLM([ONE, TWO])
    assert (await fake.complete(HELLO)).content == "first answer"
    assert (await fake.complete(HELLO)).content == "second answer"
    with pytest.raises(FakeScriptExhaustedError, match="script is exhausted") as caught:
        await fake.complete(HELLO)
    assert isinstance(caught.value, LLMError)
    assert "2 scripted step" in str(caught.value)


async def test_every_request_body_is_recorded() -> None:
    fake = FakeLLM([ONE, TWO], config=NormalizedModelConfig(model="fake-model", temperature=0.3))
    await fake.complete([ChatMessage.system("Be brief."), ChatMessage.user("Hi")])
    await stream_all(fake, [ChatMessage.user("Again")])
    first, second = fake.requests
    assert [m["role"] for m in first["messages"]] == ["system", "user"]
    assert first["temperature"] == 0.3
    assert first["stream"] is False
    assert second["stream"] is True
    assert second["messages"][0]["content"] == "Again"


async def test_with_config_shares_the_script_and_the_recordings() -> None:
    fake = FakeLLM([ONE, TWO])
    other = fake.with_config(NormalizedModelConfig(model="another-model"))
    assert (await other.complete(HELLO)).content == "first answer"
    assert (await fake.complete(HELLO)).content == "second answer"
    assert [body["model"] for body in fake.requests] == ["another-model", "fake-model"]
    assert fake.config.model == "fake-model"


async def test_add_extends_the_script() -> None:
    fake = FakeLLM()
    fake.add(ONE)
    assert (await fake.complete(HELLO)).content == "first answer"


async def test_a_scripted_5xx_is_retried_like_a_real_backend_without_waiting() -> None:
    fake = FakeLLM([HTTPFailure(status=503, message="busy"), ONE])
    assert (await fake.complete(HELLO)).content == "first answer"
    assert len(fake.requests) == 2
    assert fake.delays == [0.25]  # deterministic jitter, never slept


async def test_scripted_failures_surface_as_typed_errors() -> None:
    fake = FakeLLM([HTTPFailure(status=400, message="bad temperature")], max_retries=0)
    with pytest.raises(InvalidRequestError, match="bad temperature"):
        await fake.complete(HELLO)


@pytest.mark.parametrize(
    ("kind", "error_type"),
    [
        ("overloaded", OverloadedError),
        ("rate_limit", RateLimitError),
        ("server", ProviderError),
        ("context_length", ContextLengthExceededError),
    ],
)
async def test_mid_stream_error_kinds(kind: str, error_type: type[LLMError]) -> None:
    fake = FakeLLM([MidStreamError(response=ONE, after=2, kind=kind, message=f"{kind} went wrong")])
    with pytest.raises(error_type) as caught:
        await stream_all(fake)
    assert caught.value.partial is not None
    assert caught.value.partial.content
    assert len(fake.requests) == 1  # output had been shown: never retried


async def test_an_error_before_any_output_is_retried() -> None:
    fake = FakeLLM([MidStreamError(response=ONE, after=1), ONE])  # only the role chunk came
    events = await stream_all(fake)
    assert isinstance(events[-1], ResponseCompleted)
    assert events[-1].response.content == "first answer"
    assert len(fake.requests) == 2


async def test_failures_in_non_streaming_calls() -> None:
    fake = FakeLLM([MidStreamError(response=ONE), Truncated(response=ONE)], max_retries=0)
    with pytest.raises(OverloadedError):
        await fake.complete(HELLO)
    with pytest.raises(StreamError):
        await fake.complete(HELLO)


async def test_thinking_and_tool_calls_go_through_the_real_parser() -> None:
    reply = AIResponse(
        content="Done.",
        thinking="Let me look at the file first.",
        tool_calls=(ToolCall(id="call_x", name="read", arguments={"file_path": "a.txt", "limit": 10}),),
        finish_reason="tool_calls",
        usage=USAGE,
    )
    fake = FakeLLM([reply])
    events = await stream_all(fake)
    thinking = "".join(e.text for e in events if isinstance(e, ThinkingDelta))
    assert thinking == "Let me look at the file first."
    final = events[-1]
    assert isinstance(final, ResponseCompleted)
    assert final.response.tool_calls == reply.tool_calls
    assert final.response.thinking == reply.thinking


async def test_the_fake_is_deterministic() -> None:
    script: list[FakeStep] = [ONE, MidStreamError(response=TWO, after=3)]

    async def run() -> list[Any]:
        fake = FakeLLM(script)
        seen: list[Any] = [await fake.complete(HELLO)]
        try:
            seen.extend(await stream_all(fake))
        except LLMError as error:
            seen.append((type(error), str(error), error.partial))
        return seen

    assert await run() == await run()


@given(wire_ai_responses())
def test_any_reply_comes_back_the_same_streamed_or_not(reply: AIResponse) -> None:
    async def run() -> tuple[AIResponse, AIResponse]:
        fake = FakeLLM([reply, reply])
        whole = await fake.complete(HELLO)
        events = await stream_all(fake)
        assert isinstance(events[-1], ResponseCompleted)
        return whole, events[-1].response

    whole, streamed = asyncio.run(run())
    expected = attrs.evolve(reply, model=reply.model or "fake-model")
    assert whole == expected
    assert streamed == expected


async def test_port_facts() -> None:
    fake = FakeLLM()
    assert fake.name == "fake"
    capabilities = fake.capabilities()
    assert capabilities.streaming
    assert capabilities.function_calling
    assert capabilities.vision
    assert not capabilities.model_management
    assert [model.name for model in await fake.list_models()] == ["fake-model"]
    assert fake.count_tokens("abcde") == 2
    assert fake.with_config(NormalizedModelConfig(model="m", context_length=999)).context_limit() == 999
    assert "remaining=0" in repr(fake)


async def test_a_new_wire_format_can_be_registered() -> None:
    openai = wire_for("openai")
    seen: list[Any] = []

    def render(step: FakeStep, body: Any) -> ScriptedResponse:
        seen.append(step)
        reply = openai.render(step, body)
        return attrs.evolve(reply, headers=(*reply.headers, ("x-wire", "custom")))

    register_wire(
        FakeWire(name="custom-test-wire", render=render, adapter=openai.adapter, tool_ids=openai.tool_ids)
    )
    fake = FakeLLM([ONE], wire="custom-test-wire")
    assert (await fake.complete(HELLO)).content == "first answer"
    assert seen == [ONE]


async def test_the_claude_backend_name_selects_the_anthropic_wire_format() -> None:
    assert wire_for("claude") is wire_for("anthropic")
    fake = FakeLLM([ONE], wire="claude")
    assert (await fake.complete(HELLO)).content == "first answer"
    assert fake.transport.wire.name == "anthropic"
    assert "max_tokens" in fake.requests[0]  # Anthropic requires it on every request


def test_an_unknown_wire_format_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="openai"):
        FakeLLM(wire="no-such-wire")


async def test_a_script_served_over_loopback_http_to_the_real_hf_backend() -> None:
    async with ScriptedServer() as server:
        server.handle("/v1/chat/completions", script_handler([ONE]))
        llm = HuggingFaceLLM(
            settings=HuggingFaceSettings(api_key="hf_test_token", base_url=f"{server.url}/v1", max_retries=0)
        )
        events = [event async for event in llm.stream(HELLO)]
        with pytest.raises(InvalidRequestError, match="exhausted"):
            await llm.complete(HELLO)
        await llm.aclose()
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "first answer"
    assert server.requests[1].json()["stream"] is False


async def test_the_transport_records_calls() -> None:
    transport = ScriptedTransport([ONE])
    fake = FakeLLM(transport=transport)
    await fake.complete(HELLO)
    assert transport.calls[0].path == "/v1/chat/completions"
    assert transport.remaining == 0
