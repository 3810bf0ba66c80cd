"""`ExecuteRun` on the real database: stale deliveries do nothing; a redelivery says so first."""

from __future__ import annotations

import pytest

from domain.messages import AIResponse, ChatMessage
from domain.service import RunJob
from tests.adapters.http_api.conftest import Api

pytestmark = pytest.mark.anyio


async def test_a_job_for_a_run_that_no_longer_owns_the_conversation_does_nothing(api: Api) -> None:
    agent = await api.agent()
    conversation = await api.conversation(agent["id"])
    owner = (await api.request("GET", "/auth/user")).json()["id"]
    stale = RunJob(run_id="not-the-current-run", conversation_id=conversation["id"], owner_id=owner)
    await api.service.run_handler(stale)
    assert await api.service.events.read(conversation["id"]) == ()
    status = (await api.request("GET", f"/conversations/{conversation['id']}/status")).json()
    assert status["status"] == "idle"


async def test_a_queued_run_of_a_deleted_agent_writes_nothing(api: Api) -> None:
    agent = await api.agent()
    conversation = await api.conversation(agent["id"])
    owner = (await api.request("GET", "/auth/user")).json()["id"]
    db = api.service.db
    assert await db.conversations.claim(conversation["id"], "run-1")
    await db.agents.delete(owner, agent["id"])  # its conversations go with it
    await api.service.run_handler(RunJob(run_id="run-1", conversation_id=conversation["id"], owner_id=owner))
    assert await api.service.events.read(conversation["id"]) == ()


async def test_a_redelivered_job_tells_clients_to_drop_the_partial_reply(api: Api) -> None:
    api.script(AIResponse(content="again"))
    agent = await api.agent()
    conversation = await api.conversation(agent["id"])
    owner = (await api.request("GET", "/auth/user")).json()["id"]
    db = api.service.db
    assert await db.conversations.claim(conversation["id"], "run-1")
    await db.messages.append(conversation["id"], ChatMessage.user("hi"))
    job = RunJob(run_id="run-1", conversation_id=conversation["id"], owner_id=owner, attempt=2)
    await api.service.run_handler(job)
    events = await api.service.events.read(conversation["id"])
    assert [e.type for e in events] == ["retry", "text_chunk", "completed"]
    assert events[0].data == {"attempt": 2}
