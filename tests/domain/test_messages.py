"""Invariants and value semantics of the conversation values."""

from __future__ import annotations

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.messages import (
    AIResponse,
    ChatMessage,
    FinishReason,
    ImageInput,
    Role,
    ToolCall,
    ToolDefinition,
    ToolResult,
    Usage,
)


def test_tool_call_id_is_required_exactly_on_tool_messages() -> None:
    call = ToolCall(id="call_1", name="read", arguments={"file_path": "a.txt"})
    message = ChatMessage.tool(call, "contents")
    assert message.tool_call_id == "call_1"
    assert message.name == "read"
    with pytest.raises(ValueError, match="tool_call_id"):
        ChatMessage(role=Role.TOOL, content="orphan")
    with pytest.raises(ValueError, match="tool_call_id"):
        ChatMessage(role=Role.USER, content="hi", tool_call_id="call_1")


def test_roles_accept_their_wire_names() -> None:
    assert ChatMessage(role="assistant", content="x").role is Role.ASSISTANT
    with pytest.raises(ValueError):
        ChatMessage(role="robot", content="x")


def test_messages_are_frozen_and_change_through_evolve() -> None:
    message = ChatMessage.user("hello")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        message.content = "changed"  # type: ignore[misc]
    assert attrs.evolve(message, content="changed").content == "changed"
    assert message.content == "hello"


def test_collections_become_tuples() -> None:
    call = ToolCall(id="c", name="t")
    message = ChatMessage(role=Role.ASSISTANT, tool_calls=[call])
    assert message.tool_calls == (call,)


@pytest.mark.parametrize(
    ("reference", "field"),
    [
        ("https://example.com/cat.png", "url"),
        ("HTTP://EXAMPLE.COM/cat.png", "url"),
        ("data:image/png;base64,AAAA", "url"),
        ("./pictures/cat.png", "path"),
        ("/abs/cat.jpg", "path"),
    ],
)
def test_image_reference_is_classified(reference: str, field: str) -> None:
    image = ImageInput.from_reference(reference)
    assert getattr(image, field) == reference


def test_image_needs_exactly_one_source() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        ImageInput()
    with pytest.raises(ValueError, match="exactly one"):
        ImageInput(url="https://x", path="y")


def test_image_bytes_are_not_dumped_in_repr() -> None:
    assert "<5 bytes>" in repr(ImageInput(data=b"\x89PNG\x00", media_type="image/png"))


def test_invalid_tool_call_keeps_raw_text_and_error() -> None:
    call = ToolCall(id="c1", name="read", raw_arguments='{"file_path": ', parse_error="unexpected end")
    assert not call.is_valid
    assert call.arguments == {}
    assert call.raw_arguments == '{"file_path": '


def test_tool_result_content_is_never_empty() -> None:
    with pytest.raises(ValueError, match="needs content"):
        ToolResult(call_id="c", name="t", content="")
    message = ToolResult(call_id="c", name="t", content="boom", is_error=True).to_message()
    assert message.role is Role.TOOL
    assert message.tool_call_id == "c"
    assert message.is_error


def test_tool_definition_needs_a_name_and_defaults_to_an_object_schema() -> None:
    with pytest.raises(ValueError):
        ToolDefinition(name="  ")
    assert ToolDefinition(name="t").parameters == {"type": "object", "properties": {}}


def test_response_becomes_assistant_message_with_its_calls_and_thinking() -> None:
    call = ToolCall(id="c1", name="read", arguments={"file_path": "x"})
    response = AIResponse(content="", thinking="hmm", tool_calls=(call,), finish_reason="tool_calls")
    message = response.to_message()
    assert message.role is Role.ASSISTANT
    assert message.tool_calls == (call,)
    assert message.thinking == "hmm"
    assert response.finish_reason is FinishReason.TOOL_CALLS


counts = st.integers(min_value=0, max_value=10**9)


@given(counts, counts, counts, st.booleans(), counts, counts, counts, st.booleans())
def test_usage_addition_adds_fieldwise_and_keeps_the_estimate_flag(
    a: int, b: int, c: int, e1: bool, d: int, e: int, f: int, e2: bool
) -> None:
    total = Usage(prompt_tokens=a, completion_tokens=b, total_tokens=c, estimated=e1) + Usage(
        prompt_tokens=d, completion_tokens=e, total_tokens=f, estimated=e2
    )
    assert (total.prompt_tokens, total.completion_tokens, total.total_tokens) == (a + d, b + e, c + f)
    assert total.estimated == (e1 or e2)
