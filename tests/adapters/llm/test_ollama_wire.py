"""Ollama's native chat wire format: requests, streams, errors and their render_* inverses."""

from __future__ import annotations

import base64
import itertools
from collections.abc import Callable
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.llm._ndjson import NDJSONDecoder, render_ndjson
from adapters.llm.ollama import wire
from domain.errors import (
    AuthenticationError,
    ContextLengthExceededError,
    InvalidRequestError,
    LLMError,
    ModelNotFoundError,
    OverloadedError,
    ProviderError,
    RateLimitError,
    StreamError,
)
from domain.events import TextDelta, ThinkingDelta, ToolArgumentsDelta, ToolCallStarted
from domain.messages import AIResponse, ChatMessage, FinishReason, ImageInput, ToolCall, ToolDefinition, Usage
from domain.model_config import NormalizedModelConfig

CONFIG = NormalizedModelConfig(model="llama3.1")
WEATHER = ToolDefinition(
    name="get_weather",
    description="Weather for a city",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


def counter_ids() -> Callable[[], str]:
    numbers = itertools.count(1)
    return lambda: f"call_{next(numbers)}"


# --------------------------------------------------------------------------- request


def test_options_map_to_ollama_names_and_max_tokens_is_sent_as_num_predict() -> None:
    config = NormalizedModelConfig(
        model="qwen3",
        temperature=0.2,
        top_p=0.9,
        top_k=40,
        context_length=8192,
        max_tokens=512,
        stop=("</s>", "User:"),
        seed=7,
    )
    body = wire.build_chat_request([ChatMessage.user("hi")], (), config, stream=True)
    assert body == {
        "model": "qwen3",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "options": {
            "temperature": 0.2,
            "top_p": 0.9,
            "top_k": 40,
            "num_ctx": 8192,
            "num_predict": 512,
            "stop": ["</s>", "User:"],
            "seed": 7,
        },
    }


def test_unset_settings_are_left_out() -> None:
    body = wire.build_chat_request([ChatMessage.user("hi")], (), CONFIG, stream=False)
    assert body == {"model": "llama3.1", "messages": [{"role": "user", "content": "hi"}], "stream": False}


def test_penalties_are_not_sent_and_a_warning_says_so() -> None:
    config = NormalizedModelConfig(model="llama3.1", frequency_penalty=0.5, presence_penalty=0.0)
    body = wire.build_chat_request([ChatMessage.user("hi")], (), config, stream=True)
    assert "options" not in body
    warnings = wire.request_warnings(config)
    assert len(warnings) == 1
    assert "frequency_penalty=0.5" in warnings[0]
    assert wire.request_warnings(CONFIG) == ()


@pytest.mark.parametrize(
    ("reasoning", "effort", "expected"),
    [
        (True, None, True),
        (False, None, False),
        (None, None, None),
        (True, "high", "high"),
        (False, "high", False),
    ],
)
def test_think_follows_the_reasoning_setting(
    reasoning: bool | None, effort: str | None, expected: Any
) -> None:
    config = NormalizedModelConfig(model="qwen3", reasoning=reasoning, reasoning_effort=effort)
    body = wire.build_chat_request([ChatMessage.user("hi")], (), config, stream=True)
    assert body.get("think") == expected


@pytest.mark.parametrize(
    ("response_format", "expected"),
    [
        ({"type": "json_object"}, "json"),
        (
            {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}},
            {"type": "object"},
        ),
        ({"type": "text"}, None),
        (  # a bare JSON schema is passed as is
            {"type": "object", "properties": {"age": {"type": "integer"}}},
            {"type": "object", "properties": {"age": {"type": "integer"}}},
        ),
    ],
)
def test_response_format_becomes_ollama_format(response_format: dict[str, Any], expected: Any) -> None:
    config = NormalizedModelConfig(model="llama3.1", response_format=response_format)
    body = wire.build_chat_request([ChatMessage.user("hi")], (), config, stream=False)
    assert body.get("format") == expected


def test_keep_alive_is_sent_when_set() -> None:
    body = wire.build_chat_request([ChatMessage.user("hi")], (), CONFIG, stream=True, keep_alive="10m")
    assert body["keep_alive"] == "10m"


def test_tools_are_sent_as_functions_unless_tool_choice_is_none() -> None:
    body = wire.build_chat_request([ChatMessage.user("hi")], [WEATHER], CONFIG, stream=True)
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather for a city",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                },
            },
        }
    ]
    none = attrs.evolve(CONFIG, tool_choice="none")
    assert "tools" not in wire.build_chat_request([ChatMessage.user("hi")], [WEATHER], none, stream=True)


def test_images_are_sent_as_base64_from_bytes_data_uris_and_resolved_paths() -> None:
    png = b"\x89PNG\r\n\x1a\n fake"
    encoded = base64.b64encode(png).decode()
    from_path = ImageInput(path="/tmp/cat.png")
    message = ChatMessage.user(
        "what is this?",
        images=(
            ImageInput(data=png, media_type="image/png"),
            ImageInput(url=f"data:image/png;base64,{encoded}"),
            from_path,
        ),
    )
    body = wire.build_chat_request([message], (), CONFIG, stream=True, images={from_path: "UEFUSA=="})
    assert body["messages"][0]["images"] == [encoded, encoded, "UEFUSA=="]


def test_an_image_needing_io_that_was_not_resolved_is_refused() -> None:
    message = ChatMessage.user("x", images=(ImageInput(url="https://example.com/cat.png"),))
    with pytest.raises(ValueError, match=r"https://example\.com/cat\.png"):
        wire.build_chat_request([message], (), CONFIG, stream=True)


def test_assistant_tool_calls_and_tool_results_take_ollama_shapes() -> None:
    call = ToolCall(id="call_abc", name="get_weather", arguments={"city": "Paris"})
    assistant = attrs.evolve(ChatMessage.assistant(tool_calls=(call,)), thinking="Need the weather.")
    orphan_named = ChatMessage(role="tool", content="sunny", tool_call_id="call_abc")  # no name: looked up
    messages = [
        ChatMessage.system("be brief"),
        ChatMessage.user("weather in Paris?"),
        assistant,
        ChatMessage.tool(call, "22°C"),
        orphan_named,
    ]
    body = wire.build_chat_request(messages, [WEATHER], CONFIG, stream=True)
    assert body["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "weather in Paris?"},
        {
            "role": "assistant",
            "content": "",
            "thinking": "Need the weather.",
            "tool_calls": [
                {"id": "call_abc", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}
            ],
        },
        {"role": "tool", "content": "22°C", "tool_name": "get_weather", "tool_call_id": "call_abc"},
        {"role": "tool", "content": "sunny", "tool_name": "get_weather", "tool_call_id": "call_abc"},
    ]


# --------------------------------------------------------------------------- stream

FINAL = {
    "model": "llama3.1",
    "created_at": "2024-07-22T20:33:28.123648Z",
    "message": {"role": "assistant", "content": ""},
    "done": True,
    "done_reason": "stop",
    "total_duration": 4883583458,
    "load_duration": 1334875,
    "prompt_eval_count": 26,
    "prompt_eval_duration": 342546000,
    "eval_count": 282,
    "eval_duration": 4535599000,
}


def chunk(**message: Any) -> dict[str, Any]:
    return {"model": "llama3.1", "message": {"role": "assistant", "content": "", **message}, "done": False}


def test_text_and_thinking_stream_as_deltas_and_the_final_line_gives_usage_and_timing() -> None:
    state = wire.StreamState(model="llama3.1")
    events = []
    for line in [
        chunk(thinking="Hmm, "),
        chunk(thinking="sky."),
        chunk(content="Rayleigh"),
        chunk(content=" scattering."),
        FINAL,
    ]:
        events += state.feed(line)
    assert events == [
        ThinkingDelta(text="Hmm, "),
        ThinkingDelta(text="sky."),
        TextDelta(text="Rayleigh"),
        TextDelta(text=" scattering."),
    ]
    assert state.done
    response = state.finish()
    assert response.content == "Rayleigh scattering."
    assert response.thinking == "Hmm, sky."
    assert response.finish_reason is FinishReason.STOP
    assert response.usage == Usage(prompt_tokens=26, completion_tokens=282, total_tokens=308)
    assert response.model == "llama3.1"
    assert response.metadata == {
        "done_reason": "stop",
        "total_duration": 4883583458,
        "load_duration": 1334875,
        "prompt_eval_duration": 342546000,
        "eval_duration": 4535599000,
        "tokens_per_second": 62.17,
    }


@pytest.mark.parametrize(
    ("done_reason", "finish"),
    [("length", "length"), ("stop", "stop"), ("load", "stop"), ("unload", "stop"), ("weird", "stop")],
)
def test_done_reason_maps_to_a_finish_reason(done_reason: str, finish: str) -> None:
    state = wire.StreamState()
    state.feed({**FINAL, "done_reason": done_reason})
    assert state.finish().finish_reason == finish


def test_tool_calls_get_unique_ids_and_their_arguments_as_one_fragment() -> None:
    state = wire.StreamState(new_id=counter_ids())
    events = state.feed(
        chunk(
            tool_calls=[
                {"function": {"name": "get_weather", "arguments": {"city": "Paris"}}},
                {"function": {"name": "get_weather", "arguments": {"city": "東京"}}},
            ]
        )
    )
    events += state.feed(
        chunk(tool_calls=[{"id": "call_server", "function": {"index": 2, "name": "noop", "arguments": {}}}])
    )
    state.feed(FINAL)
    assert events == [
        ToolCallStarted(index=0, id="call_1", name="get_weather"),
        ToolArgumentsDelta(index=0, fragment='{"city":"Paris"}'),
        ToolCallStarted(index=1, id="call_2", name="get_weather"),
        ToolArgumentsDelta(index=1, fragment='{"city":"東京"}'),
        ToolCallStarted(index=2, id="call_server", name="noop"),
        ToolArgumentsDelta(index=2, fragment="{}"),
    ]
    response = state.finish()
    assert response.finish_reason is FinishReason.TOOL_CALLS
    assert [call.id for call in response.tool_calls] == ["call_1", "call_2", "call_server"]
    assert response.tool_calls[1].arguments == {"city": "東京"}


def test_generated_tool_call_ids_are_distinct() -> None:
    ids = {wire.new_tool_call_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(i.startswith("call_") for i in ids)


@pytest.mark.parametrize(
    ("arguments", "parsed", "error"),
    [
        ('{"city": "Rome"}', {"city": "Rome"}, None),
        ("{oops", {}, "not valid JSON"),
        ("[1, 2]", {}, "must be a JSON object"),
        (None, {}, None),
    ],
)
def test_string_arguments_are_parsed_and_bad_ones_kept_with_the_error(
    arguments: Any, parsed: Any, error: str | None
) -> None:
    state = wire.StreamState(new_id=counter_ids())
    state.feed(chunk(tool_calls=[{"function": {"name": "f", "arguments": arguments}}]))
    call = state.partial().tool_calls[0]
    assert call.arguments == parsed
    if error:
        assert call.parse_error is not None
        assert error in call.parse_error
        assert call.raw_arguments == arguments
    else:
        assert call.is_valid


def test_an_error_line_is_a_typed_error() -> None:
    state = wire.StreamState(model="llama3.1")
    state.feed(chunk(content="partial"))
    with pytest.raises(ProviderError, match="out of memory") as caught:
        state.feed({"error": "an error was encountered while running the model: CUDA error: out of memory"})
    assert caught.value.backend == "ollama"
    assert state.partial().content == "partial"


def test_a_stream_without_the_done_line_is_not_done() -> None:
    state = wire.StreamState()
    state.feed(chunk(content="cut"))
    assert not state.done


@pytest.mark.parametrize("bad", [[1, 2], "text", {"message": "not an object"}])
def test_objects_that_are_not_chat_chunks_are_stream_errors(bad: Any) -> None:
    with pytest.raises(StreamError):
        wire.StreamState().feed(bad)


def test_lines_after_done_are_ignored() -> None:
    state = wire.StreamState()
    state.feed(FINAL)
    assert state.feed(chunk(content="late")) == []
    assert state.finish().content == ""


def test_non_streaming_reply_from_the_docs() -> None:
    payload = {
        "model": "llama3.2",
        "created_at": "2024-07-22T20:33:28.123648Z",
        "message": {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "function": {
                        "name": "get_current_weather",
                        "arguments": {"format": "celsius", "location": "Paris, FR"},
                    }
                }
            ],
        },
        "done_reason": "stop",
        "done": True,
        "total_duration": 885095291,
        "load_duration": 3753500,
        "prompt_eval_count": 122,
        "prompt_eval_duration": 328493000,
        "eval_count": 33,
        "eval_duration": 552222000,
    }
    response = wire.parse_chat_response(payload, new_id=counter_ids())
    assert response.tool_calls == (
        ToolCall(
            id="call_1", name="get_current_weather", arguments={"format": "celsius", "location": "Paris, FR"}
        ),
    )
    assert response.finish_reason is FinishReason.TOOL_CALLS
    assert response.usage.total_tokens == 155
    assert response.model == "llama3.2"


def test_a_non_streaming_reply_without_done_is_a_stream_error() -> None:
    with pytest.raises(StreamError, match="done"):
        wire.parse_chat_response(chunk(content="x"))


def test_tool_call_ids_round_trip_through_a_conversation_with_two_tool_turns() -> None:
    new_id = wire.new_tool_call_id
    messages: list[ChatMessage] = [ChatMessage.user("weather in Paris and Rome, then convert")]
    turn_one = [
        chunk(
            tool_calls=[
                {"function": {"name": "get_weather", "arguments": {"city": "Paris"}}},
                {"function": {"name": "get_weather", "arguments": {"city": "Rome"}}},
            ]
        ),
        FINAL,
    ]
    turn_two = [chunk(tool_calls=[{"function": {"name": "convert", "arguments": {"celsius": 22}}}]), FINAL]
    seen_ids: list[str] = []
    for turn in (turn_one, turn_two):
        state = wire.StreamState(new_id=new_id)
        started = [e for line in turn for e in state.feed(line) if isinstance(e, ToolCallStarted)]
        reply = state.finish()
        assert [e.id for e in started] == [c.id for c in reply.tool_calls]
        messages.append(reply.to_message())
        messages += [ChatMessage.tool(call, f"result of {call.id}") for call in reply.tool_calls]
        seen_ids += [c.id for c in reply.tool_calls]
    assert len(set(seen_ids)) == 3
    # every tool result still answers the call that asked for it, and goes back with its name
    calls = {c.id: c for m in messages for c in m.tool_calls}
    for message in messages:
        if message.tool_call_id is not None:
            assert message.content == f"result of {calls[message.tool_call_id].id}"
    body = wire.build_chat_request(messages, [WEATHER], CONFIG, stream=True)
    assert [m.get("tool_name") for m in body["messages"] if m["role"] == "tool"] == [
        "get_weather",
        "get_weather",
        "convert",
    ]
    rome = messages[1].tool_calls[1]
    assert body["messages"][1]["tool_calls"][1] == {
        "id": rome.id,
        "function": {"name": "get_weather", "arguments": {"city": "Rome"}},
    }
    assert [m["tool_call_id"] for m in body["messages"] if m["role"] == "tool"] == seen_ids


# --------------------------------------------------------------------------- errors


def test_a_404_of_a_listing_says_the_url_may_not_be_an_ollama_server() -> None:
    mapped = wire.error_for_ollama(status=404, text="404 page not found", model=None)
    assert type(mapped) is LLMError
    assert "OLLAMA_BASE_URL" in str(mapped)
    assert mapped.status == 404


def test_a_404_for_an_unknown_path_is_not_a_missing_model() -> None:
    """Ollama answers a path it lacks with a plain ``404 page not found``: the URL is wrong."""
    mapped = wire.error_for_ollama(status=404, text="404 page not found", model="llama3.1")
    assert type(mapped) is LLMError
    assert "OLLAMA_BASE_URL" in str(mapped)
    assert "cw pull" not in str(mapped)


@pytest.mark.parametrize(
    ("status", "text", "error", "phrase"),
    [
        (404, 'model "mistral" not found, try pulling it first', ModelNotFoundError, "cw pull mistral"),
        (None, 'model "mistral" not found, try pulling it first', ModelNotFoundError, "cw pull mistral"),
        (
            400,
            "registry.ollama.ai/library/gemma:2b does not support tools",
            InvalidRequestError,
            "tool calling",
        ),
        (400, '"gemma" does not support thinking', InvalidRequestError, "reasoning off"),
        (400, "input length exceeds the context length", ContextLengthExceededError, "num_ctx"),
        (400, "invalid options", InvalidRequestError, "(400)"),
        (401, "unauthorized", AuthenticationError, "unauthenticated"),
        (429, "slow down", RateLimitError, "rate limiting"),
        (None, "rate limit exceeded for this model", RateLimitError, "rate limiting"),
        (503, "server busy, please try again.  maximum pending requests exceeded", OverloadedError, "busy"),
        (500, "llama runner process has terminated: exit status 2", ProviderError, "(500)"),
        (None, "unexpected EOF", ProviderError, "while generating"),
    ],
)
def test_errors_map_by_status_and_text(
    status: int | None, text: str, error: type[Exception], phrase: str
) -> None:
    mapped = wire.error_for_ollama(status=status, text=text, model="mistral")
    assert type(mapped) is error
    assert phrase in str(mapped)
    assert text in str(mapped)
    assert mapped.backend == "ollama"
    assert mapped.status == status


@pytest.mark.parametrize(
    ("body", "text"),
    [
        (b'{"error":"model \\"x\\" not found"}', 'model "x" not found'),
        ('{"error": {"message": "nested"}}', "nested"),
        (b"<html>502 Bad Gateway</html>", "<html>502 Bad Gateway</html>"),
        (b"x" * 2000, "x" * 500 + "…"),
    ],
)
def test_error_text_reads_ollamas_error_field_or_the_raw_body(body: Any, text: str) -> None:
    assert wire.error_text(body) == text


# --------------------------------------------------------------------------- round trips

json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=6,
)
tool_calls = st.builds(
    ToolCall,
    id=st.from_regex(r"call_[0-9a-f]{8}", fullmatch=True),
    name=st.text(min_size=1, max_size=20),
    arguments=st.dictionaries(st.text(max_size=8), json_values, max_size=4),
)


@st.composite
def responses(draw: st.DrawFn) -> AIResponse:
    calls = tuple(draw(st.lists(tool_calls, max_size=3, unique_by=lambda c: c.id)))
    finish = (
        FinishReason.TOOL_CALLS if calls else draw(st.sampled_from([FinishReason.STOP, FinishReason.LENGTH]))
    )
    prompt, completion = draw(st.integers(0, 10**6)), draw(st.integers(0, 10**6))
    durations = draw(st.dictionaries(st.sampled_from(wire.DURATION_KEYS), st.integers(1, 10**12)))
    return AIResponse(
        content=draw(st.text()),
        thinking=draw(st.none() | st.text(min_size=1)),
        tool_calls=calls,
        finish_reason=finish,
        usage=Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion),
        model=draw(st.text(min_size=1, max_size=30)),
        metadata=durations,
    )


def stream_back(objects: list[dict[str, Any]], cuts: list[int]) -> tuple[list[Any], AIResponse]:
    data = render_ndjson(objects)
    decoder = NDJSONDecoder()
    state = wire.StreamState()
    events: list[Any] = []
    start = 0
    for cut in [*sorted(set(cuts)), len(data)]:
        for value in decoder.feed(data[start:cut]):
            events += state.feed(value)
        start = cut
    for value in decoder.close():
        events += state.feed(value)
    assert state.done
    return events, state.finish()


def same_reply(parsed: AIResponse, original: AIResponse) -> None:
    assert attrs.evolve(parsed, metadata=original.metadata) == original
    for key, value in original.metadata.items():
        assert parsed.metadata[key] == value


@given(response=responses(), chunk_chars=st.integers(1, 12), data=st.data())
def test_render_stream_then_parse_gives_the_reply_back_for_any_split(
    response: AIResponse, chunk_chars: int, data: st.DataObject
) -> None:
    objects = wire.render_chat_stream(response, chunk_chars=chunk_chars, include_ids=True)
    size = len(render_ndjson(objects))
    cuts = data.draw(st.lists(st.integers(0, size), max_size=10))
    events, parsed = stream_back(objects, cuts)
    same_reply(parsed, response)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == response.content
    assert "".join(e.text for e in events if isinstance(e, ThinkingDelta)) == (response.thinking or "")


@given(response=responses())
def test_without_ids_on_the_wire_the_reply_comes_back_with_fresh_unique_ids(response: AIResponse) -> None:
    _, parsed = stream_back(wire.render_chat_stream(response), [])
    renamed = tuple(
        attrs.evolve(call, id=new.id)
        for call, new in zip(response.tool_calls, parsed.tool_calls, strict=True)
    )
    same_reply(parsed, attrs.evolve(response, tool_calls=renamed))
    assert len({c.id for c in parsed.tool_calls}) == len(parsed.tool_calls)


@given(response=responses())
def test_render_response_then_parse_gives_the_reply_back(response: AIResponse) -> None:
    parsed = wire.parse_chat_response(wire.render_chat_response(response, include_ids=True))
    same_reply(parsed, response)


def test_invalid_arguments_survive_a_render_round_trip() -> None:
    bad = ToolCall(id="call_1", name="f", raw_arguments="{oops", parse_error="x")
    response = AIResponse(tool_calls=(bad,), finish_reason=FinishReason.TOOL_CALLS, model="m")
    _, parsed = stream_back(wire.render_chat_stream(response, include_ids=True), [])
    assert parsed.tool_calls[0].raw_arguments == "{oops"
    assert parsed.tool_calls[0].parse_error is not None


def test_think_tags_in_the_content_become_thinking_even_split_across_lines() -> None:
    state = wire.StreamState()
    events = []
    for piece in ["<th", "ink>Count the r", "s.</thi", "nk>\n\nThree.", " <b>ok</b>"]:
        events += state.feed(chunk(content=piece))
    events += state.feed(FINAL)
    response = state.finish()
    assert response.thinking == "Count the rs."
    assert response.content == "Three. <b>ok</b>"
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == response.content
    assert "".join(e.text for e in events if isinstance(e, ThinkingDelta)) == response.thinking


def test_a_partial_reply_keeps_text_held_back_for_a_possible_tag() -> None:
    state = wire.StreamState()
    state.feed(chunk(content="a < b and b <th"))
    assert state.partial().content == "a < b and b <th"
