"""Hypothesis strategies for every domain type, shared by the property tests of all layers.

Two flavours where it matters: the general strategies cover everything a value may hold;
the ``wire_*`` ones keep to what a wire format can carry exactly (for instance, no
``<think>`` inside content, provider usage rather than an estimate, only metadata keys the
format has a place for), so round trips can demand equality.
"""

from __future__ import annotations

import json
import string
from typing import Any

from hypothesis import strategies as st

from adapters.llm._tool_calls import parse_arguments
from domain.events import (
    ResponseCompleted,
    StreamEvent,
    TextDelta,
    ThinkingDelta,
    ToolArgumentsDelta,
    ToolCallStarted,
)
from domain.messages import (
    AIResponse,
    ChatMessage,
    FinishReason,
    ImageInput,
    Role,
    ThinkingBlock,
    ToolCall,
    ToolDefinition,
    ToolResult,
    Usage,
)
from domain.model_config import Agent, AIModel, Capabilities, ModelPullProgress, NormalizedModelConfig

__all__ = [
    "agents",
    "ai_models",
    "ai_responses",
    "capabilities",
    "chat_messages",
    "conversations",
    "images",
    "invalid_tool_calls",
    "json_objects",
    "json_values",
    "model_configs",
    "pull_progress",
    "stream_events",
    "texts",
    "thinking_blocks",
    "tool_call_ids",
    "tool_calls",
    "tool_definitions",
    "tool_names",
    "tool_results",
    "usages",
    "wire_ai_responses",
    "wire_tool_calls",
]

texts = st.text(max_size=60)
"""Any text (Hypothesis never generates lone surrogates), short enough to keep tests fast."""

non_empty_texts = st.text(min_size=1, max_size=40).filter(lambda s: s.strip() != "")

tool_names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_-]{0,24}", fullmatch=True)
"""Names every provider accepts as they are."""

tool_call_ids = st.from_regex(r"call_[A-Za-z0-9]{1,24}", fullmatch=True)

model_ids = st.from_regex(r"[a-z][a-z0-9-]{0,15}/[A-Za-z0-9][A-Za-z0-9._-]{0,20}", fullmatch=True)

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)

json_values: st.SearchStrategy[Any] = st.recursive(
    _scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
"""Any JSON value (finite floats only: JSON has no NaN)."""

json_objects: st.SearchStrategy[dict[str, Any]] = st.dictionaries(
    st.text(max_size=10), json_values, max_size=5
)


def _invalid_argument_texts() -> st.SearchStrategy[str]:
    broken_object = json_objects.map(lambda o: json.dumps(o)[:-1] if o else "{")
    not_objects = st.lists(json_values, max_size=3).map(lambda v: json.dumps(v))
    return (broken_object | not_objects | st.text(min_size=1, max_size=30)).filter(
        lambda raw: parse_arguments(raw)[1] is not None
    )


@st.composite
def invalid_tool_calls(draw: st.DrawFn, ids: st.SearchStrategy[str] = tool_call_ids) -> ToolCall:
    """A call whose arguments the model botched, as `parse_arguments` reports it."""
    raw = draw(_invalid_argument_texts())
    _, error = parse_arguments(raw)
    return ToolCall(id=draw(ids), name=draw(tool_names), raw_arguments=raw, parse_error=error)


def wire_tool_calls(ids: st.SearchStrategy[str] = tool_call_ids) -> st.SearchStrategy[ToolCall]:
    """Calls as a provider sends them: valid JSON-object arguments, or botched ones."""
    valid = st.builds(ToolCall, id=ids, name=tool_names, arguments=json_objects)
    return valid | invalid_tool_calls(ids)


tool_calls = wire_tool_calls()

tool_definitions = st.builds(
    ToolDefinition,
    name=tool_names,
    description=texts,
    parameters=st.fixed_dictionaries(
        {"type": st.just("object")},
        optional={
            "properties": st.dictionaries(tool_names, st.just({"type": "string"}), max_size=3),
            "required": st.lists(tool_names, max_size=2),
        },
    ),
)

tool_results = st.builds(
    ToolResult,
    call_id=tool_call_ids,
    name=tool_names,
    content=st.text(min_size=1, max_size=40),
    is_error=st.booleans(),
)

images = st.one_of(
    st.builds(ImageInput, url=st.from_regex(r"https://example\.com/[a-z]{1,8}\.png", fullmatch=True)),
    st.builds(ImageInput, url=st.just("data:image/png;base64,iVBORw0KGgo=")),
    st.builds(
        ImageInput,
        data=st.binary(min_size=1, max_size=32),
        media_type=st.sampled_from(["image/png", "image/jpeg"]),
    ),
    st.builds(ImageInput, path=st.from_regex(r"[a-z]{1,8}/[a-z]{1,8}\.(png|jpg)", fullmatch=True)),
)

thinking_blocks = st.builds(
    ThinkingBlock,
    text=texts,
    signature=st.none() | st.text(alphabet=string.ascii_letters + string.digits, min_size=1, max_size=16),
    redacted=st.booleans(),
    data=st.none() | st.text(max_size=16),
)


def _unique_calls(
    calls: st.SearchStrategy[ToolCall], max_size: int = 3
) -> st.SearchStrategy[tuple[ToolCall, ...]]:
    return st.lists(calls, max_size=max_size, unique_by=lambda c: c.id).map(tuple)


@st.composite
def chat_messages(draw: st.DrawFn, roles: st.SearchStrategy[Role] | None = None) -> ChatMessage:
    """Any message: system, user (with images), assistant (tool calls, thinking) or tool."""
    role = draw(roles if roles is not None else st.sampled_from(Role))
    if role is Role.SYSTEM:
        return ChatMessage(role=role, content=draw(texts))
    if role is Role.USER:
        return ChatMessage(role=role, content=draw(texts), images=tuple(draw(st.lists(images, max_size=2))))
    if role is Role.TOOL:
        return ChatMessage(
            role=role,
            content=draw(st.text(min_size=1, max_size=40)),
            tool_call_id=draw(tool_call_ids),
            name=draw(st.none() | tool_names),
            is_error=draw(st.booleans()),
        )
    return ChatMessage(
        role=role,
        content=draw(texts),
        tool_calls=draw(_unique_calls(tool_calls)),
        thinking=draw(st.none() | texts),
        thinking_blocks=tuple(draw(st.lists(thinking_blocks, max_size=2))),
    )


conversations = st.lists(chat_messages(), max_size=6).map(tuple)

usages = st.builds(
    Usage,
    prompt_tokens=st.integers(0, 10**6),
    completion_tokens=st.integers(0, 10**6),
    total_tokens=st.integers(0, 2 * 10**6),
    estimated=st.booleans(),
)

_provider_usages = st.builds(
    lambda p, c: Usage(prompt_tokens=p, completion_tokens=c, total_tokens=p + c),
    st.integers(0, 10**6),
    st.integers(1, 10**6),
)


@st.composite
def ai_responses(draw: st.DrawFn) -> AIResponse:
    """Any reply, including what only some backends carry (thinking blocks, free metadata)."""
    return AIResponse(
        content=draw(texts),
        thinking=draw(st.none() | texts),
        thinking_blocks=tuple(draw(st.lists(thinking_blocks, max_size=2))),
        tool_calls=draw(_unique_calls(tool_calls)),
        finish_reason=draw(st.sampled_from(FinishReason)),
        usage=draw(usages),
        model=draw(st.text(max_size=20)),
        metadata=draw(st.dictionaries(st.text(max_size=10), json_values, max_size=3)),
    )


def _wire_text(text: str) -> bool:
    return "<think>" not in text


@st.composite
def wire_ai_responses(draw: st.DrawFn) -> AIResponse:
    """A reply the OpenAI-compatible format carries exactly.

    Thinking is ``None`` or non-empty, usage comes from the provider, the finish reason
    agrees with the calls (a reply with calls never says plain ``stop``), and metadata
    holds only ``response_id`` and ``system_fingerprint``.
    """
    calls = draw(_unique_calls(wire_tool_calls()))
    reasons = [FinishReason.TOOL_CALLS, FinishReason.LENGTH, FinishReason.CONTENT_FILTER]
    if not calls:
        reasons.append(FinishReason.STOP)
    metadata = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "response_id": st.from_regex(r"chatcmpl-[A-Za-z0-9]{1,12}", fullmatch=True),
                "system_fingerprint": st.from_regex(r"fp_[a-z0-9]{1,8}", fullmatch=True),
            },
        )
    )
    return AIResponse(
        content=draw(texts.filter(_wire_text)),
        thinking=draw(st.none() | st.text(min_size=1, max_size=60).filter(_wire_text)),
        tool_calls=calls,
        finish_reason=draw(st.sampled_from(reasons)),
        usage=draw(_provider_usages),
        model=draw(st.just("") | model_ids),
        metadata=metadata,
    )


model_configs = st.builds(
    NormalizedModelConfig,
    model=model_ids,
    temperature=st.none() | st.floats(0, 2),
    max_tokens=st.none() | st.integers(1, 200_000),
    top_p=st.none() | st.floats(0, 1),
    top_k=st.none() | st.integers(1, 200),
    frequency_penalty=st.none() | st.floats(-2, 2),
    presence_penalty=st.none() | st.floats(-2, 2),
    stop=st.lists(st.text(min_size=1, max_size=8), max_size=4).map(tuple),
    seed=st.none() | st.integers(0, 2**31),
    response_format=st.none() | st.just({"type": "json_object"}),
    tool_choice=st.none() | st.sampled_from(["auto", "none", "required"]) | st.just({"type": "function"}),
    context_length=st.none() | st.integers(512, 10**6),
    timeout=st.none() | st.floats(1, 600),
    provider=st.none() | st.sampled_from(["fastest", "cheapest", "cerebras"]),
    reasoning=st.none() | st.booleans(),
    reasoning_effort=st.none() | st.sampled_from(["low", "medium", "high"]),
    thinking_budget=st.none() | st.integers(1024, 32_000),
    warnings=st.lists(texts, max_size=2).map(tuple),
)

agents = st.builds(
    Agent,
    name=non_empty_texts,
    system_prompt=texts,
    backend=st.none() | st.sampled_from(["huggingface", "fake", "ollama", "openai", "claude"]),
    model_config=st.fixed_dictionaries(
        {}, optional={"temperature": st.floats(0, 2), "max_tokens": st.integers(1, 4096), "model": model_ids}
    ),
    tools=st.lists(tool_names, max_size=3).map(tuple),
)

capabilities = st.builds(
    Capabilities,
    streaming=st.booleans(),
    function_calling=st.booleans(),
    vision=st.booleans(),
    model_management=st.booleans(),
    embeddings=st.booleans(),
)

ai_models = st.builds(
    AIModel,
    name=model_ids,
    owned_by=st.none() | texts,
    description=st.none() | texts,
    family=st.none() | texts,
    size=st.none() | st.integers(0, 10**12),
    digest=st.none() | st.text(alphabet="0123456789abcdef", min_size=8, max_size=16),
    parameter_size=st.none() | st.sampled_from(["7B", "70B"]),
    quantization=st.none() | st.sampled_from(["Q4_K_M", "F16"]),
    modified_at=st.none() | st.just("2024-05-01T12:00:00Z"),
    context_length=st.none() | st.integers(512, 10**6),
    capabilities=st.lists(st.sampled_from(["tools", "vision", "completion"]), max_size=3).map(tuple),
    details=st.dictionaries(st.text(max_size=8), json_values, max_size=3),
)

pull_progress = st.builds(
    ModelPullProgress,
    status=non_empty_texts,
    digest=st.none() | texts,
    total=st.none() | st.integers(0, 10**10),
    completed=st.none() | st.integers(0, 10**10),
)

stream_events: st.SearchStrategy[StreamEvent] = st.one_of(
    st.builds(TextDelta, text=texts),
    st.builds(ThinkingDelta, text=texts),
    st.builds(ToolCallStarted, index=st.integers(0, 8), id=tool_call_ids, name=tool_names),
    st.builds(ToolArgumentsDelta, index=st.integers(0, 8), fragment=texts),
    st.builds(ResponseCompleted, response=ai_responses()),
)
