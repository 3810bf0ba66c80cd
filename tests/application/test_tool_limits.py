"""Tools cannot hold a run hostage: a per-reply cap, a time limit, cancellation that never waits (issue 9)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from application.cancel import CancelToken
from application.run_agent import DEFAULT_MAX_TOOL_CALLS, RunAgent
from application.tools import ToolRegistry
from domain.events import RunEnded, RunStatus, ToolExecutionFinished
from domain.messages import Role, ToolCall
from domain.model_config import Agent
from tests.application.fakes import answer, calls
from tests.application.test_run_agent import Harness, assert_consistent

GENEROUS = 60.0  # seconds; only reached when shutdown waits for a stuck tool (the bug)


def _counting_tools() -> tuple[ToolRegistry, list[int]]:
    tools = ToolRegistry()
    ran: list[int] = []

    @tools.tool
    def ping(n: int) -> str:
        """Answer."""
        ran.append(n)
        return f"pong {n}"

    return tools, ran


@pytest.mark.anyio
async def test_calls_past_the_per_reply_cap_are_answered_with_an_error_and_never_run() -> None:
    tools, ran = _counting_tools()
    flood = calls(*(ToolCall(id=f"c{n}", name="ping", arguments={"n": n}) for n in range(500)))
    harness = Harness([flood, answer("done")], tools=tools)
    harness.runner = RunAgent(harness.runner.backends, harness.store, tools, max_tool_calls=5)
    events = [
        event
        async for event in harness.runner.stream(Agent(name="p", tools=("ping",)), "go", conversation_id="f")
    ]
    assert isinstance(events[-1], RunEnded)
    assert events[-1].status is RunStatus.COMPLETED
    assert sorted(ran) == [0, 1, 2, 3, 4]  # 10^5 calls all ran: 745 MB, 77 s
    history = await harness.history("f")
    assert_consistent(history)
    results = [m for m in history if m.role is Role.TOOL]
    assert len(results) == 500
    assert [m.content for m in results[:5]] == [f"pong {n}" for n in range(5)]
    refused = results[5:]
    assert all(m.is_error and "at most 5 run per reply" in m.content for m in refused)
    assert len([e for e in events if isinstance(e, ToolExecutionFinished)]) == 500


def test_the_cap_has_a_default_and_refuses_nonsense() -> None:
    assert DEFAULT_MAX_TOOL_CALLS == 32
    tools, _ = _counting_tools()
    harness = Harness([], tools=tools)
    assert harness.runner.max_tool_calls == DEFAULT_MAX_TOOL_CALLS
    with pytest.raises(ValueError, match="max_tool_calls"):
        RunAgent(harness.runner.backends, harness.store, tools, max_tool_calls=0)


def test_a_blocking_tool_never_holds_up_cancellation_or_loop_shutdown() -> None:
    release = threading.Event()
    started = threading.Event()
    tools = ToolRegistry()  # no timeout at all: only cancellation can end the call

    @tools.tool
    def stuck() -> str:
        """Blocks until released."""
        started.set()
        release.wait()
        return "late"

    token = CancelToken()
    outcome: dict[str, Any] = {}

    def main() -> None:
        harness = Harness([calls(ToolCall(id="s", name="stuck", arguments={})), answer("never")], tools=tools)

        async def go() -> RunEnded:
            canceller = asyncio.get_running_loop().run_in_executor(None, _cancel_when, started, token)
            ended = await harness.runner.run(Agent(name="s", tools=("stuck",)), "go", cancel=token)
            await canceller
            return ended

        outcome["ended"] = asyncio.run(go())  # asyncio.run joins the default executor at shutdown

    thread = threading.Thread(target=main, daemon=True)
    thread.start()
    thread.join(GENEROUS)
    try:
        assert not thread.is_alive(), "shutdown waited for the blocked tool"
        assert outcome["ended"].status is RunStatus.CANCELLED
        assert not release.is_set()  # the tool was still blocked when the loop had closed
    finally:
        release.set()


def _cancel_when(started: threading.Event, token: CancelToken) -> None:
    started.wait(GENEROUS)
    token.cancel()


@pytest.mark.anyio
async def test_a_tool_over_its_time_limit_is_answered_with_a_timeout_result() -> None:
    release = threading.Event()
    tools = ToolRegistry(default_timeout=0.05)

    @tools.tool
    def slow() -> str:
        """Blocks until released."""
        release.wait()
        return "late"

    try:
        result = await tools.run(ToolCall(id="t", name="slow", arguments={}))
    finally:
        release.set()
    assert result.is_error
    assert "did not finish within 0.05 seconds" in result.content
