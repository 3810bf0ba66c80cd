"""Every domain value survives a trip through JSON; bad inbound data is refused with reasons."""

from __future__ import annotations

import json
from typing import Any

import cattrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.serialization import InvalidDataError, from_json_dict, make_converter, to_json_dict
from domain.errors import ProviderError
from domain.events import ResponseCompleted, RunEnded, RunStatus, ToolCallStarted
from domain.messages import (
    AIResponse,
    ChatMessage,
    ImageInput,
    Role,
    ToolCall,
    ToolDefinition,
    ToolResult,
    Usage,
)
from domain.model_config import Agent, AIModel, Capabilities, ModelPullProgress, NormalizedModelConfig
from tests import strategies as s


def through_json(value: Any) -> Any:
    return from_json_dict(type(value), json.loads(json.dumps(to_json_dict(value))))


@pytest.mark.parametrize(
    "strategy",
    [
        s.chat_messages(),
        s.tool_calls,
        s.tool_definitions,
        s.tool_results,
        s.usages,
        s.ai_responses(),
        s.model_configs,
        s.agents,
        s.ai_models,
        s.capabilities,
        s.pull_progress,
        s.thinking_blocks,
        s.images,
    ],
    ids=lambda strategy: repr(strategy)[:40],
)
@given(data=st.data())
def test_round_trip_through_json(strategy: st.SearchStrategy[Any], data: st.DataObject) -> None:
    value = data.draw(strategy)
    assert through_json(value) == value


def test_json_shapes_are_plain() -> None:
    message = ChatMessage.user(
        "hi",
        images=(
            ImageInput(url="https://example.com/a.png"),
            ImageInput(data=b"\x89PNG", media_type="image/png"),
            ImageInput(path="cat.jpg"),
        ),
    )
    out = to_json_dict(message)
    assert out["role"] == "user"
    assert type(out["role"]) is str  # the value, not the StrEnum
    assert out["images"] == [
        {"url": "https://example.com/a.png"},
        {"data": "iVBORw==", "media_type": "image/png"},
        {"path": "cat.jpg"},
    ]
    assert type(to_json_dict(AIResponse())["finish_reason"]) is str
    assert to_json_dict(NormalizedModelConfig(model="m", stop=("a",)))["stop"] == ["a"]


def test_events_are_tagged_and_errors_summarised() -> None:
    assert to_json_dict(ToolCallStarted(index=0, id="c", name="read")) == {
        "type": "ToolCallStarted",
        "index": 0,
        "id": "c",
        "name": "read",
    }
    completed = to_json_dict(ResponseCompleted(response=AIResponse(content="x")))
    assert completed["type"] == "ResponseCompleted"
    assert completed["response"]["content"] == "x"
    ended = to_json_dict(RunEnded(status=RunStatus.FAILED, conversation_id="c", error=ProviderError("boom")))
    assert ended["status"] == "failed"
    assert ended["error"] == {"type": "ProviderError", "message": "boom"}
    json.dumps(ended)  # JSON-compatible as is


def test_unknown_keys_are_refused() -> None:
    with pytest.raises(InvalidDataError, match="unknown keys: colour"):
        from_json_dict(ChatMessage, {"role": "user", "content": "x", "colour": "red"})
    with pytest.raises(InvalidDataError, match="unknown keys"):
        from_json_dict(NormalizedModelConfig, {"model": "m", "temprature": 0.3})


def test_invalid_values_list_every_problem_with_its_place() -> None:
    with pytest.raises(InvalidDataError) as caught:
        from_json_dict(ChatMessage, {"role": "robot", "tool_calls": [{"id": "a"}]})
    text = str(caught.value)
    assert "$.role" in text
    assert "$.tool_calls[0].name" in text
    assert len(caught.value.problems) >= 2


def test_domain_invariants_are_enforced_on_the_way_in() -> None:
    with pytest.raises(InvalidDataError, match="tool_call_id must be set exactly on tool messages"):
        from_json_dict(ChatMessage, {"role": "tool", "content": "x"})
    with pytest.raises(InvalidDataError, match="exactly one of"):
        from_json_dict(ChatMessage, {"role": "user", "images": [{}]})
    with pytest.raises(InvalidDataError, match="base64"):
        from_json_dict(ChatMessage, {"role": "user", "images": [{"data": "***"}]})
    with pytest.raises(InvalidDataError, match="JSON object"):
        from_json_dict(ToolCall, {"id": "a", "name": "b", "arguments": [1]})


def test_tool_choice_string_or_object() -> None:
    for choice in ("auto", {"type": "function", "function": {"name": "read"}}, None):
        config = NormalizedModelConfig(model="m", tool_choice=choice)
        assert through_json(config) == config
    with pytest.raises(InvalidDataError):
        from_json_dict(NormalizedModelConfig, {"model": "m", "tool_choice": 3})


def test_the_converter_is_private() -> None:
    converter = make_converter()
    assert converter is not make_converter()
    assert converter is not cattrs.global_converter
    assert cattrs.global_converter.unstructure(Role.USER) is Role.USER  # we changed nothing globally


def test_hand_written_dicts_may_leave_out_defaults() -> None:
    assert from_json_dict(ToolResult, {"call_id": "c", "name": "n", "content": "ok"}) == ToolResult(
        call_id="c", name="n", content="ok"
    )
    assert from_json_dict(Agent, {"name": "helper"}) == Agent(name="helper")
    assert from_json_dict(Usage, {}) == Usage()
    assert from_json_dict(ToolDefinition, {"name": "t"}).parameters == {"type": "object", "properties": {}}
    assert from_json_dict(AIModel, {"name": "m"}).details == {}
    assert from_json_dict(Capabilities, {}) == Capabilities()
    assert from_json_dict(ModelPullProgress, {"status": "pulling"}).percentage is None
