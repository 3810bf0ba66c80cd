"""The pure Anthropic wire: requests, replies, stream events and errors, by example and by property."""

from __future__ import annotations

import json
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.llm._sse import ServerSentEvent, SSEDecoder, render_sse
from adapters.llm.anthropic import stream as stream_module
from adapters.llm.anthropic import wire
from domain.errors import (
    AuthenticationError,
    ContextLengthExceededError,
    InvalidRequestError,
    ModelNotFoundError,
    OverloadedError,
    PermissionDeniedError,
    ProviderError,
    RateLimitError,
    StreamError,
    TruncatedStreamError,
)
from domain.events import ResponseCompleted, TextDelta, ThinkingDelta, ToolArgumentsDelta, ToolCallStarted
from domain.messages import (
    AIResponse,
    ChatMessage,
    FinishReason,
    ImageInput,
    Role,
    ThinkingBlock,
    ToolCall,
    ToolDefinition,
    Usage,
)
from domain.model_config import NormalizedModelConfig

CONFIG = NormalizedModelConfig(model="claude-sonnet-4-5")
WEATHER = ToolDefinition(
    name="get_weather",
    description="Weather for a city",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


# --- requests ---------------------------------------------------------------------------


def test_system_messages_fold_into_system_and_max_tokens_is_always_sent() -> None:
    messages = [
        ChatMessage.system("You are terse."),
        ChatMessage.user("Hi"),
        ChatMessage.system("Answer in French."),
    ]
    body = wire.build_request(messages, CONFIG, stream=True)
    assert body["system"] == "You are terse.\n\nAnswer in French."
    assert body["messages"] == [{"role": "user", "content": "Hi"}]
    assert body["max_tokens"] == wire.DEFAULT_MAX_TOKENS
    assert body["stream"] is True
    assert "tools" not in body


def test_sampling_options_map_to_anthropic_names() -> None:
    config = NormalizedModelConfig(
        model="claude-haiku-4-5", max_tokens=300, top_k=40, top_p=0.8, stop=["END"]
    )
    body = wire.build_request([ChatMessage.user("x")], config, stream=False)
    assert body["max_tokens"] == 300
    assert body["top_k"] == 40
    assert body["top_p"] == 0.8
    assert body["stop_sequences"] == ["END"]
    assert "stream" not in body
    assert "temperature" not in body


def test_tools_are_sent_as_name_description_input_schema() -> None:
    bare = ToolDefinition(name="now", parameters={"type": "object"})
    body = wire.build_request([ChatMessage.user("x")], CONFIG, tools=[WEATHER, bare], stream=False)
    assert body["tools"] == [
        {
            "name": "get_weather",
            "description": "Weather for a city",
            "input_schema": dict(WEATHER.parameters),
        },
        {"name": "now", "input_schema": {"type": "object", "properties": {}}},
    ]


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", {"type": "auto"}),
        ("none", {"type": "none"}),
        ("required", {"type": "any"}),
        ("get_weather", {"type": "tool", "name": "get_weather"}),
        ({"type": "function", "function": {"name": "get_weather"}}, {"type": "tool", "name": "get_weather"}),
        ({"type": "tool", "name": "get_weather"}, {"type": "tool", "name": "get_weather"}),
    ],
)
def test_tool_choice_accepts_openai_and_anthropic_shapes(choice: Any, expected: dict[str, Any]) -> None:
    config = attrs.evolve(CONFIG, tool_choice=choice)
    body = wire.build_request([ChatMessage.user("x")], config, tools=[WEATHER], stream=False)
    assert body["tool_choice"] == expected


def _two_call_turn() -> tuple[ChatMessage, ToolCall, ToolCall]:
    paris = ToolCall(id="toolu_01A", name="get_weather", arguments={"city": "Paris"})
    oslo = ToolCall(id="toolu_01B", name="get_weather", arguments={"city": "Oslo"})
    return ChatMessage.assistant("Let me check.", tool_calls=(paris, oslo)), paris, oslo


def test_one_turns_tool_results_go_back_together_in_one_user_message() -> None:
    assistant, paris, oslo = _two_call_turn()
    messages = [
        ChatMessage.user("Weather in Paris and Oslo?"),
        assistant,
        ChatMessage.tool(paris, "18°C"),
        ChatMessage.tool(oslo, "city service down", is_error=True),
        ChatMessage.user("And be brief."),
    ]
    body = wire.build_request(messages, CONFIG, tools=[WEATHER], stream=False)
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["messages"][1]["content"] == [
        {"type": "text", "text": "Let me check."},
        {"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "toolu_01B", "name": "get_weather", "input": {"city": "Oslo"}},
    ]
    assert body["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "toolu_01A", "content": "18°C"},
        {"type": "tool_result", "tool_use_id": "toolu_01B", "content": "city service down", "is_error": True},
        {"type": "text", "text": "And be brief."},
    ]


def test_invalid_tool_arguments_go_back_as_an_empty_input_object() -> None:
    broken = ToolCall(id="toolu_X", name="get_weather", raw_arguments="{city:", parse_error="invalid JSON")
    messages = [
        ChatMessage.user("x"),
        ChatMessage.assistant(tool_calls=(broken,)),
        ChatMessage.tool(broken, "bad"),
    ]
    body = wire.build_request(messages, CONFIG, stream=False)
    assert body["messages"][1]["content"] == [
        {"type": "tool_use", "id": "toolu_X", "name": "get_weather", "input": {}}
    ]


def test_thinking_blocks_go_back_first_with_signatures_and_unsigned_thinking_is_dropped() -> None:
    assistant = ChatMessage(
        role=Role.ASSISTANT,
        content="Checking.",
        thinking_blocks=(
            ThinkingBlock(text="I should call the tool.", signature="sig-1"),
            ThinkingBlock(redacted=True, data="opaque=="),
            ThinkingBlock(text="from a <think> tag elsewhere"),
        ),
        tool_calls=(ToolCall(id="toolu_1", name="get_weather", arguments={"city": "Rome"}),),
    )
    body = wire.build_request([ChatMessage.user("Rome?"), assistant], CONFIG, stream=False)
    assert body["messages"][1]["content"] == [
        {"type": "thinking", "thinking": "I should call the tool.", "signature": "sig-1"},
        {"type": "redacted_thinking", "data": "opaque=="},
        {"type": "text", "text": "Checking."},
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Rome"}},
    ]


def test_an_empty_assistant_turn_is_not_sent() -> None:
    messages = [ChatMessage.user("a"), ChatMessage.assistant(""), ChatMessage.user("b")]
    body = wire.build_request(messages, CONFIG, stream=False)
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}
    ]


def test_images_become_url_or_base64_source_blocks_before_the_text() -> None:
    images = (
        ImageInput(url="https://example.com/cat.png"),
        ImageInput(url="data:image/png;base64,iVBORw0KGgo="),
        ImageInput(data=b"\x89PNG", media_type="image/png"),
    )
    body = wire.build_request([ChatMessage.user("What is this?", images=images)], CONFIG, stream=False)
    assert body["messages"][0]["content"] == [
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw=="}},
        {"type": "text", "text": "What is this?"},
    ]


def test_images_that_are_not_urls_go_through_the_resolver() -> None:
    seen: list[ImageInput] = []

    def resolve(image: ImageInput) -> tuple[str, str]:
        seen.append(image)
        return "image/webp", "UklGRg=="

    images = (ImageInput(url="https://example.com/cat.png"), ImageInput(path="/tmp/dog.webp"))
    body = wire.build_request(
        [ChatMessage.user("", images=images)], CONFIG, stream=False, resolve_image=resolve
    )
    assert body["messages"][0]["content"] == [
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}},
        {"type": "image", "source": {"type": "base64", "media_type": "image/webp", "data": "UklGRg=="}},
    ]
    assert seen == [images[1]]


def test_an_image_path_without_a_resolver_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="resolve_image"):
        wire.build_request([ChatMessage.user("x", images=(ImageInput(path="a.png"),))], CONFIG, stream=False)


def test_temperature_above_one_is_clamped_with_a_warning() -> None:
    config = wire.adjust_config(attrs.evolve(CONFIG, temperature=1.7))
    assert config.temperature == 1.0
    assert any("temperature 1.7" in warning for warning in config.warnings)
    assert wire.build_request([ChatMessage.user("x")], config, stream=False)["temperature"] == 1.0


def test_temperature_and_top_p_are_not_sent_together() -> None:
    config = wire.adjust_config(attrs.evolve(CONFIG, temperature=0.5, top_p=0.9))
    body = wire.build_request([ChatMessage.user("x")], config, stream=False)
    assert body["temperature"] == 0.5
    assert "top_p" not in body
    assert any("top_p" in warning for warning in config.warnings)


def test_unsupported_options_are_dropped_with_a_warning_and_zero_penalties_silently() -> None:
    config = wire.adjust_config(attrs.evolve(CONFIG, frequency_penalty=0.0, presence_penalty=0.5, seed=7))
    assert config.presence_penalty is None
    assert config.seed is None
    assert len(config.warnings) == 2


def test_thinking_budget_enables_extended_thinking_and_drops_what_it_forbids() -> None:
    config = attrs.evolve(
        CONFIG, thinking_budget=500, max_tokens=800, temperature=0.3, top_k=5, tool_choice="required"
    )
    body = wire.build_request([ChatMessage.user("x")], config, tools=[WEATHER], stream=True)
    assert body["thinking"] == {"type": "enabled", "budget_tokens": wire.MIN_THINKING_BUDGET}
    assert body["max_tokens"] > wire.MIN_THINKING_BUDGET
    assert "temperature" not in body
    assert "top_k" not in body
    assert "tool_choice" not in body
    assert len(wire.adjust_config(config).warnings) == 5


_configs = st.builds(
    NormalizedModelConfig,
    model=st.just("claude-sonnet-4-5"),
    temperature=st.none() | st.floats(-1, 3),
    max_tokens=st.none() | st.integers(1, 20_000),
    top_p=st.none() | st.floats(0, 1),
    top_k=st.none() | st.integers(1, 100),
    presence_penalty=st.none() | st.floats(-2, 2),
    seed=st.none() | st.integers(0, 10),
    thinking_budget=st.none() | st.integers(0, 16_000),
    tool_choice=st.none() | st.sampled_from(["auto", "required", "get_weather"]),
)


@given(_configs)
def test_adjusting_a_config_is_idempotent_and_always_acceptable(config: NormalizedModelConfig) -> None:
    adjusted = wire.adjust_config(config)
    assert wire.adjust_config(adjusted) == adjusted
    body = wire.build_request([ChatMessage.user("x")], adjusted, tools=[WEATHER], stream=False)
    assert 0 <= body.get("temperature", 0) <= 1
    assert not ("temperature" in body and "top_p" in body)
    if "thinking" in body:
        assert wire.MIN_THINKING_BUDGET <= body["thinking"]["budget_tokens"] < body["max_tokens"]
        assert "temperature" not in body
        assert "top_k" not in body


# --- non-streaming replies --------------------------------------------------------------

MESSAGE = {
    "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5-20250929",
    "content": [
        {"type": "thinking", "thinking": "The user wants weather.", "signature": "EqQBCgIYAhIM"},
        {"type": "text", "text": "I'll look that up."},
        {"type": "tool_use", "id": "toolu_01T1x1", "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}},
    ],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 412,
        "output_tokens": 87,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 2048,
    },
}


def test_parse_completion_reads_text_thinking_tool_calls_and_usage() -> None:
    response = wire.parse_completion(MESSAGE)
    assert response.content == "I'll look that up."
    assert response.thinking == "The user wants weather."
    assert response.thinking_blocks == (
        ThinkingBlock(text="The user wants weather.", signature="EqQBCgIYAhIM"),
    )
    assert response.tool_calls == (
        ToolCall(id="toolu_01T1x1", name="get_weather", arguments={"city": "Paris"}),
    )
    assert response.finish_reason is FinishReason.TOOL_CALLS
    assert response.usage == Usage(prompt_tokens=412, completion_tokens=87, total_tokens=499)
    assert response.model == "claude-sonnet-4-5-20250929"
    assert response.metadata["cache_read_input_tokens"] == 2048
    assert response.metadata["cache_creation_input_tokens"] == 0
    assert response.metadata["response_id"] == "msg_01XFDUDYJgAACzvnptvVoYEL"


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [
        ("end_turn", FinishReason.STOP),
        ("stop_sequence", FinishReason.STOP),
        ("max_tokens", FinishReason.LENGTH),
        ("tool_use", FinishReason.TOOL_CALLS),
        ("refusal", FinishReason.CONTENT_FILTER),
        (None, FinishReason.STOP),
    ],
)
def test_stop_reasons_map_onto_finish_reasons(stop_reason: str | None, finish: FinishReason) -> None:
    assert wire.finish_reason_for(stop_reason) is finish


@pytest.mark.parametrize("payload", [[], "text", {"type": "message"}, {"content": [1]}])
def test_unreadable_replies_raise_stream_error(payload: Any) -> None:
    with pytest.raises(StreamError):
        wire.parse_completion(payload)


def test_an_error_body_parses_to_its_typed_error() -> None:
    with pytest.raises(OverloadedError):
        wire.parse_completion(wire.render_error("overloaded_error", "Overloaded"))


_text = st.text(max_size=40)
_ids = st.from_regex(r"toolu_[A-Za-z0-9]{1,12}", fullmatch=True)
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=6,
)
_calls = st.builds(
    ToolCall,
    id=_ids,
    name=st.from_regex(r"[a-z_]{1,10}", fullmatch=True),
    arguments=st.dictionaries(st.text(max_size=6), _json_values, max_size=3),
)
_thinking_blocks = st.lists(
    st.builds(ThinkingBlock, text=_text, signature=st.text(min_size=1, max_size=20))
    | st.builds(ThinkingBlock, redacted=st.just(True), data=st.text(min_size=1, max_size=20)),
    max_size=2,
)


@st.composite
def anthropic_responses(draw: st.DrawFn) -> AIResponse:
    """Responses a Claude reply can express: thinking derived from its blocks, and so on."""
    blocks = tuple(draw(_thinking_blocks))
    calls = tuple(draw(st.lists(_calls, max_size=3, unique_by=lambda call: call.id)))
    prompt, completion = draw(st.integers(0, 10**6)), draw(st.integers(0, 10**6))
    metadata: dict[str, Any] = {"response_id": draw(st.from_regex(r"msg_[A-Za-z0-9]{4,10}", fullmatch=True))}
    stop_reason = draw(st.sampled_from(["end_turn", "max_tokens", "tool_use", "refusal", "stop_sequence"]))
    metadata["stop_reason"] = stop_reason
    if stop_reason == "stop_sequence":
        metadata["stop_sequence"] = draw(st.text(min_size=1, max_size=5))
    if draw(st.booleans()):
        metadata["cache_read_input_tokens"] = draw(st.integers(0, 10**5))
        metadata["cache_creation_input_tokens"] = draw(st.integers(0, 10**5))
    thinking = "".join(block.text for block in blocks if not block.redacted)
    return AIResponse(
        content=draw(_text),
        thinking=thinking or None,
        thinking_blocks=blocks,
        tool_calls=calls,
        finish_reason=wire.finish_reason_for(stop_reason),
        usage=Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion),
        model=draw(st.sampled_from(["claude-sonnet-4-5", "claude-haiku-4-5-20251001"])),
        metadata=metadata,
    )


@given(anthropic_responses())
def test_parse_completion_inverts_render_completion(response: AIResponse) -> None:
    payload = json.loads(json.dumps(wire.render_completion(response)))
    assert wire.parse_completion(payload) == response


# --- streams ----------------------------------------------------------------------------

# A stream as Anthropic documents it: thinking with a signature, text, a tool call whose
# arguments arrive in pieces, pings, and cumulative usage in message_delta.
DOC_STREAM = [
    {
        "type": "message_start",
        "message": {
            "id": "msg_014p7gG3wDgGV9EUtLvnow3U",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5-20250929",
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 472, "output_tokens": 2, "cache_read_input_tokens": 100},
        },
    },
    {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Need the "}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "weather."}},
    {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "signature_delta", "signature": "EqQBCg=="},
    },
    {"type": "content_block_stop", "index": 0},
    {"type": "ping"},
    {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
    {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Okay, "}},
    {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "checking — ☀️"}},
    {"type": "content_block_stop", "index": 1},
    {
        "type": "content_block_start",
        "index": 2,
        "content_block": {
            "type": "tool_use",
            "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
            "name": "get_weather",
            "input": {},
        },
    },
    {"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": ""}},
    {
        "type": "content_block_delta",
        "index": 2,
        "delta": {"type": "input_json_delta", "partial_json": '{"city": "San'},
    },
    {
        "type": "content_block_delta",
        "index": 2,
        "delta": {"type": "input_json_delta", "partial_json": ' Francisco"}'},
    },
    {"type": "content_block_stop", "index": 2},
    {
        "type": "message_delta",
        "delta": {"stop_reason": "tool_use", "stop_sequence": None},
        "usage": {"output_tokens": 89},
    },
    {"type": "message_stop"},
]


def _feed_all(payloads: list[dict[str, Any]]) -> tuple[list[Any], wire.AnthropicStreamState]:
    state = wire.AnthropicStreamState()
    events: list[Any] = []
    for payload in payloads:
        events += state.feed(payload)
    return events, state


def test_a_documented_stream_yields_deltas_then_the_whole_reply() -> None:
    events, state = _feed_all(DOC_STREAM)
    assert events == [
        ThinkingDelta(text="Need the "),
        ThinkingDelta(text="weather."),
        TextDelta(text="Okay, "),
        TextDelta(text="checking — ☀️"),
        ToolCallStarted(index=0, id="toolu_01T1x1fJ34qAmk2tNTrN7Up6", name="get_weather"),
        ToolArgumentsDelta(index=0, fragment='{"city": "San'),
        ToolArgumentsDelta(index=0, fragment=' Francisco"}'),
    ]
    response = state.finish()
    assert response.content == "Okay, checking — ☀️"
    assert response.thinking_blocks == (ThinkingBlock(text="Need the weather.", signature="EqQBCg=="),)
    assert response.tool_calls == (
        ToolCall(
            id="toolu_01T1x1fJ34qAmk2tNTrN7Up6", name="get_weather", arguments={"city": "San Francisco"}
        ),
    )
    assert response.finish_reason is FinishReason.TOOL_CALLS
    assert response.usage == Usage(prompt_tokens=472, completion_tokens=89, total_tokens=561)
    assert response.metadata["cache_read_input_tokens"] == 100
    assert response.model == "claude-sonnet-4-5-20250929"


def test_a_stream_without_message_stop_is_truncated_and_keeps_the_partial_reply() -> None:
    _, state = _feed_all(DOC_STREAM[:-1])
    with pytest.raises(TruncatedStreamError) as caught:
        state.finish()
    partial = caught.value.partial
    assert partial is not None
    assert partial.content == "Okay, checking — ☀️"
    assert partial.tool_calls[0].arguments == {"city": "San Francisco"}


def test_an_overloaded_error_event_is_an_overloaded_error_with_the_partial_reply() -> None:
    _, state = _feed_all(DOC_STREAM[:10])
    with pytest.raises(OverloadedError) as caught:
        state.feed(wire.render_error("overloaded_error", "Overloaded"), event="error")
    assert caught.value.retryable
    assert caught.value.backend == "claude"
    assert caught.value.partial is not None
    assert caught.value.partial.content == "Okay, checking — ☀️"


def test_invalid_streamed_tool_arguments_are_kept_with_a_parse_error() -> None:
    state = wire.AnthropicStreamState()
    start = {"type": "tool_use", "id": "toolu_9", "name": "grep", "input": {}}
    state.feed({"type": "content_block_start", "index": 0, "content_block": start})
    state.feed(
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "input_json_delta", "partial_json": '{"a": '},
        }
    )
    state.feed({"type": "content_block_stop", "index": 0})
    call = state.partial().tool_calls[0]
    assert call.arguments == {}
    assert call.raw_arguments == '{"a": '
    assert call.parse_error is not None


def test_a_tool_call_without_arguments_has_empty_arguments() -> None:
    state = wire.AnthropicStreamState()
    start = {"type": "tool_use", "id": "toolu_0", "name": "now", "input": {}}
    state.feed({"type": "content_block_start", "index": 0, "content_block": start})
    state.feed({"type": "content_block_stop", "index": 0})
    assert state.partial().tool_calls == (ToolCall(id="toolu_0", name="now"),)


def test_tool_arguments_are_parsed_once_per_block_however_many_deltas(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    parses: list[str] = []
    real_loads = json.loads

    def counting_loads(text: str) -> Any:
        parses.append(text)
        return real_loads(text)

    monkeypatch.setattr(stream_module.json, "loads", counting_loads)
    arguments = json.dumps({"pattern": "x" * 5000})
    response = AIResponse(
        tool_calls=(ToolCall(id="toolu_1", name="grep", arguments=real_loads(arguments)),),
        finish_reason=FinishReason.TOOL_CALLS,
    )
    _, state = _feed_all(wire.render_stream(response, fragment=1))
    assert state.finish().tool_calls == response.tool_calls
    assert parses == [arguments]


def test_ping_and_unknown_events_are_ignored() -> None:
    state = wire.AnthropicStreamState()
    assert state.feed({"type": "ping"}) == []
    assert state.feed({"type": "some_future_event", "x": 1}) == []
    assert state.feed({}, event="ping") == []


def test_an_event_that_is_not_an_object_is_a_stream_error() -> None:
    with pytest.raises(StreamError):
        wire.AnthropicStreamState().feed(["not", "an", "object"])


def test_the_event_name_stands_in_for_a_missing_type() -> None:
    state = wire.AnthropicStreamState()
    state.feed({"index": 0, "content_block": {"type": "text", "text": ""}}, event="content_block_start")
    assert state.feed(
        {"index": 0, "delta": {"type": "text_delta", "text": "hi"}}, event="content_block_delta"
    ) == [TextDelta(text="hi")]


def _collected(response: AIResponse, events: list[Any]) -> None:
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == response.content
    assert "".join(e.text for e in events if isinstance(e, ThinkingDelta)) == (response.thinking or "")
    started = [e for e in events if isinstance(e, ToolCallStarted)]
    assert [(e.id, e.name) for e in started] == [(c.id, c.name) for c in response.tool_calls]


@given(anthropic_responses(), st.integers(1, 12))
def test_the_stream_state_inverts_render_stream(response: AIResponse, fragment: int) -> None:
    events, state = _feed_all(wire.render_stream(response, fragment=fragment))
    assert state.finish() == response
    _collected(response, events)


def _stream_bytes(response: AIResponse, *, newline: str = "\n") -> bytes:
    payloads = wire.render_stream(response, fragment=5)
    return render_sse(
        (ServerSentEvent(event=p["type"], data=json.dumps(p, ensure_ascii=False)) for p in payloads),
        newline=newline,
    )


def _decode(chunks: list[bytes]) -> AIResponse:
    decoder = SSEDecoder()
    state = wire.AnthropicStreamState()
    for chunk in chunks:
        for event in decoder.feed(chunk):
            state.feed(json.loads(event.data), event=event.event)
    for event in decoder.close():
        state.feed(json.loads(event.data), event=event.event)
    return state.finish()


@given(anthropic_responses(), st.sampled_from(["\n", "\r\n", "\r"]), st.data())
def test_any_split_of_the_stream_bytes_gives_the_same_reply(
    response: AIResponse, newline: str, data: st.DataObject
) -> None:
    raw = _stream_bytes(response, newline=newline)
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(raw) - 1)), max_size=20)))
    chunks = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
    assert _decode(chunks) == response


def test_splitting_the_stream_at_every_byte_gives_the_same_reply() -> None:
    response = wire.parse_completion(MESSAGE)
    raw = _stream_bytes(response)
    assert _decode([raw[i : i + 1] for i in range(len(raw))]) == response


def test_a_stream_cut_short_at_any_event_boundary_is_never_a_clean_success() -> None:
    payloads = wire.render_stream(wire.parse_completion(MESSAGE))
    for end in range(len(payloads)):
        _, state = _feed_all(payloads[:end])
        with pytest.raises(TruncatedStreamError):
            state.finish()


# --- conversations: ids and signatures survive the round trip ----------------------------


def test_thinking_signatures_and_tool_ids_round_trip_through_two_tool_turns() -> None:
    first = AIResponse(
        thinking="Paris first.",
        thinking_blocks=(ThinkingBlock(text="Paris first.", signature="sig-A"),),
        tool_calls=(ToolCall(id="toolu_A1", name="get_weather", arguments={"city": "Paris"}),),
        finish_reason=FinishReason.TOOL_CALLS,
    )
    second = AIResponse(
        thinking_blocks=(ThinkingBlock(redacted=True, data="enc=="),),
        tool_calls=(
            ToolCall(id="toolu_B1", name="get_weather", arguments={"city": "Oslo"}),
            ToolCall(id="toolu_B2", name="get_weather", arguments={"city": "Rome"}),
        ),
        finish_reason=FinishReason.TOOL_CALLS,
    )
    history: list[ChatMessage] = [ChatMessage.system("Be brief."), ChatMessage.user("Weather?")]
    for scripted in (first, second):
        _, state = _feed_all(wire.render_stream(scripted))
        reply = state.finish()
        history.append(reply.to_message())
        history += [ChatMessage.tool(call, f"sunny in {call.arguments['city']}") for call in reply.tool_calls]
    body = wire.build_request(history, CONFIG, tools=[WEATHER], stream=True)
    turns = body["messages"]
    assert [turn["role"] for turn in turns] == ["user", "assistant", "user", "assistant", "user"]
    assert turns[1]["content"][0] == {"type": "thinking", "thinking": "Paris first.", "signature": "sig-A"}
    assert turns[3]["content"][0] == {"type": "redacted_thinking", "data": "enc=="}
    sent_ids = [
        b["id"] for t in turns if t["role"] == "assistant" for b in t["content"] if b["type"] == "tool_use"
    ]
    answered = [
        b["tool_use_id"]
        for t in turns
        if t["role"] == "user" and isinstance(t["content"], list)
        for b in t["content"]
        if b["type"] == "tool_result"
    ]
    assert sent_ids == answered == ["toolu_A1", "toolu_B1", "toolu_B2"]


# --- errors and models --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "status", "cls"),
    [
        ("authentication_error", 401, AuthenticationError),
        ("permission_error", 403, PermissionDeniedError),
        ("billing_error", 402, PermissionDeniedError),
        ("not_found_error", 404, ModelNotFoundError),
        ("invalid_request_error", 400, InvalidRequestError),
        ("request_too_large", 413, InvalidRequestError),
        ("rate_limit_error", 429, RateLimitError),
        ("api_error", 500, ProviderError),
        ("overloaded_error", 529, OverloadedError),
        ("brand_new_error", 503, OverloadedError),
        ("brand_new_error", None, ProviderError),
    ],
)
def test_error_bodies_map_onto_the_error_tree(kind: str, status: int | None, cls: type[Exception]) -> None:
    error = wire.error_from_payload(wire.render_error(kind, "details"), status=status, model="claude-x")
    assert type(error) is cls
    assert error.status == status
    assert error.backend == "claude"
    assert "details" in error.message


def test_a_prompt_that_is_too_long_is_a_context_length_error() -> None:
    body = wire.render_error("invalid_request_error", "prompt is too long: 210432 tokens > 200000 maximum")
    error = wire.error_from_payload(body, status=400, model="claude-sonnet-4-5")
    assert isinstance(error, ContextLengthExceededError)
    assert "claude-sonnet-4-5" in error.message


def test_error_messages_say_what_to_do_and_never_echo_a_key() -> None:
    body = wire.render_error("authentication_error", "invalid x-api-key sk-ant-api03-SECRETSECRET")
    error = wire.error_from_payload(body, status=401)
    assert "ANTHROPIC_API_KEY" in error.message
    assert "SECRETSECRET" not in error.message


def test_rate_limit_errors_carry_retry_after() -> None:
    error = wire.error_from_payload(
        wire.render_error("rate_limit_error", "slow down"), status=429, retry_after=12
    )
    assert error.retry_after == 12
    assert "12" in error.message


def test_models_parse_with_the_claude_context_window() -> None:
    payload = json.loads(json.dumps(wire.render_models(wire.FALLBACK_MODELS)))
    models = wire.parse_models(payload)
    assert [m.name for m in models] == [m.name for m in wire.FALLBACK_MODELS]
    assert {m.context_length for m in models} == {200_000}
    assert models[0].description == wire.FALLBACK_MODELS[0].description


def test_an_unreadable_model_list_is_a_stream_error() -> None:
    with pytest.raises(StreamError):
        wire.parse_models({"models": []})


def test_response_completed_is_not_produced_by_the_state() -> None:
    # The adapter adds the final ResponseCompleted once the stream is known to be complete.
    events, _ = _feed_all(DOC_STREAM)
    assert not any(isinstance(event, ResponseCompleted) for event in events)
