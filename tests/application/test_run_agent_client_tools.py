"""RunAgent with client tools: the run pauses after the reply's server tools, listing every client call."""

from __future__ import annotations

import pytest

from application.service.client_tools import ClientToolRunner
from domain.events import RunEnded, RunStatus, ToolExecutionFinished
from domain.messages import ChatMessage, Role, ToolCall, ToolDefinition
from domain.model_config import Agent
from tests.application.fakes import answer, calls
from tests.application.test_run_agent import Harness, _tools

CLIENT = (
    ToolDefinition(name="bash", description="Run a command on the user's machine."),
    ToolDefinition(name="notify", description="Show a notification."),
)
AGENT = Agent(name="helper", backend="fake", tools=("add", "bash", "notify"))


def _harness(script: list) -> Harness:  # type: ignore[type-arg]
    return Harness(script, tools=ClientToolRunner(_tools(), CLIENT))  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_a_reply_with_client_calls_pauses_after_its_server_calls() -> None:
    reply = calls(
        ToolCall(id="c1", name="bash", arguments={"command": "ls"}),
        ToolCall(id="s1", name="add", arguments={"a": 1, "b": 2}),
        ToolCall(id="c2", name="notify", arguments={"title": "hi"}),
    )
    harness = _harness([reply])
    events = await harness.collect(AGENT, "go", conversation_id="c")
    ended = events[-1]
    assert isinstance(ended, RunEnded)
    assert ended.status is RunStatus.WAITING_FOR_TOOL
    assert [call.id for call in ended.pending_tool_calls] == ["c1", "c2"]
    finished = [event.result.call_id for event in events if isinstance(event, ToolExecutionFinished)]
    assert finished == ["s1"]
    history = await harness.history("c")
    assert [m.role for m in history] == [Role.USER, Role.ASSISTANT, Role.TOOL]
    assert history[-1].tool_call_id == "s1"
    assert history[-1].content == "3"


@pytest.mark.anyio
async def test_a_paused_run_continues_from_the_stored_history_once_answered() -> None:
    harness = _harness([calls(ToolCall(id="c1", name="bash", arguments={})), answer("done")])
    first = await harness.collect(AGENT, "go", conversation_id="c")
    assert isinstance(first[-1], RunEnded)
    assert first[-1].status is RunStatus.WAITING_FOR_TOOL
    call = first[-1].pending_tool_calls[0]
    await harness.store.append("c", ChatMessage.tool(call, "file.txt"))
    second = [event async for event in harness.runner.stream(AGENT, None, conversation_id="c")]
    assert isinstance(second[-1], RunEnded)
    assert second[-1].status is RunStatus.COMPLETED
    assert second[-1].response is not None
    assert second[-1].response.content == "done"
    sent = harness.requests[-1].messages
    assert [m.role for m in sent] == [Role.USER, Role.ASSISTANT, Role.TOOL]
    assert sent[-1].content == "file.txt"


@pytest.mark.anyio
async def test_continuing_an_empty_conversation_fails_with_a_reason() -> None:
    harness = _harness([])
    events = [event async for event in harness.runner.stream(AGENT, None, conversation_id="empty")]
    ended = events[-1]
    assert isinstance(ended, RunEnded)
    assert ended.status is RunStatus.FAILED
    assert ended.error is not None
    assert "empty" in ended.error.message
