"""The OpenAI backend over HTTP: its request differences, error bodies, streams, models and settings.

The adapter runs for real over ``httpx.MockTransport``: the shared OpenAI-compatible client,
the engine and the SSE decoder all take part.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import anyio
import attrs
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.llm.openai import OpenAILLM, OpenAISettings
from adapters.llm.openai import llm as openai_llm
from adapters.llm.openai_compatible import wire
from domain.errors import (
    AuthenticationError,
    ConfigError,
    ContextLengthExceededError,
    InvalidRequestError,
    PermissionDeniedError,
    RateLimitError,
)
from domain.events import ResponseCompleted, StreamEvent, TextDelta
from domain.messages import AIResponse, ChatMessage, FinishReason, ToolCall, ToolDefinition, Usage
from domain.model_config import NormalizedModelConfig

KEY = "sk-proj-test-key-do-not-leak-1234"
SETTINGS = OpenAISettings(api_key=KEY, organization="org-acme")
HELLO = [ChatMessage.system("Be brief."), ChatMessage.user("Hello")]
WEATHER = ToolDefinition(
    name="get_weather", parameters={"type": "object", "properties": {"city": {"type": "string"}}}
)
REPLY = AIResponse(
    content="Hi there — 你好!",
    finish_reason=FinishReason.STOP,
    usage=Usage(prompt_tokens=9, completion_tokens=5, total_tokens=14),
    model="gpt-4o-2024-08-06",
    metadata={"response_id": "chatcmpl-1"},
)

Reply = httpx.Response | Callable[[httpx.Request], httpx.Response]


class Recorder:
    """A MockTransport handler serving scripted replies in order, recording every request."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        reply = self.replies.pop(0)
        return reply(request) if callable(reply) else reply

    def bodies(self) -> list[Any]:
        return [json.loads(request.content) for request in self.requests]


async def no_sleep(delay: float) -> None:
    return None


def make(recorder: Recorder, config: NormalizedModelConfig | None = None, **settings: Any) -> OpenAILLM:
    return OpenAILLM(
        settings=attrs.evolve(SETTINGS, **settings),
        config=config or NormalizedModelConfig(model="gpt-4o", max_tokens=500, temperature=0.2, timeout=30),
        transport=httpx.MockTransport(recorder),
        sleep=no_sleep,
    )


class Chunks(httpx.AsyncByteStream):
    """A response body delivered in the given pieces, one per read."""

    def __init__(self, chunks: Sequence[bytes]) -> None:
        self.chunks = list(chunks)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk


def sse_reply(raw: bytes, chunks: Sequence[bytes] | None = None, **headers: str) -> httpx.Response:
    return httpx.Response(
        200, headers={"content-type": "text/event-stream", **headers}, stream=Chunks(chunks or [raw])
    )


def openai_error(
    status: int, message: str, code: str | None, kind: str = "invalid_request_error"
) -> httpx.Response:
    return httpx.Response(
        status, json={"error": {"message": message, "type": kind, "param": None, "code": code}}
    )


async def collect(
    llm: OpenAILLM, messages: Sequence[ChatMessage] = HELLO, **kwargs: Any
) -> list[StreamEvent]:
    return [event async for event in llm.stream(messages, **kwargs)]


def final(events: Sequence[StreamEvent]) -> AIResponse:
    last = events[-1]
    assert isinstance(last, ResponseCompleted)
    return last.response


# --- what is sent ----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_gpt_4o_gets_max_completion_tokens_and_openai_headers() -> None:
    recorder = Recorder(
        httpx.Response(200, json=wire.render_completion(REPLY), headers={"x-request-id": "req_1"})
    )
    reply = await make(recorder).complete(HELLO)
    request = recorder.requests[0]
    assert str(request.url) == "https://api.openai.com/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["openai-organization"] == "org-acme"
    body = recorder.bodies()[0]
    assert body["max_completion_tokens"] == 500
    assert "max_tokens" not in body
    assert body["temperature"] == 0.2
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert reply.content == REPLY.content
    assert reply.metadata["request_id"] == "req_1"


@pytest.mark.anyio
async def test_older_models_keep_max_tokens() -> None:
    recorder = Recorder(httpx.Response(200, json=wire.render_completion(REPLY)))
    await make(recorder, NormalizedModelConfig(model="gpt-4", max_tokens=300)).complete(HELLO)
    body = recorder.bodies()[0]
    assert body["max_tokens"] == 300
    assert "max_completion_tokens" not in body


@pytest.mark.anyio
async def test_reasoning_models_get_no_sampling_options_but_their_effort(
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = NormalizedModelConfig(
        model="o3-mini",
        max_tokens=2000,
        temperature=0.7,
        top_p=0.9,
        presence_penalty=0.0,
        reasoning_effort="high",
    )
    recorder = Recorder(httpx.Response(200, json=wire.render_completion(REPLY)))
    with caplog.at_level(logging.WARNING, logger="adapters.llm.openai.llm"):
        await make(recorder, config).complete(HELLO)
    body = recorder.bodies()[0]
    assert body["reasoning_effort"] == "high"
    assert body["max_completion_tokens"] == 2000
    for refused in ("temperature", "top_p", "presence_penalty", "max_tokens", "stop"):
        assert refused not in body
    warned = " ".join(record.getMessage() for record in caplog.records)
    assert "temperature" in warned
    assert "top_p" in warned


@pytest.mark.anyio
async def test_reasoning_effort_is_not_sent_to_a_model_that_does_not_reason() -> None:
    config = NormalizedModelConfig(model="gpt-4o-mini", reasoning_effort="low", temperature=0.5)
    recorder = Recorder(httpx.Response(200, json=wire.render_completion(REPLY)))
    await make(recorder, config).complete(HELLO)
    body = recorder.bodies()[0]
    assert "reasoning_effort" not in body
    assert body["temperature"] == 0.5


@pytest.mark.parametrize(
    ("model", "reasoning", "completion_tokens"),
    [
        ("o1", True, True),
        ("o4-mini", True, True),
        ("gpt-5-mini", True, True),
        ("gpt-5-chat-latest", False, True),
        ("gpt-4.1-nano", False, True),
        ("gpt-4o-2024-08-06", False, True),
        ("openai/gpt-4o", False, True),
        ("gpt-4-turbo", False, False),
        ("gpt-3.5-turbo", False, False),
    ],
)
def test_model_families(model: str, reasoning: bool, completion_tokens: bool) -> None:
    assert openai_llm.is_reasoning_model(model) is reasoning
    assert openai_llm.uses_max_completion_tokens(model) is completion_tokens


@given(
    st.builds(
        NormalizedModelConfig,
        model=st.sampled_from(["o1", "o3-mini", "gpt-5", "gpt-4o", "gpt-4"]),
        temperature=st.none() | st.floats(0, 2),
        top_p=st.none() | st.floats(0, 1),
        frequency_penalty=st.none() | st.floats(-2, 2),
        reasoning_effort=st.none() | st.sampled_from(["low", "high"]),
        stop=st.lists(st.text(min_size=1, max_size=3), max_size=2),
    )
)
def test_adjusting_a_config_is_idempotent(config: NormalizedModelConfig) -> None:
    adjusted = openai_llm.adjust_config(config)
    assert openai_llm.adjust_config(adjusted) == adjusted
    if openai_llm.is_reasoning_model(config.model):
        assert adjusted.temperature is None
        assert adjusted.top_p is None
        assert adjusted.stop == ()
    else:
        assert adjusted.reasoning_effort is None


# --- streams ---------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_stream_yields_text_and_the_whole_reply_with_usage() -> None:
    raw = wire.render_stream_bytes(REPLY, chunk_size=3)
    recorder = Recorder(sse_reply(raw, **{"x-request-id": "req_9"}))
    events = await collect(make(recorder))
    assert recorder.bodies()[0]["stream_options"] == {"include_usage": True}
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == REPLY.content
    whole = final(events)
    assert whole.usage == REPLY.usage
    assert whole.metadata["request_id"] == "req_9"


TOOL_REPLY = AIResponse(
    tool_calls=(
        ToolCall(id="call_A", name="get_weather", arguments={"city": "São Paulo"}),
        ToolCall(id="call_B", name="get_weather", arguments={"city": "Oslo"}),
    ),
    finish_reason=FinishReason.TOOL_CALLS,
    usage=Usage(prompt_tokens=20, completion_tokens=12, total_tokens=32),
    model="gpt-4o",
)


def _stream_once(raw: bytes, chunks: list[bytes]) -> AIResponse:
    async def run() -> AIResponse:
        llm = make(Recorder(sse_reply(raw, chunks)))
        try:
            return final(await collect(llm, tools=[WEATHER]))
        finally:
            await llm.aclose()

    return anyio.run(run)


@given(st.sampled_from(["\n", "\r\n", "\r"]), st.data())
def test_any_split_of_an_openai_stream_gives_the_same_reply(newline: str, data: st.DataObject) -> None:
    raw = wire.render_stream_bytes(TOOL_REPLY, chunk_size=4, newline=newline)
    cuts = sorted(data.draw(st.sets(st.integers(1, len(raw) - 1), max_size=30)))
    chunks = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
    reply = _stream_once(raw, chunks)
    assert reply.tool_calls == TOOL_REPLY.tool_calls
    assert reply.usage == TOOL_REPLY.usage


def test_an_openai_stream_split_at_every_byte_gives_the_same_reply() -> None:
    raw = wire.render_stream_bytes(TOOL_REPLY, chunk_size=4)
    reply = _stream_once(raw, [raw[i : i + 1] for i in range(len(raw))])
    assert reply.tool_calls == TOOL_REPLY.tool_calls
    assert reply.finish_reason is FinishReason.TOOL_CALLS


@pytest.mark.anyio
async def test_tool_call_ids_round_trip_through_two_tool_turns() -> None:
    second = AIResponse(
        tool_calls=(ToolCall(id="call_C", name="get_weather", arguments={"city": "Rome"}),),
        finish_reason=FinishReason.TOOL_CALLS,
    )
    done = AIResponse(content="Sunny.", finish_reason=FinishReason.STOP)
    recorder = Recorder(*(sse_reply(wire.render_stream_bytes(r)) for r in (TOOL_REPLY, second, done)))
    llm = make(recorder)
    history = list(HELLO)
    for _ in range(3):
        reply = final(await collect(llm, history, tools=[WEATHER]))
        history.append(reply.to_message())
        history += [ChatMessage.tool(call, f"sunny in {call.arguments['city']}") for call in reply.tool_calls]
    sent = recorder.bodies()[-1]["messages"]
    asked = [call["id"] for m in sent if m["role"] == "assistant" for call in m.get("tool_calls") or []]
    answered = [m["tool_call_id"] for m in sent if m["role"] == "tool"]
    assert asked == answered == ["call_A", "call_B", "call_C"]


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_context_length_exceeded_is_its_own_error() -> None:
    reply = openai_error(
        400, "This model's maximum context length is 128000 tokens.", "context_length_exceeded"
    )
    with pytest.raises(ContextLengthExceededError, match="Shorten the conversation") as caught:
        await make(Recorder(reply)).complete(HELLO)
    assert caught.value.status == 400
    assert "maximum context length is 128000" in caught.value.message


@pytest.mark.anyio
async def test_an_invalid_request_says_where_to_look() -> None:
    reply = openai_error(400, "Unsupported parameter: 'max_tokens'.", "unsupported_parameter")
    with pytest.raises(InvalidRequestError, match="which parameter to change") as caught:
        await make(Recorder(reply)).complete(HELLO)
    assert not isinstance(caught.value, ContextLengthExceededError)


@pytest.mark.anyio
async def test_insufficient_quota_is_a_permission_error_and_is_not_retried() -> None:
    reply = openai_error(429, "You exceeded your current quota.", "insufficient_quota", "insufficient_quota")
    recorder = Recorder(reply, reply, reply)
    with pytest.raises(PermissionDeniedError, match="billing") as caught:
        await make(recorder).complete(HELLO)
    assert caught.value.status == 429
    assert len(recorder.requests) == 1


@pytest.mark.anyio
async def test_a_rate_limit_is_retried_honouring_retry_after() -> None:
    limited = openai_error(429, "Rate limit reached", "rate_limit_exceeded", "requests")
    limited.headers["retry-after"] = "2"
    recorder = Recorder(limited, httpx.Response(200, json=wire.render_completion(REPLY)))
    reply = await make(recorder).complete(HELLO)
    assert reply.content == REPLY.content
    assert len(recorder.requests) == 2


@pytest.mark.anyio
async def test_rate_limit_errors_keep_their_type_when_retries_run_out() -> None:
    limited = openai_error(429, "Rate limit reached", "rate_limit_exceeded", "requests")
    with pytest.raises(RateLimitError):
        await make(Recorder(limited), max_retries=0).complete(HELLO)


@pytest.mark.anyio
async def test_a_bad_key_says_which_variable_to_fix_without_echoing_it() -> None:
    reply = openai_error(401, f"Incorrect API key provided: {KEY}.", "invalid_api_key")
    with pytest.raises(AuthenticationError, match="OPENAI_API_KEY") as caught:
        await make(Recorder(reply)).complete(HELLO)
    assert KEY not in str(caught.value)


# --- models and settings -----------------------------------------------------------------------


@pytest.mark.anyio
async def test_list_models_keeps_chat_models_with_known_context_windows() -> None:
    payload = {
        "object": "list",
        "data": [
            {"id": "gpt-4o", "object": "model", "created": 1715367049, "owned_by": "system"},
            {"id": "text-embedding-3-small", "object": "model", "created": 1705948997, "owned_by": "system"},
            {"id": "o3-mini", "object": "model", "created": 1737146383, "owned_by": "system"},
            {"id": "whisper-1", "object": "model", "created": 1677532384, "owned_by": "openai-internal"},
        ],
    }
    models = await make(Recorder(httpx.Response(200, json=payload))).list_models()
    assert [m.name for m in models] == ["gpt-4o", "o3-mini"]
    assert models[0].context_length == 128_000
    assert models[1].context_length == 200_000
    assert "reasoning" in models[1].capabilities


@pytest.mark.anyio
async def test_list_models_falls_back_to_the_known_models() -> None:
    down = httpx.Response(503, text="down")
    models = await make(Recorder(down, down, down)).list_models()
    assert models == openai_llm.FALLBACK_MODELS
    assert {m.name: m.context_length for m in models}["gpt-4"] == 8192


def test_from_settings_builds_the_same_adapter() -> None:
    llm = OpenAILLM.from_settings(SETTINGS, config=NormalizedModelConfig(model="o3"))
    assert (llm.name, llm.config.model, llm.settings) == ("openai", "o3", SETTINGS)
    assert llm.context_limit() == 200_000


def test_context_limit_comes_from_the_model_table() -> None:
    llm = make(Recorder())
    assert llm.name == "openai"
    assert llm.context_limit() == 128_000
    assert llm.with_config(NormalizedModelConfig(model="gpt-3.5-turbo")).context_limit() == 16_385


def test_settings_from_env() -> None:
    settings = OpenAISettings.from_env({"OPENAI_API_KEY": KEY})
    assert (settings.base_url, settings.model, settings.timeout, settings.organization) == (
        "https://api.openai.com/v1",
        "gpt-4o",
        120.0,
        None,
    )
    custom = OpenAISettings.from_env(
        {
            "OPENAI_API_KEY": KEY,
            "OPENAI_MODEL": "o3-mini",
            "OPENAI_TIMEOUT": "45",
            "OPENAI_ORGANIZATION": "org-1",
            "OPENAI_REASONING_EFFORT": "low",
        }
    )
    assert custom.backend_settings() == {"model": "o3-mini", "timeout": 45.0, "reasoning_effort": "low"}
    assert KEY not in repr(custom)
    assert KEY not in repr(make(Recorder()))


@pytest.mark.parametrize(
    ("settings", "variable"),
    [
        (OpenAISettings(), "OPENAI_API_KEY"),
        (OpenAISettings(api_key=KEY, base_url="http://example.com/v1"), "https"),
        (OpenAISettings(api_key=KEY, base_url="ftp://example.com"), "OPENAI_BASE_URL"),
        (OpenAISettings(api_key=KEY, timeout=0), "OPENAI_TIMEOUT"),
        (OpenAISettings(api_key=KEY, reasoning_effort="max"), "OPENAI_REASONING_EFFORT"),
    ],
)
def test_invalid_settings_are_refused_before_any_request(settings: OpenAISettings, variable: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        OpenAILLM(settings=settings)


def test_a_local_server_needs_no_key_and_a_bad_number_is_a_config_error() -> None:
    OpenAILLM(settings=OpenAISettings(base_url="http://127.0.0.1:8000/v1"))
    with pytest.raises(ConfigError, match="OPENAI_TIMEOUT"):
        OpenAISettings.from_env({"OPENAI_TIMEOUT": "soon"})
