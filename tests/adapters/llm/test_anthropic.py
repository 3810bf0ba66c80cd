"""The Claude backend end to end over HTTP: headers, retries, errors, streams, models, settings.

HTTP goes through ``httpx.MockTransport`` (the real adapter, the real engine, canned bytes) or,
where a real socket matters, through the loopback `ScriptedServer`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import anyio
import attrs
import httpx
import pytest

from adapters.llm._http import Clocks
from adapters.llm._sse import ServerSentEvent, render_sse
from adapters.llm.anthropic import AnthropicLLM, AnthropicSettings, wire
from adapters.llm.fake import FakeLLM, MidStreamError
from adapters.llm.testing.scripted_server import ScriptedResponse, ScriptedServer
from domain.errors import (
    AuthenticationError,
    ConfigError,
    ContextLengthExceededError,
    LLMError,
    LLMTimeoutError,
    ModelNotFoundError,
    OverloadedError,
    ProviderError,
    RateLimitError,
    StreamError,
    TruncatedStreamError,
)
from domain.events import ResponseCompleted, StreamEvent, TextDelta, ThinkingDelta, ToolCallStarted
from domain.messages import (
    AIResponse,
    ChatMessage,
    FinishReason,
    ImageInput,
    ThinkingBlock,
    ToolCall,
    ToolDefinition,
    Usage,
)
from domain.model_config import NormalizedModelConfig

KEY = "sk-ant-api03-test-key-do-not-leak"
SETTINGS = AnthropicSettings(api_key=KEY)
CONFIG = NormalizedModelConfig(model="claude-sonnet-4-5", max_tokens=1000, timeout=30)
HELLO = [ChatMessage.system("Be brief."), ChatMessage.user("Hello")]
WEATHER = ToolDefinition(
    name="get_weather", parameters={"type": "object", "properties": {"city": {"type": "string"}}}
)

REPLY = AIResponse(
    content="Bonjour — ça va ?",
    finish_reason=FinishReason.STOP,
    usage=Usage(prompt_tokens=12, completion_tokens=7, total_tokens=19),
    model="claude-sonnet-4-5-20250929",
    metadata={"response_id": "msg_1", "stop_reason": "end_turn"},
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


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def sse(payloads: Sequence[dict[str, Any]]) -> bytes:
    return render_sse(ServerSentEvent(event=p["type"], data=json.dumps(p)) for p in payloads)


def stream_reply(payloads: Sequence[dict[str, Any]], **headers: str) -> httpx.Response:
    return httpx.Response(
        200, headers={"content-type": "text/event-stream", **headers}, content=sse(payloads)
    )


def error_reply(status: int, kind: str, message: str, **headers: str) -> httpx.Response:
    return httpx.Response(status, headers=headers, json=wire.render_error(kind, message))


def make(
    recorder: Recorder, *, sleeps: Sleeps | None = None, settings: AnthropicSettings = SETTINGS
) -> AnthropicLLM:
    return AnthropicLLM(
        settings=settings, config=CONFIG, transport=httpx.MockTransport(recorder), sleep=sleeps or Sleeps()
    )


async def collect(
    llm: AnthropicLLM, messages: Sequence[ChatMessage] = HELLO, **kwargs: Any
) -> list[StreamEvent]:
    return [event async for event in llm.stream(messages, **kwargs)]


def final(events: Sequence[StreamEvent]) -> AIResponse:
    last = events[-1]
    assert isinstance(last, ResponseCompleted)
    return last.response


# --- requests and replies -----------------------------------------------------------------


@pytest.mark.anyio
async def test_complete_posts_to_messages_with_anthropic_headers() -> None:
    recorder = Recorder(
        httpx.Response(200, headers={"request-id": "req_42"}, json=wire.render_completion(REPLY))
    )
    llm = make(recorder)
    reply = await llm.complete(HELLO)
    await llm.aclose()
    request = recorder.requests[0]
    assert request.method == "POST"
    assert str(request.url) == "https://api.anthropic.com/v1/messages"
    assert request.headers["x-api-key"] == KEY
    assert request.headers["anthropic-version"] == "2023-06-01"
    body = recorder.bodies()[0]
    assert body["system"] == "Be brief."
    assert body["max_tokens"] == 1000
    assert "stream" not in body
    assert reply.content == REPLY.content
    assert reply.usage == REPLY.usage
    assert reply.metadata["request_id"] == "req_42"


@pytest.mark.anyio
async def test_stream_yields_deltas_and_ends_with_the_whole_reply() -> None:
    recorder = Recorder(stream_reply(wire.render_stream(REPLY, fragment=3), **{"request-id": "req_7"}))
    events = await collect(make(recorder))
    assert recorder.bodies()[0]["stream"] is True
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == REPLY.content
    assert sum(isinstance(e, ResponseCompleted) for e in events) == 1
    whole = final(events)
    assert whole.content == REPLY.content
    assert whole.usage == REPLY.usage
    assert whole.metadata["request_id"] == "req_7"


@pytest.mark.anyio
async def test_a_per_call_config_wins_over_the_bound_one() -> None:
    recorder = Recorder(httpx.Response(200, json=wire.render_completion(REPLY)))
    llm = make(recorder)
    await llm.complete(HELLO, config=NormalizedModelConfig(model="claude-haiku-4-5", temperature=1.5))
    body = recorder.bodies()[0]
    assert body["model"] == "claude-haiku-4-5"
    assert body["temperature"] == 1.0
    assert body["max_tokens"] == wire.DEFAULT_MAX_TOKENS


@pytest.mark.anyio
async def test_tool_ids_and_thinking_signatures_round_trip_through_two_tool_turns() -> None:
    turn_one = AIResponse(
        thinking_blocks=(ThinkingBlock(text="Paris first.", signature="sig-A"),),
        thinking="Paris first.",
        tool_calls=(ToolCall(id="toolu_A", name="get_weather", arguments={"city": "Paris"}),),
        finish_reason=FinishReason.TOOL_CALLS,
    )
    turn_two = AIResponse(
        thinking_blocks=(ThinkingBlock(text="Now both.", signature="sig-B"),),
        thinking="Now both.",
        tool_calls=(
            ToolCall(id="toolu_B", name="get_weather", arguments={"city": "Oslo"}),
            ToolCall(id="toolu_C", name="get_weather", arguments={"city": "Rome"}),
        ),
        finish_reason=FinishReason.TOOL_CALLS,
    )
    done = AIResponse(content="Sunny everywhere.")
    recorder = Recorder(*(stream_reply(wire.render_stream(r)) for r in (turn_one, turn_two, done)))
    llm = make(recorder)
    config = NormalizedModelConfig(model="claude-sonnet-4-5", thinking_budget=2048, max_tokens=8000)
    history = list(HELLO)
    for _ in range(3):
        events = await collect(llm, history, tools=[WEATHER], config=config)
        reply = final(events)
        history.append(reply.to_message())
        history += [ChatMessage.tool(call, f"sunny in {call.arguments['city']}") for call in reply.tool_calls]
    assert history[-1].content == "Sunny everywhere."
    last = recorder.bodies()[-1]
    assert last["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assistants = [m["content"] for m in last["messages"] if m["role"] == "assistant"]
    assert assistants[0][0] == {"type": "thinking", "thinking": "Paris first.", "signature": "sig-A"}
    assert assistants[1][0] == {"type": "thinking", "thinking": "Now both.", "signature": "sig-B"}
    used = [b["id"] for content in assistants for b in content if b["type"] == "tool_use"]
    answered = [
        b["tool_use_id"]
        for m in last["messages"]
        if m["role"] == "user" and isinstance(m["content"], list)
        for b in m["content"]
        if b["type"] == "tool_result"
    ]
    assert used == answered == ["toolu_A", "toolu_B", "toolu_C"]


# --- retries --------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_529_is_retried_then_succeeds() -> None:
    recorder = Recorder(
        error_reply(529, "overloaded_error", "Overloaded"),
        httpx.Response(200, json=wire.render_completion(REPLY)),
    )
    sleeps = Sleeps()
    reply = await make(recorder, sleeps=sleeps).complete(HELLO)
    assert reply.content == REPLY.content
    assert len(recorder.requests) == 2
    assert len(sleeps.delays) == 1


@pytest.mark.anyio
async def test_an_overloaded_event_before_any_delta_is_retried() -> None:
    overloaded = [
        wire.render_stream(REPLY)[0],
        {"type": "ping"},
        wire.render_error("overloaded_error", "Overloaded"),
    ]
    recorder = Recorder(stream_reply(overloaded), stream_reply(wire.render_stream(REPLY)))
    events = await collect(make(recorder))
    assert len(recorder.requests) == 2
    assert final(events).content == REPLY.content
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == REPLY.content  # never doubled


@pytest.mark.anyio
async def test_an_overloaded_event_after_a_delta_raises_with_the_partial_and_is_not_retried() -> None:
    payloads = wire.render_stream(REPLY, fragment=4)
    cut = next(i for i, p in enumerate(payloads) if p["type"] == "content_block_delta") + 1
    recorder = Recorder(stream_reply([*payloads[:cut], wire.render_error("overloaded_error", "Overloaded")]))
    seen: list[StreamEvent] = []

    async def drain() -> None:
        async for event in make(recorder).stream(HELLO):
            seen.append(event)

    with pytest.raises(OverloadedError) as caught:
        await drain()
    assert len(recorder.requests) == 1
    assert seen == [TextDelta(text=REPLY.content[:4])]
    assert caught.value.partial is not None
    assert caught.value.partial.content == REPLY.content[:4]


@pytest.mark.anyio
async def test_a_stream_without_message_stop_is_truncated() -> None:
    recorder = Recorder(stream_reply(wire.render_stream(REPLY)[:-1]))
    with pytest.raises(TruncatedStreamError) as caught:
        await collect(make(recorder))
    assert caught.value.partial is not None
    assert caught.value.partial.content == REPLY.content


@pytest.mark.anyio
async def test_event_data_that_is_not_json_is_a_stream_error() -> None:
    body = b"event: message_start\ndata: {not json\n\n"
    recorder = Recorder(httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body))
    with pytest.raises(StreamError):
        await collect(make(recorder))


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("reply", "cls"),
    [
        (error_reply(401, "authentication_error", "invalid x-api-key"), AuthenticationError),
        (error_reply(404, "not_found_error", "model: claude-nope"), ModelNotFoundError),
        (
            error_reply(400, "invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum"),
            ContextLengthExceededError,
        ),
        (httpx.Response(502, text="<html>Bad Gateway</html>"), ProviderError),
    ],
)
async def test_error_replies_map_onto_the_error_tree(reply: httpx.Response, cls: type[LLMError]) -> None:
    llm = make(Recorder(reply, reply, reply), settings=AnthropicSettings(api_key=KEY, max_retries=0))
    with pytest.raises(cls) as caught:
        await llm.complete(HELLO)
    assert caught.value.backend == "claude"
    assert KEY not in str(caught.value)


@pytest.mark.anyio
async def test_an_authentication_error_says_which_variable_to_fix() -> None:
    llm = make(Recorder(error_reply(401, "authentication_error", "invalid x-api-key")))
    with pytest.raises(AuthenticationError, match="ANTHROPIC_API_KEY"):
        await llm.complete(HELLO)


@pytest.mark.anyio
async def test_a_rate_limit_carries_retry_after_when_retries_are_exhausted() -> None:
    reply = error_reply(
        429, "rate_limit_error", "Number of request tokens has exceeded your limit", **{"retry-after": "7"}
    )
    sleeps = Sleeps()
    llm = make(Recorder(reply, reply, reply), sleeps=sleeps)
    with pytest.raises(RateLimitError) as caught:
        await llm.complete(HELLO)
    assert caught.value.retry_after == 7
    assert sleeps.delays == [7, 7]


# --- models, limits, settings ----------------------------------------------------------------


@pytest.mark.anyio
async def test_list_models_walks_every_page() -> None:
    first = wire.render_models(wire.FALLBACK_MODELS[:2]) | {"has_more": True}
    second = wire.render_models(wire.FALLBACK_MODELS[2:3])
    recorder = Recorder(httpx.Response(200, json=first), httpx.Response(200, json=second))
    models = await make(recorder).list_models()
    assert [m.name for m in models] == [m.name for m in wire.FALLBACK_MODELS[:3]]
    assert recorder.requests[1].url.params["after_id"] == wire.FALLBACK_MODELS[1].name
    assert all(m.context_length == 200_000 for m in models)


@pytest.mark.anyio
async def test_list_models_falls_back_to_the_known_models_when_the_call_fails() -> None:
    reply = httpx.Response(503, text="unavailable")
    models = await make(Recorder(reply, reply, reply)).list_models()
    assert models == wire.FALLBACK_MODELS


@pytest.mark.anyio
async def test_an_empty_model_list_falls_back_to_the_known_models() -> None:
    models = await make(Recorder(httpx.Response(200, json=wire.render_models([])))).list_models()
    assert models == wire.FALLBACK_MODELS


def test_from_settings_builds_the_same_adapter() -> None:
    llm = AnthropicLLM.from_settings(SETTINGS, config=CONFIG)
    assert (llm.name, llm.config, llm.settings) == ("claude", CONFIG, SETTINGS)


def test_limits_capabilities_and_token_estimate() -> None:
    llm = make(Recorder())
    assert llm.name == "claude"
    assert llm.context_limit() == 200_000
    assert llm.with_config(NormalizedModelConfig(model="x", context_length=9000)).context_limit() == 9000
    assert llm.count_tokens("abcdefghi") == 3
    capabilities = llm.capabilities()
    assert capabilities.vision
    assert capabilities.function_calling
    assert not capabilities.model_management


def test_settings_from_env_defaults_and_overrides() -> None:
    defaults = AnthropicSettings.from_env({"ANTHROPIC_API_KEY": KEY})
    assert (defaults.base_url, defaults.model, defaults.timeout) == (
        "https://api.anthropic.com/v1",
        "claude-sonnet-4-5",
        120.0,
    )
    custom = AnthropicSettings.from_env(
        {
            "ANTHROPIC_API_KEY": KEY,
            "ANTHROPIC_BASE_URL": "http://127.0.0.1:8080/v1/",
            "ANTHROPIC_MODEL": "claude-haiku-4-5",
            "ANTHROPIC_TIMEOUT": "30",
            "ANTHROPIC_THINKING_BUDGET": "2048",
        }
    )
    assert custom.base_url == "http://127.0.0.1:8080/v1"
    assert custom.backend_settings() == {
        "model": "claude-haiku-4-5",
        "timeout": 30.0,
        "thinking_budget": 2048,
    }


@pytest.mark.parametrize(
    "environ",
    [
        {"ANTHROPIC_TIMEOUT": "soon"},
        {"ANTHROPIC_TIMEOUT": "-1"},
        {"ANTHROPIC_THINKING_BUDGET": "100"},
        {"ANTHROPIC_MAX_RETRIES": "-2"},
    ],
)
def test_unusable_settings_are_config_errors_naming_the_variable(environ: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="ANTHROPIC_"):
        AnthropicSettings.from_env(environ)


def test_a_setting_that_is_not_a_number_says_what_it_should_be() -> None:
    with pytest.raises(ConfigError, match=r"ANTHROPIC_TIMEOUT must be a number of seconds, not 'soon'"):
        AnthropicSettings.from_env({"ANTHROPIC_TIMEOUT": "soon"})
    with pytest.raises(ConfigError, match=r"ANTHROPIC_MAX_RETRIES must be a whole number, not '1.5'"):
        AnthropicSettings.from_env({"ANTHROPIC_MAX_RETRIES": "1.5"})
    with pytest.raises(
        ConfigError, match=r"ANTHROPIC_THINKING_BUDGET must be a whole number of tokens, not 'lots'"
    ):
        AnthropicSettings.from_env({"ANTHROPIC_THINKING_BUDGET": "lots"})


@pytest.mark.parametrize("budget", ["100", "1023", "-5", "0"])
def test_a_thinking_budget_under_anthropics_minimum_is_refused_when_read(budget: str) -> None:
    with pytest.raises(ConfigError, match="ANTHROPIC_THINKING_BUDGET must be at least 1024 tokens"):
        AnthropicSettings.from_env({"ANTHROPIC_THINKING_BUDGET": budget})


@pytest.mark.parametrize("budget", ["inf", "nan", "2048.5"])
def test_a_thinking_budget_that_is_no_whole_number_is_refused_when_read(budget: str) -> None:
    with pytest.raises(ConfigError, match="ANTHROPIC_THINKING_BUDGET must be a whole number of tokens"):
        AnthropicSettings.from_env({"ANTHROPIC_THINKING_BUDGET": budget})


def test_settings_as_a_mapping_refuse_an_unknown_key_naming_it() -> None:
    with pytest.raises(ConfigError, match="unknown Anthropic settings thinking_bugdet; the known ones are"):
        AnthropicSettings.from_mapping({"thinking_bugdet": 2048})
    assert AnthropicSettings.from_mapping({"thinking_budget": 2048}).thinking_budget == 2048


def test_settings_built_directly_drop_a_trailing_slash_and_blanks_around_the_key() -> None:
    settings = AnthropicSettings(api_key=f" {KEY} ", base_url="http://localhost:9/v1/")
    assert (settings.api_key, settings.base_url) == (KEY, "http://localhost:9/v1")


def test_a_missing_key_says_where_to_create_one_even_on_this_machine() -> None:
    message = (
        "the claude backend needs an API key: set ANTHROPIC_API_KEY "
        "(create one at https://console.anthropic.com/settings/keys)"
    )
    for base_url in ("https://api.anthropic.com/v1", "http://localhost:9/v1"):
        with pytest.raises(ConfigError) as caught:
            AnthropicSettings(base_url=base_url).validate()
        assert str(caught.value) == message


def test_the_adapter_refuses_to_start_without_a_key_or_over_plain_http() -> None:
    with pytest.raises(ConfigError, match="ANTHROPIC_API_KEY"):
        AnthropicLLM(settings=AnthropicSettings.from_env({}))
    with pytest.raises(ConfigError, match="https"):
        AnthropicLLM(settings=AnthropicSettings(api_key=KEY, base_url="http://example.com/v1"))
    with pytest.raises(ConfigError, match="ANTHROPIC_BASE_URL"):
        AnthropicLLM(
            settings=AnthropicSettings.from_env({"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": "api.x"})
        )
    AnthropicLLM(settings=AnthropicSettings(api_key=KEY, base_url="http://localhost:9/v1"))


def test_the_key_never_shows_in_a_repr() -> None:
    llm = make(Recorder())
    assert KEY not in repr(SETTINGS)
    assert KEY not in repr(llm)
    assert KEY not in repr(llm.settings)
    assert KEY not in repr(vars(llm))
    assert KEY not in repr(vars(llm.with_config(CONFIG)))


@pytest.mark.anyio
async def test_the_idle_clock_can_be_set_and_a_silent_stream_times_out() -> None:
    async with ScriptedServer() as server:
        first = sse(wire.render_stream(AIResponse(content="hi"))[:1])
        server.enqueue("/v1/messages", ScriptedResponse(chunks=[first, first], stall_after=1))
        llm = AnthropicLLM(
            settings=AnthropicSettings(api_key=KEY, base_url=server.url + "/v1", max_retries=0),
            config=CONFIG,
            clocks=Clocks(connect=5, idle=0.2, total=None),
        )
        with pytest.raises(LLMTimeoutError) as caught:
            await collect(llm)
        await llm.aclose()
    assert caught.value.kind == "idle"


@pytest.mark.anyio
async def test_a_json_message_answering_a_streamed_request_reads_like_the_stream() -> None:
    reply = AIResponse(
        content="Bonjour",
        thinking="hmm",
        thinking_blocks=(ThinkingBlock(text="hmm", signature="sig-9"),),
        tool_calls=(ToolCall(id="toolu_7", name="get_weather", arguments={"city": "Zürich"}),),
        finish_reason=FinishReason.TOOL_CALLS,
        usage=Usage(prompt_tokens=12, completion_tokens=7, total_tokens=19),
        model="claude-sonnet-4-5",
        metadata={"response_id": "msg_9", "stop_reason": "tool_use", "cache_read_input_tokens": 4},
    )
    recorder = Recorder(
        httpx.Response(200, json=wire.render_completion(reply), headers={"request-id": "req_9"})
    )
    events = await collect(make(recorder), tools=[WEATHER])
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Bonjour"]
    assert [e.text for e in events if isinstance(e, ThinkingDelta)] == ["hmm"]
    assert [(e.id, e.name) for e in events if isinstance(e, ToolCallStarted)] == [("toolu_7", "get_weather")]
    assert final(events) == attrs.evolve(reply, metadata={**reply.metadata, "request_id": "req_9"})


@pytest.mark.anyio
async def test_a_json_error_under_200_answering_a_stream_is_typed_and_retried() -> None:
    overloaded = httpx.Response(200, json=wire.render_error("overloaded_error", "Overloaded"))
    recorder = Recorder(overloaded, stream_reply(wire.render_stream(REPLY)))
    sleeps = Sleeps()
    events = await collect(make(recorder, sleeps=sleeps))
    assert final(events).content == REPLY.content
    assert len(recorder.requests) == 2
    assert len(sleeps.delays) == 1
    with pytest.raises(StreamError, match="not a message"):
        await collect(make(Recorder(httpx.Response(200, json={"hello": "world"}))))


# --- images ------------------------------------------------------------------------------------

PNG_1X1 = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


@pytest.mark.anyio
async def test_a_local_image_goes_out_as_base64_and_a_url_as_a_url_source(tmp_path: Path) -> None:
    (tmp_path / "dot.png").write_bytes(PNG_1X1)
    recorder = Recorder(httpx.Response(200, json=wire.render_completion(REPLY)))
    message = ChatMessage.user(
        "What is this?",
        images=(ImageInput(path=str(tmp_path / "dot.png")), ImageInput(url="https://example.com/cat.jpg")),
    )
    await make(recorder).complete([message])
    blocks = recorder.bodies()[0]["messages"][0]["content"]
    assert blocks[0]["source"] == {
        "type": "base64",
        "media_type": "image/png",
        "data": base64.b64encode(PNG_1X1).decode("ascii"),
    }
    assert blocks[1]["source"] == {"type": "url", "url": "https://example.com/cat.jpg"}
    assert blocks[2] == {"type": "text", "text": "What is this?"}


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("image", "match"),
    [
        (ImageInput(data=b"BM" + bytes(60), media_type="image/bmp"), "JPEG, PNG, GIF or WebP"),
        (ImageInput(url="data:image/tiff;base64," + base64.b64encode(b"II*\x00").decode()), "image/tiff"),
        (ImageInput(data=PNG_1X1 + bytes(5 * 1024 * 1024)), "5.0 MiB"),
    ],
)
async def test_an_image_claude_would_refuse_is_a_clear_error_before_any_request(
    image: ImageInput, match: str
) -> None:
    recorder = Recorder()
    with pytest.raises(ConfigError, match=match):
        await collect(make(recorder), [ChatMessage.user("look", images=(image,))])
    assert recorder.requests == []


# --- a real socket ------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_closing_a_stream_early_closes_the_connection() -> None:
    payloads = wire.render_stream(AIResponse(content="x" * 400), fragment=10)
    chunks = [sse([p]) for p in payloads]
    async with ScriptedServer() as server:
        server.enqueue("/v1/messages", ScriptedResponse(chunks=chunks, delay=0.02))
        llm = AnthropicLLM(
            settings=AnthropicSettings(api_key=KEY, base_url=server.url + "/v1"), config=CONFIG
        )
        stream = llm.stream(HELLO)
        first = await anext(stream)
        assert first == TextDelta(text="x" * 10)
        await stream.aclose()  # type: ignore[attr-defined]
        await server.requests[0].disconnected.wait()
        await llm.aclose()
    assert server.requests[0].headers["x-api-key"] == KEY


@pytest.mark.anyio
async def test_a_tool_call_streams_over_a_real_socket() -> None:
    reply = AIResponse(
        tool_calls=(ToolCall(id="toolu_Z", name="get_weather", arguments={"city": "Zürich"}),),
        finish_reason=FinishReason.TOOL_CALLS,
    )
    raw = sse(wire.render_stream(reply, fragment=2))
    chunks = [raw[i : i + 5] for i in range(0, len(raw), 5)]
    async with ScriptedServer() as server:
        server.enqueue("/v1/messages", ScriptedResponse(chunks=chunks))
        llm = AnthropicLLM(
            settings=AnthropicSettings(api_key=KEY, base_url=server.url + "/v1"), config=CONFIG
        )
        events = await collect(llm, tools=[WEATHER])
        await llm.aclose()
    assert events[0] == ToolCallStarted(index=0, id="toolu_Z", name="get_weather")
    assert final(events).tool_calls == reply.tool_calls


# --- the fake backend speaking Anthropic's wire ----------------------------------------------------


@pytest.mark.anyio
async def test_the_fake_speaks_anthropic_through_the_real_adapter() -> None:
    thinking = AIResponse(
        thinking="Look it up.",
        thinking_blocks=(ThinkingBlock(text="Look it up.", signature="sig-fake"),),
        tool_calls=(ToolCall(id="toolu_F", name="get_weather", arguments={"city": "Lyon"}),),
        finish_reason=FinishReason.TOOL_CALLS,
    )
    fake = FakeLLM([thinking, AIResponse(content="Mild.")], wire="anthropic")
    events = [event async for event in fake.stream(HELLO, tools=[WEATHER])]
    assert any(isinstance(event, ThinkingDelta) for event in events)
    reply = final(events)
    assert reply.tool_calls == thinking.tool_calls
    history = [*HELLO, reply.to_message(), ChatMessage.tool(reply.tool_calls[0], "14°C")]
    answer = await fake.complete(history, tools=[WEATHER])
    await fake.aclose()
    assert answer.content == "Mild."
    sent = fake.requests[1]
    assert sent["system"] == "Be brief."
    assert sent["messages"][1]["content"][0] == {
        "type": "thinking",
        "thinking": "Look it up.",
        "signature": "sig-fake",
    }
    assert sent["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "toolu_F", "content": "14°C"}
    ]


@pytest.mark.anyio
async def test_the_fake_retries_an_overload_that_came_before_any_delta() -> None:
    fake = FakeLLM([MidStreamError(response=REPLY, after=1), REPLY], wire="anthropic")
    events = [event async for event in fake.stream(HELLO)]
    await fake.aclose()
    assert final(events).content == REPLY.content
    assert len(fake.requests) == 2
    assert len(fake.delays) == 1


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["complete", "stream"])
async def test_tool_names_anthropic_refuses_are_sent_sanitised_and_mapped_back(mode: str) -> None:
    dotted = ToolDefinition(name="fs.read", description="Read a file")
    wire_reply = AIResponse(
        tool_calls=(ToolCall(id="toolu_D", name="fs_read", arguments={"path": "a.txt"}),),
        finish_reason=FinishReason.TOOL_CALLS,
    )
    if mode == "complete":
        recorder = Recorder(httpx.Response(200, json=wire.render_completion(wire_reply)))
        reply = await make(recorder).complete(
            HELLO, tools=[dotted], config=attrs.evolve(CONFIG, tool_choice="fs.read")
        )
    else:
        recorder = Recorder(stream_reply(wire.render_stream(wire_reply)))
        events = await collect(
            make(recorder), tools=[dotted], config=attrs.evolve(CONFIG, tool_choice="fs.read")
        )
        assert ToolCallStarted(index=0, id="toolu_D", name="fs.read") in events
        reply = final(events)
    assert reply.tool_calls[0].name == "fs.read"
    body = recorder.bodies()[0]
    assert body["tools"][0]["name"] == "fs_read"
    assert body["tool_choice"] == {"type": "tool", "name": "fs_read"}
    follow_up = wire.build_request([*HELLO, reply.to_message()], CONFIG, tools=[dotted], stream=False)
    assert follow_up["messages"][1]["content"][0]["name"] == "fs_read"


@pytest.mark.anyio
async def test_the_reply_completes_at_message_stop_even_if_the_socket_stays_open() -> None:
    chunks = [sse([p]) for p in wire.render_stream(REPLY)]
    async with ScriptedServer() as server:
        server.enqueue("/v1/messages", ScriptedResponse(chunks=chunks, stall_after=len(chunks)))
        llm = AnthropicLLM(
            settings=AnthropicSettings(api_key=KEY, base_url=server.url + "/v1"),
            config=attrs.evolve(CONFIG, timeout=3),
        )
        with anyio.fail_after(2):
            events = await collect(llm)
        await llm.aclose()
    assert final(events).content == REPLY.content
