"""RunAgent and the shape of the model's replies: whole (non-streaming) replies, and replies cut short.

A run asks for streamed replies unless told otherwise; ``streaming=False`` must send a
non-streaming request through `LLMPort.complete` (what ``cw run --no-stream`` promises), and
a reply that did not finish normally (cut off by the token limit, say) must never have its
tool calls run: their arguments may be incomplete.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import pytest

from adapters.storage.memory import InMemoryConversationStore
from application.registry import BackendEntry, BackendRegistry
from application.run_agent import RunAgent
from application.tools import ToolRegistry
from domain.events import (
    ResponseCompleted,
    RunEnded,
    RunEvent,
    RunStatus,
    StreamEvent,
    TextDelta,
    ToolExecutionStarted,
)
from domain.messages import AIResponse, ChatMessage, FinishReason, ToolCall, ToolDefinition, Usage
from domain.model_config import Agent, NormalizedModelConfig
from tests.application.fakes import FakeChatModel, answer, calls

AGENT = Agent(name="helper", backend="fake", tools=("add",))


class MethodRecordingModel(FakeChatModel):
    """A scripted model that also records which port method each call went through."""

    def __init__(self, script: list[AIResponse], methods: list[str], config: NormalizedModelConfig) -> None:
        super().__init__(shared_script=list(script), config=config)
        self.methods = methods

    async def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        tools: Sequence[ToolDefinition] = (),
        config: NormalizedModelConfig | None = None,
    ) -> AIResponse:
        self.methods.append("complete")
        async for event in super().stream(messages, tools=tools, config=config):
            if isinstance(event, ResponseCompleted):
                return event.response
        raise AssertionError("a stream always ends with ResponseCompleted")

    def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        tools: Sequence[ToolDefinition] = (),
        config: NormalizedModelConfig | None = None,
    ) -> AsyncIterator[StreamEvent]:
        self.methods.append("stream")
        return super().stream(messages, tools=tools, config=config)


class Harness:
    def __init__(self, script: list[AIResponse]) -> None:
        self.methods: list[str] = []
        self.ran: list[dict[str, int]] = []
        self.store = InMemoryConversationStore()
        self.models: list[MethodRecordingModel] = []
        tools = ToolRegistry()

        @tools.tool
        def add(a: int, b: int) -> int:
            """Add two numbers."""
            self.ran.append({"a": a, "b": b})
            return a + b

        shared = list(script)

        def make(config: NormalizedModelConfig) -> MethodRecordingModel:
            model = MethodRecordingModel([], self.methods, config)
            model._script = shared  # every adapter of the run plays the same script
            self.models.append(model)
            return model

        registry = BackendRegistry(
            [BackendEntry(name="fake", driver="fake", factory=make, settings={"model": "fake-model"})],
            default_backend="fake",
        )
        self.runner = RunAgent(registry, self.store, tools)

    async def collect(self, prompt: str = "hi", *, streaming: bool = True) -> list[RunEvent]:
        events = self.runner.stream(AGENT, prompt, conversation_id="c", streaming=streaming)
        return [event async for event in events]


def _ended(events: Sequence[RunEvent]) -> RunEnded:
    assert isinstance(events[-1], RunEnded)
    return events[-1]


# --- streaming=False: whole replies through complete() ----------------------------------------


@pytest.mark.anyio
async def test_without_streaming_every_model_call_goes_through_complete() -> None:
    harness = Harness([calls(ToolCall(id="a1", name="add", arguments={"a": 1, "b": 2})), answer("3")])
    events = await harness.collect("1+2?", streaming=False)
    ended = _ended(events)
    assert ended.status is RunStatus.COMPLETED
    assert ended.response is not None
    assert ended.response.content == "3"
    assert harness.methods == ["complete", "complete"]
    assert not [event for event in events if isinstance(event, TextDelta)]
    assert len([event for event in events if isinstance(event, ResponseCompleted)]) == 2
    assert harness.ran == [{"a": 1, "b": 2}]


@pytest.mark.anyio
async def test_streaming_is_the_default() -> None:
    harness = Harness([answer("hello")])
    events = await harness.collect()
    assert _ended(events).status is RunStatus.COMPLETED
    assert harness.methods == ["stream"]
    assert [event.text for event in events if isinstance(event, TextDelta)] == ["hello"]


# --- replies cut short -------------------------------------------------------------------------


def _cut_off(*tool_calls: ToolCall, reason: FinishReason = FinishReason.LENGTH) -> AIResponse:
    return AIResponse(
        content="Let me add them",
        tool_calls=tool_calls,
        finish_reason=reason,
        model="fake-model",
        usage=Usage(prompt_tokens=10, completion_tokens=64, total_tokens=74),
    )


TRUNCATED = ToolCall(id="t1", name="add", raw_arguments='{"a": 1, "b', parse_error="unterminated string")


@pytest.mark.anyio
@pytest.mark.parametrize("streaming", [True, False])
async def test_a_tool_call_cut_off_by_the_token_limit_is_never_run(streaming: bool) -> None:
    harness = Harness([_cut_off(TRUNCATED), answer("never asked")])
    events = await harness.collect(streaming=streaming)
    ended = _ended(events)
    assert ended.status is RunStatus.COMPLETED
    assert ended.response is not None
    assert ended.response.finish_reason is FinishReason.LENGTH
    assert ended.response.content == "Let me add them"
    assert ended.response.tool_calls == ()
    assert not [event for event in events if isinstance(event, ToolExecutionStarted)]
    assert harness.ran == []
    assert len(harness.methods) == 1  # no second request carrying an error result
    history = list(await harness.store.load("c"))
    assert history == [ChatMessage.user("hi"), ChatMessage.assistant("Let me add them")]
    assert ended.usage.completion_tokens == 64


@pytest.mark.anyio
@pytest.mark.parametrize("reason", [FinishReason.LENGTH, FinishReason.CONTENT_FILTER])
async def test_even_complete_calls_of_a_reply_that_did_not_finish_normally_are_not_run(
    reason: FinishReason,
) -> None:
    whole = ToolCall(id="w1", name="add", arguments={"a": 1, "b": 2})
    harness = Harness([_cut_off(whole, TRUNCATED, reason=reason)])
    ended = _ended(await harness.collect())
    assert ended.status is RunStatus.COMPLETED
    assert ended.response is not None
    assert ended.response.finish_reason is reason
    assert harness.ran == []


@pytest.mark.anyio
@pytest.mark.parametrize("reason", [FinishReason.TOOL_CALLS, FinishReason.STOP])
async def test_calls_of_a_reply_that_finished_normally_run(reason: FinishReason) -> None:
    call = ToolCall(id="w1", name="add", arguments={"a": 2, "b": 2})
    harness = Harness([_cut_off(call, reason=reason), answer("4")])
    ended = _ended(await harness.collect())
    assert ended.status is RunStatus.COMPLETED
    assert harness.ran == [{"a": 2, "b": 2}]
