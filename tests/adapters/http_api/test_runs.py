"""Conversations and their runs over the API: messages, SSE, client tools, stop, resume."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from application.registry import BackendEntry, BackendRegistry
from domain.messages import AIResponse, ToolCall, Usage
from domain.model_config import NormalizedModelConfig
from tests.adapters.http_api.conftest import Api, make_api
from tests.application.fakes import FakeChatModel, Hang, Request, Step, answer, calls

pytestmark = pytest.mark.anyio

CLIENT_TOOLS = [
    {"name": "bash", "description": "Run a command", "parameters": {"type": "object", "properties": {}}},
    {"name": "notify", "description": "Notify", "parameters": {"type": "object", "properties": {}}},
]


class ScriptedModels:
    """A backend registry whose ``fake`` backend replays `tests.application.fakes` steps (hangs too)."""

    def __init__(self) -> None:
        self.script: list[Step] = []
        self.requests: list[Request] = []
        self.hanging = asyncio.Event()
        self.models: list[FakeChatModel] = []

    def registry(self) -> BackendRegistry:
        entry = BackendEntry(name="fake", driver="fake", factory=self._make, settings={"model": "fake-model"})
        return BackendRegistry([entry], default_backend="fake")

    def _make(self, config: NormalizedModelConfig) -> FakeChatModel:
        model = FakeChatModel(
            config=config, requests=self.requests, shared_script=self.script, hanging=self.hanging
        )
        self.models.append(model)
        return model


@pytest.fixture
async def scripted(tmp_path: Path) -> AsyncIterator[tuple[Api, ScriptedModels]]:
    models = ScriptedModels()
    async for api in make_api(tmp_path, backends=models.registry()):
        api.token = await api.register()
        yield api, models


async def _status(api: Api, conversation_id: str) -> dict[str, Any]:
    response = await api.request("GET", f"/conversations/{conversation_id}/status")
    assert response.status_code == 200
    return dict(response.json())


async def _say_go(api: Api, conversation: dict[str, Any]) -> tuple[str, list[Any]]:
    """Send "go" to ``conversation``: its path, and the events of the run that answers."""
    path = f"/conversations/{conversation['id']}"
    await api.request("POST", f"{path}/messages", json={"content": "go"})
    return path, await api.stream(conversation["id"])


async def test_a_message_runs_in_the_background_and_is_kept(api: Api) -> None:
    api.script(AIResponse(content="Hi!", usage=Usage(prompt_tokens=4, completion_tokens=2, total_tokens=6)))
    agent = await api.agent()
    conversation = await api.conversation(agent["id"], title="t", metadata={"max_turns": 3})
    assert conversation["status"] == "idle"
    sent = await api.request(
        "POST", f"/conversations/{conversation['id']}/messages", json={"content": "hello"}
    )
    assert sent.status_code == 202
    body = sent.json()
    assert set(body) == {"status", "conversation_id", "run_id", "stream_url", "status_url"}
    assert body["status"] == "processing"
    events = await api.stream(conversation["id"])
    assert [e.type for e in events] == ["status_changed", "text_chunk", "completed"]
    assert [e.id for e in events] == [1, 2, 3]
    assert events[1].data == {"chunk": "Hi!", "type": "content"}
    assert events[-1].data["stats"] == {
        "turns": 1,
        "prompt_tokens": 4,
        "completion_tokens": 2,
        "total_tokens": 6,
    }
    status = await _status(api, conversation["id"])
    assert status["status"] == "completed"
    assert status["stats"]["total_tokens"] == 6
    full = (await api.request("GET", f"/conversations/{conversation['id']}")).json()
    assert [(m["role"], m["content"]) for m in full["messages"]] == [("user", "hello"), ("assistant", "Hi!")]
    assert full["usage"] == {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6}
    # A second run: its stream_url carries exactly its own events.
    api.script(AIResponse(content="Again"))
    again = await api.request(
        "POST", f"/conversations/{conversation['id']}/messages", json={"content": "more"}
    )
    url = again.json()["stream_url"]
    assert url.endswith("?after=3")
    second = await api.stream(conversation["id"], after=3)
    assert [e.id for e in second] == [4, 5, 6]
    latest = await api.stream(conversation["id"])  # no cursor: the latest run
    assert [e.id for e in latest] == [4, 5, 6]
    listed = (await api.request("GET", "/conversations", params={"agent_id": agent["id"]})).json()
    assert listed["meta"]["total"] == 1


async def test_resuming_after_any_event_id_yields_exactly_the_rest(api: Api) -> None:
    api.script(AIResponse(content="one two three"))
    agent = await api.agent()
    conversation = await api.conversation(agent["id"])
    await api.request("POST", f"/conversations/{conversation['id']}/messages", json={"content": "go"})
    everything = await api.stream(conversation["id"], after=0)
    assert everything[-1].type == "completed"
    for position, event in enumerate(everything):  # after the terminal event: nothing, and it closes
        by_header = await api.stream(conversation["id"], **{"Last-Event-ID": str(event.id)})
        by_query = await api.stream(conversation["id"], after=event.id)
        assert by_header == by_query == everything[position + 1 :]


async def test_a_busy_conversation_refuses_a_second_message_and_stops(
    scripted: tuple[Api, ScriptedModels],
) -> None:
    api, models = scripted
    models.script.append(Hang(text="partial"))
    agent = await api.agent()
    conversation = await api.conversation(agent["id"])
    path = f"/conversations/{conversation['id']}"
    first, second = await asyncio.gather(
        api.request("POST", f"{path}/messages", json={"content": "a"}),
        api.request("POST", f"{path}/messages", json={"content": "b"}),
    )
    assert sorted([first.status_code, second.status_code]) == [202, 409]
    await asyncio.wait_for(models.hanging.wait(), 30)
    assert (await api.request("POST", f"{path}/messages", json={"content": "c"})).status_code == 409
    stopped = await api.request("POST", f"{path}/stop")
    assert stopped.status_code == 200
    assert stopped.json() == {"status": "cancelled"}
    events = await api.stream(conversation["id"])
    assert events[-1].type == "cancelled"
    assert [e.type for e in events].count("cancelled") == 1
    assert "stats" in events[-1].data
    assert (await _status(api, conversation["id"]))["status"] == "cancelled"
    assert models.models[-1].closed  # the model stream was closed
    assert (await api.request("POST", f"{path}/stop")).status_code == 409


async def test_client_tools_pause_with_every_call_and_resume_when_all_are_answered(
    scripted: tuple[Api, ScriptedModels],
) -> None:
    api, models = scripted
    models.script.extend(
        [
            calls(
                ToolCall(id="c1", name="bash", arguments={"command": "ls"}), ToolCall(id="c2", name="notify")
            ),
            answer("all done"),
        ]
    )
    agent = await api.agent()
    conversation = await api.conversation(agent["id"], client_tool_schemas=CLIENT_TOOLS)
    path, events = await _say_go(api, conversation)
    assert events[-1].type == "tool_request"
    requested = events[-1].data["tool_requests"]
    assert [r["call_id"] for r in requested] == ["c1", "c2"]
    assert requested[0] == {"call_id": "c1", "name": "bash", "arguments": {"command": "ls"}}
    assert "tool_executing" not in [e.type for e in events]
    status = await _status(api, conversation["id"])
    assert status["status"] == "waiting_for_tool"
    assert [r["call_id"] for r in status["tool_requests"]] == ["c1", "c2"]
    assert (await api.request("POST", f"{path}/messages", json={"content": "x"})).status_code == 409

    unknown = await api.request("POST", f"{path}/tool-results", json={"call_id": "nope", "success": True})
    assert unknown.status_code == 422
    assert "call_id" in unknown.json()["errors"]
    first = await api.request(
        "POST", f"{path}/tool-results", json={"call_id": "c1", "success": True, "output": "a.txt"}
    )
    assert first.status_code == 202
    assert first.json()["status"] == "waiting_for_tool"
    assert first.json()["pending"] == ["c2"]
    # Still waiting for c2: resuming after the tool_request has nothing to wait for, so it closes.
    assert await api.stream(conversation["id"], after=events[-1].id) == []
    twice = await api.request(
        "POST", f"{path}/tool-results", json={"call_id": "c1", "success": True, "output": "x"}
    )
    assert twice.status_code == 409
    last = await api.request(
        "POST", f"{path}/tool-results", json={"call_id": "c2", "success": False, "error": "user refused"}
    )
    assert last.status_code == 202
    assert last.json()["status"] == "processing"
    resumed = await api.stream(conversation["id"], after=events[-1].id)
    assert resumed[-1].type == "completed"
    sent = models.requests[-1].messages
    tool_messages = [m for m in sent if m.role == "tool"]
    assert [(m.tool_call_id, m.is_error) for m in tool_messages] == [("c1", False), ("c2", True)]
    assert tool_messages[0].content == "a.txt"
    assert "user refused" in tool_messages[1].content
    late = await api.request("POST", f"{path}/tool-results", json={"call_id": "c2", "success": True})
    assert late.status_code == 409


async def test_stopping_a_run_that_waits_for_the_client(scripted: tuple[Api, ScriptedModels]) -> None:
    api, models = scripted
    models.script.append(calls(ToolCall(id="c1", name="bash")))
    agent = await api.agent()
    conversation = await api.conversation(agent["id"], client_tool_schemas=CLIENT_TOOLS)
    path, paused = await _say_go(api, conversation)
    assert paused[-1].type == "tool_request"
    assert (await api.request("POST", f"{path}/stop")).status_code == 200
    after = await api.stream(conversation["id"], after=paused[-1].id)
    assert [e.type for e in after] == ["cancelled"]
    full = (await api.request("GET", path)).json()
    assert full["messages"][-1]["tool_call_id"] == "c1"  # the history stays consistent


async def test_max_turns_is_a_terminal_event(scripted: tuple[Api, ScriptedModels]) -> None:
    api, models = scripted
    models.script.extend([calls(ToolCall(id=f"c{i}", name="missing")) for i in range(2)])
    agent = await api.agent()
    conversation = await api.conversation(agent["id"], metadata={"max_turns": 2})
    await api.request("POST", f"/conversations/{conversation['id']}/messages", json={"content": "loop"})
    events = await api.stream(conversation["id"])
    assert events[-1].type == "max_turns"
    assert events[-1].data["stats"]["turns"] == 2
    assert "tool_completed" in [e.type for e in events]


async def test_max_turns_bounds_the_whole_run_across_client_tool_pauses(
    scripted: tuple[Api, ScriptedModels],
) -> None:
    api, models = scripted
    models.script.extend(
        [calls(ToolCall(id="c1", name="bash")), calls(ToolCall(id="c2", name="bash")), answer("a third turn")]
    )
    agent = await api.agent()
    conversation = await api.conversation(
        agent["id"], client_tool_schemas=CLIENT_TOOLS, metadata={"max_turns": 2}
    )
    path, events = await _say_go(api, conversation)
    for call_id in ("c1", "c2"):
        assert events[-1].type == "tool_request"
        assert [r["call_id"] for r in events[-1].data["tool_requests"]] == [call_id]
        sent = await api.request("POST", f"{path}/tool-results", json={"call_id": call_id, "success": True})
        assert sent.status_code == 202
        events = await api.stream(conversation["id"], after=events[-1].id)
    assert events[-1].type == "max_turns"
    assert events[-1].data["stats"]["turns"] == 2
    assert len(models.requests) == 2  # the second resume did not ask the model a third time
    assert (await _status(api, conversation["id"]))["status"] == "max_turns"
    full = (await api.request("GET", path)).json()
    assert full["messages"][-1]["tool_call_id"] == "c2"  # the answer is kept, the history consistent


async def test_a_failing_backend_ends_the_run_failed_with_the_reason(api: Api) -> None:
    agent = await api.agent()  # the fake backend's script is empty: the call fails
    conversation = await api.conversation(agent["id"])
    await api.request("POST", f"/conversations/{conversation['id']}/messages", json={"content": "hi"})
    events = await api.stream(conversation["id"])
    assert events[-1].type == "failed"
    assert events[-1].data["error"]
    status = await _status(api, conversation["id"])
    assert status["status"] == "failed"
    assert status["error"] == events[-1].data["error"]


async def test_deleting_a_conversation_and_others_data(api: Api) -> None:
    agent = await api.agent()
    conversation = await api.conversation(agent["id"])
    other = await api.register(email="eve@example.com", name="Eve")
    path = f"/conversations/{conversation['id']}"
    for method, suffix in (
        ("GET", ""),
        ("GET", "/status"),
        ("GET", "/stream"),
        ("POST", "/stop"),
        ("DELETE", ""),
    ):
        response = await api.request(method, path + suffix, token=other)
        assert response.status_code == 404, (method, suffix)
    assert (
        await api.request("POST", f"{path}/messages", token=other, json={"content": "x"})
    ).status_code == 404
    assert (await api.request("DELETE", path)).status_code == 204
    assert (await api.request("GET", path)).status_code == 404


async def test_ghost_runs_return_the_whole_result_or_stream_it(api: Api) -> None:
    api.script(AIResponse(content="ghostly"), AIResponse(content="again"))
    agent = await api.agent()
    result = await api.request(
        "POST",
        f"/agents/{agent['id']}/ghost",
        json={
            "content": "boo",
            "messages": [{"role": "user", "content": "earlier"}, {"role": "assistant", "content": "ok"}],
        },
    )
    assert result.status_code == 200, result.text
    body = result.json()
    assert body["status"] == "completed"
    assert [m["content"] for m in body["messages"]] == ["earlier", "ok", "boo", "ghostly"]
    from tests.adapters.http_api.sse import parse_sse

    streamed = await api.request("POST", f"/agents/{agent['id']}/ghost/stream", json={"content": "boo"})
    events = parse_sse(streamed.text)
    assert [e.type for e in events] == ["text_chunk", "completed"]
    assert events[-1].data["messages"][-1]["content"] == "again"
    assert (
        await api.request("POST", f"/agents/{agent['id']}/ghost", json={"content": ""})
    ).status_code == 422
    assert (await api.request("POST", "/agents/nope/ghost", json={"content": "x"})).status_code == 404


async def test_server_tools_of_a_reply_run_before_it_pauses_for_its_client_tools(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("the answer is 42\n")
    models = ScriptedModels()
    models.script.extend(
        [
            calls(
                ToolCall(id="c1", name="bash", arguments={"command": "ls"}),
                ToolCall(id="s1", name="read", arguments={"file_path": "notes.txt"}),
            ),
            answer("42"),
        ]
    )
    async for api in make_api(tmp_path, {"CW_WORKSPACE": str(tmp_path)}, backends=models.registry()):
        api.token = await api.register()
        agent = await api.agent(tools=["read"])
        conversation = await api.conversation(agent["id"], client_tool_schemas=CLIENT_TOOLS)
        path, events = await _say_go(api, conversation)
        types = [e.type for e in events]
        assert types.index("tool_executing") < types.index("tool_completed") < types.index("tool_request")
        executing = next(e for e in events if e.type == "tool_executing")
        assert executing.data == {"call_id": "s1", "name": "read", "arguments": {"file_path": "notes.txt"}}
        completed = next(e for e in events if e.type == "tool_completed")
        assert completed.data["success"] is True, completed.data
        assert "the answer is 42" in completed.data["content"]
        assert [r["call_id"] for r in events[-1].data["tool_requests"]] == ["c1"]
        answered = await api.request(
            "POST", f"{path}/tool-results", json={"call_id": "c1", "success": True, "output": "x"}
        )
        assert answered.json()["status"] == "processing"
        resumed = await api.stream(conversation["id"], after=events[-1].id)
        assert resumed[-1].type == "completed"
        sent = models.requests[-1].messages
        assert sorted(m.tool_call_id for m in sent if m.role == "tool") == ["c1", "s1"]


async def test_images_are_taken_as_data_urls_or_base64_and_refused_otherwise(api: Api) -> None:
    import base64

    api.script(AIResponse(content="a cat"))
    agent = await api.agent()
    conversation = await api.conversation(agent["id"])
    path = f"/conversations/{conversation['id']}"
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16).decode()
    bad = await api.request("POST", f"{path}/messages", json={"content": "look", "images": ["not an image!"]})
    assert bad.status_code == 422
    assert "images.0" in bad.json()["errors"]
    sent = await api.request(
        "POST", f"{path}/messages", json={"content": "look", "images": [png, "data:image/png;base64," + png]}
    )
    assert sent.status_code == 202, sent.text
    events = await api.stream(conversation["id"])
    assert events[-1].type == "completed"
    messages = (await api.request("GET", path)).json()["messages"]
    assert messages[0]["images"] == 2
