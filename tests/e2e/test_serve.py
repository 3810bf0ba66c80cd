"""``cw serve`` end to end: a real server process on a loopback port, the HF backend pointed at
the project's scripted router (`ScriptedServer`), talked to over real HTTP and SSE.

Register, create a huggingface agent, converse, follow the stream to its terminal event; client
tools with two calls in one reply; stop in the middle of a slow stream; SIGTERM cancels a run
with its terminal event; a restart finds everything again and marks a crashed run failed.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.llm.testing.scripted_server import ScriptedResponse, ScriptedServer
from tests.e2e.conftest import HF_KEY, text_reply, tool_reply
from tests.servers import free_port

pytestmark = pytest.mark.anyio

GENEROUS = 60.0
COMPLETIONS = "/v1/chat/completions"
CW = Path(sys.executable).with_name("cw")


async def _until(condition: Any) -> None:
    for _ in range(int(GENEROUS * 20)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the condition never came true")


def _events(response_text: str) -> list[dict[str, Any]]:
    from tests.adapters.http_api.sse import parse_sse

    return [{"id": e.id, "type": e.type, "data": e.data} for e in parse_sse(response_text)]


class Serve:
    """One ``cw serve`` process on a free loopback port, restartable on the same database."""

    def __init__(self, tmp_path: Path, router_url: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/api/v1"
        self.env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("CW_", "HUGGINGFACE_", "OLLAMA_", "OPENAI_", "ANTHROPIC_", "AI_"))
        }
        self.env.update(
            {
                "CW_DATABASE_URL": f"sqlite:///{tmp_path / 'cw.db'}",
                "CW_ENV_FILE": str(tmp_path / "none.env"),
                "AI_BACKEND": "huggingface",
                "HUGGINGFACE_API_KEY": HF_KEY,
                "HUGGINGFACE_BASE_URL": router_url + "/v1",
                "HUGGINGFACE_MAX_RETRIES": "0",
            }
        )
        (tmp_path / "none.env").write_text("")
        self.cwd = tmp_path
        self.process: asyncio.subprocess.Process | None = None
        self.output = b""

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            str(CW), "serve", "--port", str(self.port), env=self.env, cwd=self.cwd,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        async with httpx.AsyncClient() as client:
            for _ in range(600):
                try:
                    if (await client.get(self.url + "/auth/user")).status_code == 401:
                        return
                except httpx.TransportError:
                    pass
                if self.process.returncode is not None:
                    break
                await asyncio.sleep(0.1)
        raise AssertionError(f"cw serve did not start: {await self.stop()}")

    async def stop(self, sig: int = signal.SIGTERM) -> tuple[int | None, str]:
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(sig)
        out, _ = await asyncio.wait_for(self.process.communicate(), GENEROUS)
        self.output += out or b""
        return self.process.returncode, self.output.decode(errors="replace")


@pytest.fixture
async def router() -> AsyncIterator[ScriptedServer]:
    async with ScriptedServer() as server:
        yield server


@pytest.fixture
async def serve(tmp_path: Path, router: ScriptedServer) -> AsyncIterator[Serve]:
    server = Serve(tmp_path, router.url)
    await server.start()
    try:
        yield server
    finally:
        if server.process is not None and server.process.returncode is None:
            await server.stop(signal.SIGKILL)


async def _signed_in(client: httpx.AsyncClient, url: str) -> None:
    response = await client.post(
        url + "/auth/register", json={"name": "Ada", "email": "ada@example.com", "password": "longenough"}
    )
    assert response.status_code == 201, response.text
    client.headers["Authorization"] = "Bearer " + response.json()["token"]


async def _hf_conversation(client: httpx.AsyncClient, url: str, **fields: Any) -> str:
    agent = await client.post(
        url + "/agents",
        json={
            "name": "router agent",
            "ai_backend": "huggingface",
            "model_config": {"model": "meta-llama/Llama-3.1-8B-Instruct", "provider": "fastest"},
        },
    )
    assert agent.status_code == 201, agent.text
    conversation = await client.post(url + f"/agents/{agent.json()['id']}/conversations", json=fields)
    assert conversation.status_code == 201, conversation.text
    return str(conversation.json()["id"])


async def _stream(
    client: httpx.AsyncClient, url: str, conversation_id: str, after: int | None = None
) -> list[Any]:
    params = {"after": after} if after is not None else {}
    response = await asyncio.wait_for(
        client.get(url + f"/conversations/{conversation_id}/stream", params=params), GENEROUS
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    return _events(response.text)


async def test_a_conversation_end_to_end_survives_a_restart(serve: Serve, router: ScriptedServer) -> None:
    router.enqueue(COMPLETIONS, ScriptedResponse(chunks=(text_reply("Hello from the router", pieces=4),)))
    async with httpx.AsyncClient(timeout=GENEROUS) as client:
        await _signed_in(client, serve.url)
        backends = (await client.get(serve.url + "/ai-backends")).json()
        hf = next(b for b in backends["backends"] if b["name"] == "huggingface")
        assert hf["status"] == "connected"
        assert HF_KEY not in json.dumps(backends)
        conversation_id = await _hf_conversation(client, serve.url)
        sent = await client.post(
            serve.url + f"/conversations/{conversation_id}/messages", json={"content": "hi"}
        )
        assert sent.status_code == 202
        events = await _stream(client, serve.url, conversation_id)
        assert events[0]["type"] == "status_changed"
        assert events[-1]["type"] == "completed"
        text = "".join(e["data"]["chunk"] for e in events if e["type"] == "text_chunk")
        assert text == "Hello from the router"
        assert events[-1]["data"]["stats"]["total_tokens"] == 18
        status = (await client.get(serve.url + f"/conversations/{conversation_id}/status")).json()
        assert status["status"] == "completed"
        sent_body = router.requests[-1].json()
        assert sent_body["model"].startswith("meta-llama/Llama-3.1-8B-Instruct")

        code, output = await serve.stop()
        assert code == 0, output
        assert "Database: SQLite file" in output
        assert f"http://127.0.0.1:{serve.port}/api/v1" in output
        await serve.start()
        again = (await client.get(serve.url + f"/conversations/{conversation_id}")).json()
        assert [(m["role"], m["content"]) for m in again["messages"]] == [
            ("user", "hi"),
            ("assistant", "Hello from the router"),
        ]
        assert again["status"] == "completed"
        replay = await _stream(client, serve.url, conversation_id)
        assert replay == events


async def test_client_tools_pause_and_resume_over_http(serve: Serve, router: ScriptedServer) -> None:
    router.enqueue(
        COMPLETIONS,
        ScriptedResponse(
            chunks=(tool_reply(("c1", "bash", {"command": "ls"}), ("c2", "notify", {"title": "x"})),)
        ),
        ScriptedResponse(chunks=(text_reply("Both done"),)),
    )
    tools = [
        {"name": "bash", "description": "Run a command", "parameters": {"type": "object", "properties": {}}},
        {"name": "notify", "description": "Notify", "parameters": {"type": "object", "properties": {}}},
    ]
    async with httpx.AsyncClient(timeout=GENEROUS) as client:
        await _signed_in(client, serve.url)
        conversation_id = await _hf_conversation(client, serve.url, client_tool_schemas=tools)
        path = serve.url + f"/conversations/{conversation_id}"
        await client.post(path + "/messages", json={"content": "go"})
        paused = await _stream(client, serve.url, conversation_id)
        assert paused[-1]["type"] == "tool_request"
        assert [r["call_id"] for r in paused[-1]["data"]["tool_requests"]] == ["c1", "c2"]
        first = await client.post(
            path + "/tool-results", json={"call_id": "c1", "success": True, "output": "a.txt"}
        )
        assert first.json()["status"] == "waiting_for_tool"
        second = await client.post(
            path + "/tool-results", json={"call_id": "c2", "success": True, "output": "ok"}
        )
        assert second.status_code == 202
        assert second.json()["status"] == "processing"
        resumed = await _stream(client, serve.url, conversation_id, after=paused[-1]["id"])
        assert resumed[-1]["type"] == "completed"
        tool_messages = [m for m in router.requests[-1].json()["messages"] if m["role"] == "tool"]
        assert [(m["tool_call_id"], m["content"]) for m in tool_messages] == [("c1", "a.txt"), ("c2", "ok")]


async def test_stop_ends_a_slow_stream_at_once(serve: Serve, router: ScriptedServer) -> None:
    body = text_reply("one two three four five six", pieces=6)
    pieces = [piece + b"\n\n" for piece in body.split(b"\n\n") if piece]
    router.enqueue(COMPLETIONS, ScriptedResponse(chunks=tuple(pieces), stall_after=2))
    async with httpx.AsyncClient(timeout=GENEROUS) as client:
        await _signed_in(client, serve.url)
        conversation_id = await _hf_conversation(client, serve.url)
        path = serve.url + f"/conversations/{conversation_id}"
        await client.post(path + "/messages", json={"content": "go"})
        seen: list[str] = []
        async with client.stream("GET", path + "/stream") as stream:
            async for line in stream.aiter_lines():
                if line.startswith("event:"):
                    seen.append(line.split(":", 1)[1].strip())
                    if seen[-1] == "text_chunk" and "stop" not in seen:
                        seen.append("stop")
                        stopped = await client.post(path + "/stop")
                        assert stopped.json() == {"status": "cancelled"}
        assert seen[-1] == "cancelled"
        await asyncio.wait_for(
            router.requests[-1].disconnected.wait(), GENEROUS
        )  # the model stream was closed
        status = (await client.get(path + "/status")).json()
        assert status["status"] == "cancelled"


async def test_sigterm_cancels_runs_in_flight_and_a_crash_is_marked_failed(
    serve: Serve, router: ScriptedServer
) -> None:
    stalled = ScriptedResponse(chunks=(text_reply("never finishes", pieces=2),), stall_after=0)
    router.enqueue(COMPLETIONS, stalled, stalled)
    async with httpx.AsyncClient(timeout=GENEROUS) as client:
        await _signed_in(client, serve.url)
        first = await _hf_conversation(client, serve.url)
        await client.post(serve.url + f"/conversations/{first}/messages", json={"content": "go"})
        await _until(lambda: len(router.requests) >= 1)
        code, output = await serve.stop(signal.SIGTERM)
        assert code == 0, output
        await serve.start()
        events = await _stream(client, serve.url, first)
        assert events[-1]["type"] == "cancelled"
        assert (await client.get(serve.url + f"/conversations/{first}/status")).json()[
            "status"
        ] == "cancelled"

        second = await _hf_conversation(client, serve.url)
        await client.post(serve.url + f"/conversations/{second}/messages", json={"content": "go"})
        await _until(lambda: len(router.requests) >= 2)
        await serve.stop(signal.SIGKILL)
        await serve.start()
        status = (await client.get(serve.url + f"/conversations/{second}/status")).json()
        assert status["status"] == "failed"
        assert status["error"] == "interrupted by a restart"
        crashed = await _stream(client, serve.url, second)  # the stream ends, with the reason
        assert crashed[-1]["type"] == "failed"
        assert crashed[-1]["data"]["error"] == "interrupted by a restart"


def test_a_port_in_use_is_one_error_line(tmp_path: Path) -> None:
    import socket

    (tmp_path / "none.env").write_text("")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CW_", "AI_", "HUGGINGFACE_"))}
        env.update(
            {"CW_DATABASE_URL": f"sqlite:///{tmp_path / 'cw.db'}", "CW_ENV_FILE": str(tmp_path / "none.env")}
        )
        done = subprocess.run(
            [str(CW), "serve", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            timeout=GENEROUS,
        )
    assert done.returncode == 3
    assert done.stdout == b""
    lines = done.stderr.decode().strip().splitlines()
    assert lines == [
        f"cw: error: cannot listen on 127.0.0.1:{port}: Address already in use; pick another --port or --host"
    ]
