"""Two API processes on one database: tool results and a stop racing each other.

Each "process" is a whole service (its own engine, in-process queue and app) over the same
SQLite file, as ``cw serve`` twice would be. The database decides who wins: each call is
answered once, exactly one result resumes the run, and a stop racing the last result leaves
one terminal event and one answer per call.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from dependency_injector import providers

from adapters.container import build_container
from adapters.http import create_app
from adapters.inprocess import InProcessRunQueue
from adapters.service import build_service
from adapters.settings import Settings
from adapters.storage.sql import Database
from domain.messages import Role, ToolCall
from domain.service import TERMINAL_EVENTS
from tests.adapters.http_api.conftest import Api, make_api
from tests.adapters.http_api.test_runs import CLIENT_TOOLS, ScriptedModels
from tests.application.fakes import answer, calls

pytestmark = pytest.mark.anyio

ROUNDS = 4


async def second_process(tmp_path: Path, models: ScriptedModels) -> AsyncIterator[Api]:
    """Another service over the first one's database file."""
    settings = Settings.load({"CW_ENV": "test"})
    container = build_container(settings=settings)
    container.fake_script.override(providers.Object(()))
    container.backends.override(providers.Object(models.registry()))
    service = await build_service(
        settings, container=container, db=Database(f"sqlite:///{tmp_path / 'cw.db'}")
    )
    transport = httpx.ASGITransport(app=create_app(service))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        try:
            yield Api(service=service, client=client)
        finally:
            await service.aclose()


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[tuple[Api, Api, ScriptedModels]]:
    models = ScriptedModels()
    async for first in make_api(tmp_path, backends=models.registry()):
        first.token = await first.register()
        async for second in second_process(tmp_path, models):
            second.token = first.token
            yield first, second, models


async def paused(api: Api, *call_ids: str) -> tuple[str, int]:
    """A conversation whose run waits for the client calls ``call_ids``; its id and the
    ``tool_request`` event's id."""
    agent = await api.agent()
    conversation = await api.conversation(agent["id"], client_tool_schemas=CLIENT_TOOLS)
    await api.request("POST", f"/conversations/{conversation['id']}/messages", json={"content": "go"})
    events = await api.stream(conversation["id"])
    assert events[-1].type == "tool_request"
    assert [r["call_id"] for r in events[-1].data["tool_requests"]] == list(call_ids)
    return conversation["id"], events[-1].id


async def test_the_last_results_arriving_at_two_processes_resume_the_run_once(
    pair: tuple[Api, Api, ScriptedModels],
) -> None:
    first, second, models = pair
    for round in range(ROUNDS):
        models.script.extend(
            [calls(ToolCall(id="c1", name="bash"), ToolCall(id="c2", name="notify")), answer(f"done {round}")]
        )
        conversation_id, after = await paused(first, "c1", "c2")
        asked = len(models.requests)
        path = f"/conversations/{conversation_id}/tool-results"
        replies = await asyncio.gather(
            first.request("POST", path, json={"call_id": "c1", "success": True, "output": "one"}),
            second.request("POST", path, json={"call_id": "c2", "success": True, "output": "two"}),
        )
        assert [reply.status_code for reply in replies] == [202, 202]
        statuses = sorted(reply.json()["status"] for reply in replies)
        assert statuses == ["processing", "waiting_for_tool"]
        resumed = await first.stream(conversation_id, after=after)
        assert resumed[-1].type == "completed"
        assert len(models.requests) == asked + 1  # one resumed run asked the model once
        sent = models.requests[-1].messages
        assert [(m.tool_call_id, m.content) for m in sent if m.role is Role.TOOL] == [
            ("c1", "one"),
            ("c2", "two"),
        ]


async def test_a_stop_and_the_last_result_at_two_processes_leave_one_end_and_one_answer(
    pair: tuple[Api, Api, ScriptedModels],
) -> None:
    first, second, models = pair
    for round in range(ROUNDS):
        models.script[:] = [calls(ToolCall(id="c1", name="bash")), answer(f"done {round}")]
        conversation_id, after = await paused(first, "c1")
        stopper, answerer = (first, second) if round % 2 else (second, first)
        path = f"/conversations/{conversation_id}"
        stop, result = await asyncio.gather(
            stopper.request("POST", f"{path}/stop"),
            answerer.request("POST", f"{path}/tool-results", json={"call_id": "c1", "success": True}),
        )
        assert stop.status_code == 200
        assert result.status_code in (202, 409)
        ended = await first.stream(conversation_id, after=after)
        terminal = [event.type for event in ended if event.type in TERMINAL_EVENTS]
        assert len(terminal) == 1
        if result.status_code == 409:  # the stop won before the result came
            assert terminal == ["cancelled"]
        history = (await first.request("GET", path)).json()["messages"]
        answers: list[Any] = [m for m in history if m.get("tool_call_id") == "c1"]
        assert len(answers) == 1
        await _settled(first, second, conversation_id)


async def _settled(first: Api, second: Api, conversation_id: str) -> None:
    """Wait (bounded by count) until no run owns the conversation and neither process still
    executes one (a stop cannot reach another process's in-process task; it ends on its own)."""
    for _ in range(400):
        status = (await first.request("GET", f"/conversations/{conversation_id}/status")).json()
        busy = status["status"] in ("processing", "waiting_for_tool")
        queues = [api.service.queue for api in (first, second)]
        assert all(isinstance(queue, InProcessRunQueue) for queue in queues)
        if not busy and all(queue.running == 0 for queue in queues):  # type: ignore[attr-defined]
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the conversation is still {status['status']}")
