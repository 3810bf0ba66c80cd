"""RunAgent: the tool loop, streamed as events, with a consistent history whatever happens."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.storage.memory import InMemoryConversationStore
from application.registry import BackendEntry, BackendRegistry
from application.run_agent import CANCELLED_RESULT, INTERRUPTED_RESULT, CancelToken, RunAgent
from application.tools import ToolRegistry
from domain.errors import (
    AgentError,
    ConfigError,
    ProviderError,
    RunCancelledError,
    ToolError,
    UnknownBackendError,
)
from domain.events import (
    MessageAppended,
    ResponseCompleted,
    RunEnded,
    RunEvent,
    RunStatus,
    TextDelta,
    ToolCallStarted,
    ToolExecutionFinished,
    ToolExecutionStarted,
)
from domain.messages import AIResponse, ChatMessage, ImageInput, Role, ToolCall, Usage
from domain.model_config import Agent, NormalizedModelConfig
from tests.application.fakes import FAKE_PROFILE, Fail, FakeChatModel, Hang, Request, Step, answer, calls

AGENT = Agent(name="helper", system_prompt="You are terse.", backend="fake", tools=("add", "echo", "boom"))


class Harness:
    """A RunAgent over a scripted model, an in-memory store and a few tools."""

    def __init__(
        self, script: Sequence[Step], *, max_turns: int = 25, tools: ToolRegistry | None = None
    ) -> None:
        self.script = list(script)
        self.requests: list[Request] = []
        self.models: list[FakeChatModel] = []
        self.hanging = asyncio.Event()
        self.store = InMemoryConversationStore()
        self.tools = tools or _tools()
        registry = BackendRegistry(
            [BackendEntry(name="fake", driver="fake", factory=self._make, profile=FAKE_PROFILE)],
            default_backend="fake",
        )
        self.runner = RunAgent(registry, self.store, self.tools, max_turns=max_turns)

    def _make(self, config: NormalizedModelConfig) -> FakeChatModel:
        model = FakeChatModel(
            config=config, requests=self.requests, shared_script=self.script, hanging=self.hanging
        )
        self.models.append(model)
        return model

    async def collect(self, agent: Agent = AGENT, prompt: str = "hi", **kwargs: Any) -> list[RunEvent]:
        return [event async for event in self.runner.stream(agent, prompt, **kwargs)]

    async def history(self, conversation_id: str) -> list[ChatMessage]:
        return list(await self.store.load(conversation_id))


def _tools() -> ToolRegistry:
    registry = ToolRegistry()

    @registry.tool
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    @registry.tool
    async def echo(text: str) -> str:
        """Repeat the text."""
        await asyncio.sleep(0)
        return text

    @registry.tool
    def boom() -> str:
        """Always fails."""
        raise RuntimeError("kaput")

    @registry.tool
    def secret() -> str:
        """Registered but not offered to AGENT."""
        return "classified"

    return registry


def _call(call_id: str, name: str, **arguments: Any) -> ToolCall:
    return ToolCall(id=call_id, name=name, arguments=arguments)


def _ended(events: Sequence[RunEvent]) -> RunEnded:
    terminal = [event for event in events if isinstance(event, RunEnded)]
    assert len(terminal) == 1
    assert events[-1] is terminal[0]
    return terminal[0]


def assert_consistent(history: Sequence[ChatMessage]) -> None:
    """Every assistant message with tool calls is followed by exactly one result per call, by id."""
    position = 0
    while position < len(history):
        message = history[position]
        position += 1
        if message.role is Role.ASSISTANT and message.tool_calls:
            expected = [call.id for call in message.tool_calls]
            answered = [m.tool_call_id for m in history[position : position + len(expected)]]
            assert answered == expected, (expected, answered)
            for result in history[position : position + len(expected)]:
                assert result.role is Role.TOOL
                assert result.content
            position += len(expected)
        else:
            assert message.role is not Role.TOOL, "a tool message without its call"


# --- answers and tools ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_plain_answer_streams_saves_and_completes() -> None:
    harness = Harness([answer("Hello!")])
    events = await harness.collect(conversation_id="c1")
    ended = _ended(events)
    assert [type(event) for event in events] == [
        MessageAppended,
        TextDelta,
        ResponseCompleted,
        MessageAppended,
        RunEnded,
    ]
    assert ended.status is RunStatus.COMPLETED
    assert ended.conversation_id == "c1"
    assert ended.response is not None
    assert ended.response.content == "Hello!"
    assert ended.turns == 1
    assert ended.error is None
    history = await harness.history("c1")
    assert history == [ChatMessage.user("hi"), ChatMessage.assistant("Hello!")]
    assert list(ended.messages) == history
    # The system prompt goes first in the request but is never stored.
    assert harness.requests[0].messages == (ChatMessage.system("You are terse."), ChatMessage.user("hi"))
    assert [tool.name for tool in harness.requests[0].tools] == ["add", "echo", "boom"]
    assert all(model.closed for model in harness.models)


@pytest.mark.anyio
async def test_tool_calls_run_then_the_model_is_asked_again_with_matching_ids() -> None:
    harness = Harness([calls(_call("call_a", "add", a=2, b=3), text="Let me add."), answer("It is 5.")])
    ended = _ended(await harness.collect(conversation_id="c"))
    assert ended.status is RunStatus.COMPLETED
    assert ended.turns == 2
    history = await harness.history("c")
    assert [m.role for m in history] == [Role.USER, Role.ASSISTANT, Role.TOOL, Role.ASSISTANT]
    assert history[1].tool_calls[0].id == "call_a"
    assert (history[2].tool_call_id, history[2].name, history[2].content) == ("call_a", "add", "5")
    assert not history[2].is_error
    assert harness.requests[1].messages[1:] == tuple(history[:3])
    assert_consistent(history)


@pytest.mark.anyio
async def test_parallel_calls_run_concurrently_and_are_saved_in_call_order() -> None:
    tools = ToolRegistry()
    second_started = asyncio.Event()

    @tools.tool
    async def slow() -> str:
        # Finishes only once the second call has started: sequential execution would time out.
        await asyncio.wait_for(second_started.wait(), timeout=2)
        await asyncio.sleep(0.01)
        return "slow done"

    @tools.tool
    async def fast() -> str:
        second_started.set()
        return "fast done"

    agent = Agent(name="p", backend="fake", tools=("slow", "fast"))
    harness = Harness([calls(_call("c1", "slow"), _call("c2", "fast")), answer("ok")], tools=tools)
    events = await harness.collect(agent, conversation_id="p")
    assert _ended(events).status is RunStatus.COMPLETED
    started = [e.call.id for e in events if isinstance(e, ToolExecutionStarted)]
    finished = [e.result.call_id for e in events if isinstance(e, ToolExecutionFinished)]
    appended = [
        e.message.tool_call_id
        for e in events
        if isinstance(e, MessageAppended) and e.message.role is Role.TOOL
    ]
    assert started == ["c1", "c2"]
    assert finished == ["c2", "c1"]  # as they finished
    assert appended == ["c1", "c2"]  # in call order
    history = await harness.history("p")
    assert [m.content for m in history if m.role is Role.TOOL] == ["slow done", "fast done"]


@pytest.mark.anyio
async def test_every_kind_of_bad_call_goes_back_to_the_model_as_error_text() -> None:
    bad = calls(
        _call("u1", "bash", command="rm -rf /"),
        _call("u2", "add", a="two", b=3),
        _call("u3", "boom"),
        ToolCall(
            id="u4", name="echo", raw_arguments='{"text": "unterminated', parse_error="Unterminated string"
        ),
        _call("u5", "secret"),
    )
    harness = Harness([bad, answer("sorry")])
    ended = _ended(await harness.collect(conversation_id="bad"))
    assert ended.status is RunStatus.COMPLETED
    results = {m.tool_call_id: m for m in await harness.history("bad") if m.role is Role.TOOL}
    assert list(results) == ["u1", "u2", "u3", "u4", "u5"]
    assert all(m.is_error and m.content.startswith("Error:") for m in results.values())
    assert "no tool named 'bash'" in results["u1"].content
    assert "a: expected integer, got 'two'" in results["u2"].content
    assert "RuntimeError: kaput" in results["u3"].content
    assert '{"text": "unterminated' in results["u4"].content
    assert "Available tools: add, echo, boom" in results["u5"].content  # registered, but not this agent's
    # The model saw all of it on the next turn.
    assert [m.tool_call_id for m in harness.requests[1].messages if m.role is Role.TOOL] == list(results)


@pytest.mark.anyio
async def test_calls_finishing_together_are_each_reported_once() -> None:
    harness = Harness([calls(*(_call(f"u{n}", "nope") for n in range(4))), answer("ok")])
    events = await harness.collect(conversation_id="together")
    finished = [e.result.call_id for e in events if isinstance(e, ToolExecutionFinished)]
    assert finished == ["u0", "u1", "u2", "u3"]
    assert not any(type(e).__name__.startswith("_") for e in events)
    assert_consistent(await harness.history("together"))


@pytest.mark.anyio
async def test_an_agent_without_tools_is_offered_none_and_told_so() -> None:
    harness = Harness([calls(_call("x", "add", a=1, b=1)), answer("fine")])
    agent = Agent(name="bare", backend="fake")
    await harness.collect(agent, conversation_id="bare")
    assert harness.requests[0].tools == ()
    tool_message = (await harness.history("bare"))[2]
    assert "no tools are available" in tool_message.content


@pytest.mark.anyio
async def test_usage_is_summed_over_turns() -> None:
    harness = Harness(
        [
            calls(_call("a", "echo", text="x")),
            AIResponse(content="done", usage=Usage(prompt_tokens=100, completion_tokens=1, total_tokens=101)),
        ]
    )
    ended = _ended(await harness.collect())
    assert ended.usage == Usage(prompt_tokens=110, completion_tokens=6, total_tokens=116)


@pytest.mark.anyio
async def test_max_turns_ends_with_its_own_status_and_a_consistent_history() -> None:
    looping = [calls(_call(f"t{n}", "echo", text=str(n))) for n in range(5)]
    harness = Harness(looping, max_turns=2)
    ended = _ended(await harness.collect(conversation_id="loop"))
    assert ended.status is RunStatus.MAX_TURNS
    assert ended.turns == 2
    assert len(harness.requests) == 2
    history = await harness.history("loop")
    assert history[-1].role is Role.TOOL
    assert_consistent(history)


@pytest.mark.anyio
async def test_a_conversation_continues_where_it_left_off() -> None:
    harness = Harness([answer("first"), answer("second")])
    await harness.collect(conversation_id="chat", prompt="one")
    ended = _ended(await harness.collect(conversation_id="chat", prompt="two"))
    assert [m.content for m in ended.messages] == ["one", "first", "two", "second"]
    assert [m.content for m in harness.requests[1].messages] == ["You are terse.", "one", "first", "two"]


@pytest.mark.anyio
async def test_calls_a_crashed_run_left_unanswered_are_answered_first() -> None:
    harness = Harness([answer("ok")])
    await harness.store.append("old", ChatMessage.user("go"))
    await harness.store.append("old", ChatMessage.assistant(tool_calls=(_call("k1", "echo", text="a"),)))
    events = await harness.collect(conversation_id="old", prompt="again")
    history = await harness.history("old")
    assert history[2].tool_call_id == "k1"
    assert history[2].content == INTERRUPTED_RESULT
    assert history[3] == ChatMessage.user("again")
    assert_consistent(history)
    appended = [e.message for e in events if isinstance(e, MessageAppended)]
    assert appended[0] == history[2]


@pytest.mark.anyio
async def test_images_may_be_given_as_references() -> None:
    harness = Harness([answer("a cat")])
    picture = ImageInput(data=b"\x89PNG", media_type="image/png")
    await harness.collect(conversation_id="img", images=["https://example.test/cat.png", picture])
    user = (await harness.history("img"))[0]
    assert user.images == (ImageInput(url="https://example.test/cat.png"), picture)


# --- failures ------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_failed_turn_ends_failed_and_keeps_the_history_but_not_the_partial() -> None:
    partial = AIResponse(content="The answ")
    failure = ProviderError(
        "the provider failed (502); try another provider", backend="fake", status=502, partial=partial
    )
    harness = Harness([calls(_call("a", "echo", text="x")), Fail(error=failure, text="The answ")])
    events = await harness.collect(conversation_id="f")
    ended = _ended(events)
    assert ended.status is RunStatus.FAILED
    assert ended.error is failure
    assert isinstance(ended.error, ProviderError)
    assert ended.error.partial == partial
    assert TextDelta(text="The answ") in events
    history = await harness.history("f")
    assert [m.role for m in history] == [Role.USER, Role.ASSISTANT, Role.TOOL]
    assert list(ended.messages) == history
    assert all(model.closed for model in harness.models)


@pytest.mark.anyio
async def test_an_adapter_bug_still_ends_the_run_with_one_failed_event() -> None:
    bug = RuntimeError("adapter bug")
    harness = Harness([calls(_call("a", "echo", text="x")), Fail(error=bug, text="par")])  # type: ignore[arg-type]
    events = await harness.collect(conversation_id="b")
    ended = _ended(events)
    assert ended.status is RunStatus.FAILED
    assert isinstance(ended.error, AgentError)
    assert ended.error.__cause__ is bug
    assert "RuntimeError: adapter bug" in str(ended.error)
    history = await harness.history("b")
    assert [m.role for m in history] == [Role.USER, Role.ASSISTANT, Role.TOOL]
    assert list(ended.messages) == history
    assert all(model.closed for model in harness.models)


class _StoreFailingOnToolResults(InMemoryConversationStore):
    """A store that breaks its port's contract: a plain `OSError` when saving a tool result."""

    async def append(self, conversation_id: str, message: ChatMessage) -> None:
        if message.role is Role.TOOL:
            raise OSError("disk full")
        await super().append(conversation_id, message)


@pytest.mark.anyio
async def test_a_store_failing_with_a_foreign_error_still_ends_the_run_once() -> None:
    harness = Harness([calls(_call("a", "echo", text="x"), _call("b", "echo", text="y")), answer("done")])
    harness.runner.store = _StoreFailingOnToolResults()
    events = await harness.collect(conversation_id="s")
    ended = _ended(events)
    assert ended.status is RunStatus.FAILED
    assert isinstance(ended.error, AgentError)
    assert "OSError: disk full" in str(ended.error)


@pytest.mark.anyio
async def test_configuration_problems_fail_before_anything_is_saved() -> None:
    harness = Harness([answer("never")])
    unknown_backend = _ended(await harness.collect(Agent(name="x", backend="claude"), conversation_id="a"))
    assert unknown_backend.status is RunStatus.FAILED
    assert isinstance(unknown_backend.error, UnknownBackendError)
    unknown_tool = _ended(
        await harness.collect(Agent(name="x", backend="fake", tools=("bash",)), conversation_id="b")
    )
    assert isinstance(unknown_tool.error, ToolError)
    bad_config = _ended(await harness.collect(Agent(name="x", model_config={"temp": 1}), conversation_id="c"))
    assert isinstance(bad_config.error, ConfigError)
    empty = _ended(await harness.collect(prompt="  ", conversation_id="d"))
    assert isinstance(empty.error, ConfigError)
    assert await harness.store.list_conversations() == ()
    assert harness.requests == []


# --- cancellation --------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_cancel_token_stops_a_hanging_stream_and_saves_no_partial_answer() -> None:
    harness = Harness([Hang(text="Thinking about")])
    token = CancelToken()
    events: list[RunEvent] = []
    async for event in harness.runner.stream(AGENT, "hi", conversation_id="h", cancel=token):
        events.append(event)
        if isinstance(event, TextDelta):
            token.cancel()
    ended = _ended(events)
    assert ended.status is RunStatus.CANCELLED
    assert isinstance(ended.error, RunCancelledError)
    assert await harness.history("h") == [ChatMessage.user("hi")]
    assert harness.models[0].closed


@pytest.mark.anyio
async def test_cancel_token_works_from_another_thread() -> None:
    harness = Harness([Hang()])
    token = CancelToken()
    timer = threading.Timer(0.05, token.cancel)
    timer.start()
    try:
        ended = await asyncio.wait_for(harness.runner.run(AGENT, "hi", cancel=token), timeout=5)
    finally:
        timer.cancel()
    assert ended.status is RunStatus.CANCELLED


@pytest.mark.anyio
async def test_a_token_cancelled_before_the_run_saves_nothing() -> None:
    harness = Harness([answer("never")])
    token = CancelToken()
    token.cancel()
    ended = await harness.runner.run(AGENT, "hi", conversation_id="pre", cancel=token)
    assert ended.status is RunStatus.CANCELLED
    assert await harness.history("pre") == []


def _hanging_tools() -> tuple[ToolRegistry, asyncio.Event]:
    tools = ToolRegistry()
    hanging = asyncio.Event()

    @tools.tool
    async def quick() -> str:
        return "quick result"

    @tools.tool
    async def stuck() -> str:
        hanging.set()
        await asyncio.sleep(60)
        return "never"

    return tools, hanging


STUCK_AGENT = Agent(name="s", backend="fake", tools=("quick", "stuck"))


@pytest.mark.anyio
async def test_cancelling_during_tools_answers_the_missing_calls() -> None:
    tools, hanging = _hanging_tools()
    harness = Harness([calls(_call("q", "quick"), _call("s", "stuck"), _call("q2", "quick"))], tools=tools)
    token = CancelToken()

    async def cancel_when_stuck() -> None:
        await hanging.wait()
        await asyncio.sleep(0.01)
        token.cancel()

    canceller = asyncio.create_task(cancel_when_stuck())
    events = await harness.collect(STUCK_AGENT, conversation_id="t", cancel=token)
    await canceller
    ended = _ended(events)
    assert ended.status is RunStatus.CANCELLED
    history = await harness.history("t")
    assert_consistent(history)
    results = [(m.tool_call_id, m.content, m.is_error) for m in history if m.role is Role.TOOL]
    assert results == [
        ("q", "quick result", False),
        ("s", CANCELLED_RESULT, True),
        ("q2", "quick result", False),
    ]
    finished = [e.result.call_id for e in events if isinstance(e, ToolExecutionFinished)]
    assert sorted(finished) == ["q", "q2", "s"]


@pytest.mark.anyio
async def test_task_cancellation_propagates_and_leaves_the_store_consistent() -> None:
    tools, hanging = _hanging_tools()
    harness = Harness([calls(_call("q", "quick"), _call("s", "stuck"))], tools=tools)
    task = asyncio.create_task(harness.runner.run(STUCK_AGENT, "go", conversation_id="task"))
    await hanging.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    history = await harness.history("task")
    assert_consistent(history)
    assert history[-1].content == CANCELLED_RESULT
    assert harness.models[0].closed


@pytest.mark.anyio
async def test_closing_the_stream_early_leaves_the_store_consistent() -> None:
    harness = Harness([calls(_call("e1", "echo", text="a"), _call("e2", "echo", text="b")), answer("never")])
    stream = harness.runner.stream(AGENT, "go", conversation_id="early")
    async for event in stream:
        if isinstance(event, ToolExecutionStarted):
            break
    await stream.aclose()
    history = await harness.history("early")
    assert_consistent(history)
    assert [m.content for m in history if m.role is Role.TOOL] == [CANCELLED_RESULT, CANCELLED_RESULT]
    assert harness.models[0].closed


@pytest.mark.anyio
async def test_a_task_cancelled_mid_stream_closes_the_model_stream() -> None:
    harness = Harness([Hang(text="partial")])
    task = asyncio.create_task(harness.runner.run(AGENT, "go", conversation_id="mid"))
    await asyncio.wait_for(harness.hanging.wait(), timeout=5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await harness.history("mid") == [ChatMessage.user("go")]
    assert harness.models[0].closed


# --- sync entry points ---------------------------------------------------------------------------


def test_run_sync_from_plain_sync_code() -> None:
    harness = Harness([calls(_call("a", "add", a=1, b=2)), answer("3")])
    seen: list[RunEvent] = []
    ended = harness.runner.run_sync(AGENT, "1+2?", conversation_id="sync", on_event=seen.append)
    assert ended.status is RunStatus.COMPLETED
    assert ended.response is not None
    assert ended.response.content == "3"
    assert seen[-1] == ended
    assert any(isinstance(event, ToolCallStarted) for event in seen)


@pytest.mark.anyio
async def test_run_sync_from_inside_a_running_loop() -> None:
    harness = Harness([answer("from a thread")])
    ended = harness.runner.run_sync(AGENT, "hi", conversation_id="nested")
    assert ended.status is RunStatus.COMPLETED
    assert [m.content for m in await harness.history("nested")] == ["hi", "from a thread"]


def test_iter_sync_yields_every_event_and_can_stop_early() -> None:
    harness = Harness([answer("all"), calls(_call("e", "echo", text="x")), answer("never")])
    events = list(harness.runner.iter_sync(AGENT, "hi", conversation_id="it"))
    assert isinstance(events[-1], RunEnded)
    assert TextDelta(text="all") in events
    for event in harness.runner.iter_sync(AGENT, "more", conversation_id="it"):
        if isinstance(event, ToolExecutionStarted):
            break
    history = asyncio.run(harness.history("it"))
    assert_consistent(history)
    assert history[-1].content == CANCELLED_RESULT


@pytest.mark.anyio
async def test_iter_sync_inside_a_running_loop() -> None:
    harness = Harness([answer("ok")])
    events = list(harness.runner.iter_sync(AGENT, "hi"))
    assert _ended(events).status is RunStatus.COMPLETED


# --- property: whatever happens, one terminal event and a consistent store -----------------------

outcomes = st.sampled_from(["ok", "error", "unknown", "invalid_json", "bad_args"])


def _turn(turn: int, kinds: list[str]) -> AIResponse:
    tool_calls = []
    for index, kind in enumerate(kinds):
        call_id = f"t{turn}c{index}"
        if kind == "ok":
            tool_calls.append(_call(call_id, "echo", text=call_id))
        elif kind == "error":
            tool_calls.append(_call(call_id, "boom"))
        elif kind == "unknown":
            tool_calls.append(_call(call_id, "nope"))
        elif kind == "invalid_json":
            tool_calls.append(ToolCall(id=call_id, name="add", raw_arguments="{", parse_error="bad"))
        else:
            tool_calls.append(_call(call_id, "add", a="x"))
    return calls(*tool_calls)


@given(
    turns=st.lists(st.lists(outcomes, min_size=1, max_size=3), max_size=4),
    ending=st.sampled_from(["answer", "fail", "hang"]),
    cancel_at=st.one_of(st.none(), st.integers(min_value=0, max_value=30)),
    max_turns=st.integers(min_value=1, max_value=5),
)
def test_any_run_ends_once_and_leaves_a_consistent_store(
    turns: list[list[str]], ending: str, cancel_at: int | None, max_turns: int
) -> None:
    last: Step = (
        answer("done")
        if ending == "answer"
        else Fail(error=ProviderError("down"))
        if ending == "fail"
        else Hang()
    )
    script: list[Step] = [_turn(n, kinds) for n, kinds in enumerate(turns)] + [last]
    if ending == "hang" and cancel_at is None:
        cancel_at = 10**6  # cancel when the stream hangs, below

    async def scenario() -> tuple[list[RunEvent], list[ChatMessage]]:
        harness = Harness(script, max_turns=max_turns)
        token = CancelToken()
        events: list[RunEvent] = []

        async def cancel_on_hang() -> None:
            await harness.hanging.wait()
            token.cancel()

        watcher = asyncio.create_task(cancel_on_hang())
        async for event in harness.runner.stream(AGENT, "go", conversation_id="p", cancel=token):
            events.append(event)
            if cancel_at is not None and len(events) == cancel_at:
                token.cancel()
        watcher.cancel()
        return events, await harness.history("p")

    events, history = asyncio.run(asyncio.wait_for(scenario(), timeout=10))
    ended = _ended(events)
    assert_consistent(history)
    assert list(ended.messages) == history
    assert ended.turns <= max_turns
    saved = [e.message for e in events if isinstance(e, MessageAppended)]
    assert saved == history  # every saved message was announced, in order
    started = sorted(e.call.id for e in events if isinstance(e, ToolExecutionStarted))
    finished = sorted(e.result.call_id for e in events if isinstance(e, ToolExecutionFinished))
    assert started == finished  # every call that started is reported finished, exactly once
    assert sorted(m.tool_call_id or "" for m in history if m.role is Role.TOOL) == started
    if ended.status is RunStatus.COMPLETED:
        assert history[-1].role is Role.ASSISTANT
        assert not history[-1].tool_calls
