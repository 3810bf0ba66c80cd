"""A run delivered again after its worker died (issue 12): it continues from the saved messages,
never saves a message twice, and tells listeners with a ``retry`` event."""

from __future__ import annotations

import attrs
import pytest

from domain.messages import AIResponse, ChatMessage
from domain.service import ConversationStatus, RunJob, RunStats
from tests.adapters.http_api.conftest import Api

pytestmark = pytest.mark.anyio


async def _redeliver(api: Api, conversation_id: str, run_id: str) -> None:
    """What a worker does with a job whose first delivery died: run it again as attempt 2."""
    user = (await api.request("GET", "/auth/user")).json()
    assert await api.service.db.conversations.claim(conversation_id, run_id)
    await api.service.run_handler(
        RunJob(run_id=run_id, conversation_id=conversation_id, owner_id=user["id"], attempt=2)
    )


async def test_a_saved_answer_is_streamed_again_not_asked_again(api: Api) -> None:
    agent = await api.agent()
    conversation = (await api.conversation(agent["id"]))["id"]
    # The first delivery saved the user message and the whole answer, then died.
    await api.service.db.messages.append(conversation, ChatMessage.user("hello"))
    await api.service.db.messages.append(conversation, ChatMessage.assistant("Hi there!"))

    await _redeliver(api, conversation, "run-2")  # the fake's script is empty: no model call

    events = await api.stream(conversation)
    assert [(e.type, e.data.get("chunk")) for e in events] == [
        ("retry", None),
        ("text_chunk", "Hi there!"),
        ("completed", None),
    ]
    full = (await api.request("GET", f"/conversations/{conversation}")).json()
    assert full["status"] == "completed"
    assert [(m["role"], m["content"]) for m in full["messages"]] == [
        ("user", "hello"),
        ("assistant", "Hi there!"),
    ]


async def test_a_run_that_died_before_the_answer_asks_the_model_once_more(api: Api) -> None:
    api.script(AIResponse(content="Fresh answer"))
    agent = await api.agent()
    conversation = (await api.conversation(agent["id"]))["id"]
    await api.service.db.messages.append(conversation, ChatMessage.user("hello"))

    await _redeliver(api, conversation, "run-2")

    events = await api.stream(conversation)
    assert events[0].type == "retry"
    assert events[-1].type == "completed"
    text = "".join(e.data["chunk"] for e in events if e.type == "text_chunk")
    assert text == "Fresh answer"
    full = (await api.request("GET", f"/conversations/{conversation}")).json()
    assert [(m["role"], m["content"]) for m in full["messages"]] == [
        ("user", "hello"),
        ("assistant", "Fresh answer"),
    ]


async def test_an_end_recorded_without_its_event_is_announced_once(api: Api) -> None:
    agent = await api.agent()
    conversation = (await api.conversation(agent["id"]))["id"]
    user = (await api.request("GET", "/auth/user")).json()
    db = api.service.db
    await db.messages.append(conversation, ChatMessage.user("hello"))
    await db.messages.append(conversation, ChatMessage.assistant("Hi"))
    assert await db.conversations.claim(conversation, "run-2")
    await db.events.append(conversation, "status_changed", {"status": "processing"})
    # The first delivery recorded the end, then died before the event announcing it.
    assert await db.conversations.end_run(
        conversation, "run-2", status=ConversationStatus.COMPLETED, stats=RunStats()
    )
    job = RunJob(run_id="run-2", conversation_id=conversation, owner_id=user["id"], attempt=2)

    await api.service.run_handler(job)
    await api.service.run_handler(attrs.evolve(job, attempt=3))  # another late delivery

    events = await api.stream(conversation)
    assert [e.type for e in events] == ["status_changed", "completed"]
    assert events[-1].data["status"] == "completed"
