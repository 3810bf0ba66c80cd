"""The scale-out path end to end: 2 ``cw serve --queue`` processes and 3 ``cw worker`` processes.

Real processes on loopback against a throwaway ``redis-server`` and a database of our own on
the test PostgreSQL; the model is the Hugging Face backend pointed at a loopback scripted
server that streams slowly. 100 conversations at once, listened to over both API processes;
one worker SIGKILLed mid-run; a stop sent to the other API process; Redis restarted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from adapters.llm.testing.scripted_server import RecordedRequest, ScriptedResponse, ScriptedServer
from tests.e2e.conftest import HF_KEY, chunk, sse
from tests.servers import ThrowawayRedis, free_port, require_postgres, require_redis

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(600)]

RUNS = 100
WORDS = 24
DELAY = 0.08
"""Seconds between streamed chunks: a run streams for about two seconds."""
ROOT = Path(__file__).resolve().parents[2]
GENEROUS = 120.0
TERMINAL = {"completed", "failed", "cancelled", "max_turns"}


def _reply(request: RecordedRequest) -> ScriptedResponse:
    body = request.json()
    prompt = str(body["messages"][-1]["content"])
    words = 400 if prompt.startswith("slow") else WORDS
    events = [sse(chunk({"role": "assistant", "content": ""}))]
    events += [sse(chunk({"content": f"{prompt}-{i} "})) for i in range(words)]
    usage = {"prompt_tokens": 5, "completion_tokens": words, "total_tokens": 5 + words}
    events += [sse(chunk({}, "stop", usage=usage)), sse("[DONE]")]
    return ScriptedResponse(headers={"content-type": "text/event-stream"}, chunks=events, delay=DELAY)


def _expected_text(prompt: str) -> str:
    return "".join(f"{prompt}-{i} " for i in range(WORDS))


@pytest.fixture
def database_url() -> Iterator[str]:
    """A database of our own on the test PostgreSQL server, dropped afterwards."""
    base = require_postgres()
    name = f"cwtest_{uuid.uuid4().hex[:10]}"
    admin = [sys.executable, "-c", _ADMIN, base]
    subprocess.run([*admin, f'CREATE DATABASE "{name}"'], check=True, timeout=60)
    parts = urlsplit(base)
    yield urlunsplit(parts._replace(path=f"/{name}"))
    subprocess.run([*admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'], check=True, timeout=60)


_ADMIN = """
import asyncio, sys, asyncpg
async def main():
    conn = await asyncpg.connect(sys.argv[1])
    await conn.execute(sys.argv[2])
    await conn.close()
asyncio.run(main())
"""


class Cluster:
    def __init__(self, env: dict[str, str], redis: ThrowawayRedis, cwd: Path) -> None:
        self.env = env
        self.redis = redis
        self.cwd = cwd
        self.apis: list[str] = []
        self.workers: list[subprocess.Popen[bytes]] = []
        self.processes: list[subprocess.Popen[bytes]] = []

    def _cw(self, *args: str) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [sys.executable, "-c", "from adapters.cli.main import main; raise SystemExit(main())", *args],
            env=self.env,
            cwd=self.cwd,
            stdout=subprocess.DEVNULL,
        )
        self.processes.append(process)
        return process

    async def start(self, apis: int, workers: int) -> None:
        for _ in range(apis):
            port = free_port()
            self._cw("serve", "--port", str(port), "--queue", self.redis.url)
            self.apis.append(f"http://127.0.0.1:{port}/api/v1")
        for _ in range(workers):
            self.workers.append(self._cw("worker", "--concurrency", "100"))
        async with httpx.AsyncClient(timeout=5) as client:
            for api in self.apis:
                await _until_up(client, api)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def _until_up(client: httpx.AsyncClient, api: str) -> None:
    deadline = time.monotonic() + GENEROUS
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if (await client.get(f"{api}/auth/user")).status_code == 401:
                return
        await asyncio.sleep(0.2)
    pytest.fail(f"{api} did not come up")


@pytest.fixture
async def cluster(database_url: str, tmp_path: Path) -> AsyncIterator[tuple[Cluster, ScriptedServer]]:
    require_redis()
    async with ScriptedServer() as model:
        model.handle("/v1/chat/completions", _reply)
        with ThrowawayRedis(tmp_path) as redis:
            env = {
                key: value
                for key, value in os.environ.items()
                if not key.startswith(("CW_", "HUGGINGFACE_", "HF_", "AI_BACKEND", "OLLAMA_", "OPENAI_"))
            }
            env.update(
                {
                    "PYTHONPATH": str(ROOT),
                    "CW_DATABASE_URL": database_url,
                    # 5 processes share PostgreSQL's 100 connections with everything else.
                    "CW_DATABASE_MAX_CONNECTIONS": "6",
                    "CW_QUEUE_URL": redis.url,
                    "CW_QUEUE_PREFIX": "cwtest",
                    "CW_QUEUE_REDELIVERY_AFTER": "2",
                    "AI_BACKEND": "huggingface",
                    "HUGGINGFACE_API_KEY": HF_KEY,
                    "HUGGINGFACE_BASE_URL": f"{model.url}/v1",
                }
            )
            running = Cluster(env, redis, tmp_path)
            try:
                await running.start(apis=2, workers=3)
                yield running, model
            finally:
                running.stop()


async def _listen(client: httpx.AsyncClient, api: str, conversation: str, token: str) -> list[dict[str, Any]]:
    """Every SSE event of the conversation's run, resuming with Last-Event-ID if the stream drops."""
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + GENEROUS * 2
    while time.monotonic() < deadline:
        headers = {"Authorization": f"Bearer {token}"}
        if events:
            headers["Last-Event-ID"] = str(events[-1]["id"])
        with contextlib.suppress(httpx.HTTPError):
            async with client.stream(
                "GET", f"{api}/conversations/{conversation}/stream", headers=headers
            ) as r:
                if r.status_code != 200:  # e.g. 503 while the database is saturated: try again
                    await asyncio.sleep(0.5)
                    continue
                event: dict[str, Any] = {}
                async for line in r.aiter_lines():
                    if line.startswith("id:"):
                        event["id"] = int(line[3:].strip())
                    elif line.startswith("event:"):
                        event["type"] = line[6:].strip()
                    elif line.startswith("data:"):
                        event["data"] = json.loads(line[5:].strip())
                    elif line == "" and "id" in event:
                        events.append(event)
                        if event["type"] in TERMINAL:
                            return events
                        event = {}
    pytest.fail(f"no terminal event for {conversation}: {events[-3:]}")


def _text_after_last_retry(events: list[dict[str, Any]]) -> str:
    start = max((i for i, e in enumerate(events) if e["type"] == "retry"), default=-1) + 1
    return "".join(e["data"]["chunk"] for e in events[start:] if e["type"] == "text_chunk")


async def test_two_apis_three_workers_kill_stop_and_restart(cluster: tuple[Cluster, ScriptedServer]) -> None:
    running, model = cluster
    first, second = running.apis
    # No keep-alive: a pooled connection the server is closing as idle fails a request (ReadError).
    limits = httpx.Limits(max_connections=400, max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=httpx.Timeout(60, read=90), limits=limits) as client:
        registered = await client.post(
            f"{first}/auth/register",
            json={"name": "Ada", "email": "ada@example.com", "password": "correct horse"},
        )
        assert registered.status_code == 201, registered.text
        token = registered.json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        agent = await client.post(
            f"{second}/agents",
            headers=auth,
            json={"name": "scale", "ai_backend": "huggingface", "model_config": {"model": "m/m"}},
        )
        assert agent.status_code == 201, agent.text
        agent_id = agent.json()["id"]

        async def conversation(api: str) -> str:
            created = await client.post(f"{api}/agents/{agent_id}/conversations", headers=auth, json={})
            assert created.status_code == 201, created.text
            return str(created.json()["id"])

        ids = await asyncio.gather(*(conversation(running.apis[i % 2]) for i in range(RUNS)))
        # Post on one API process, listen on the other.
        listeners = [
            asyncio.create_task(_listen(client, running.apis[(i + 1) % 2], cid, token))
            for i, cid in enumerate(ids)
        ]
        posted = await asyncio.gather(
            *(
                client.post(
                    f"{running.apis[i % 2]}/conversations/{cid}/messages",
                    headers=auth,
                    json={"content": f"p{i}"},
                )
                for i, cid in enumerate(ids)
            )
        )
        assert [r.status_code for r in posted] == [202] * RUNS, posted[0].text
        # Kill a worker while runs stream.
        deadline = time.monotonic() + GENEROUS
        while sum(1 for r in model.requests if r.path.endswith("/chat/completions")) < RUNS // 2:
            assert time.monotonic() < deadline, "the runs did not start"
            await asyncio.sleep(0.05)
        running.workers[0].send_signal(signal.SIGKILL)
        running.workers[0].wait()
        results = await asyncio.wait_for(asyncio.gather(*listeners), GENEROUS * 3)

        retried = 0
        for i, (cid, events) in enumerate(zip(ids, results, strict=True)):
            ids_seen = [e["id"] for e in events]
            assert ids_seen == list(range(ids_seen[0], ids_seen[0] + len(ids_seen))), (
                f"gap in {cid}: {ids_seen}"
            )
            assert [e["type"] for e in events if e["type"] in TERMINAL] == [events[-1]["type"]]
            assert events[-1]["type"] == "completed", events[-1]
            retried += any(e["type"] == "retry" for e in events)
            assert _text_after_last_retry(events) == _expected_text(f"p{i}")
            record = (await client.get(f"{second}/conversations/{cid}", headers=auth)).json()
            assert record["status"] == "completed"
            roles = [m["role"] for m in record["messages"]]
            assert roles == ["user", "assistant"], f"{cid}: {roles}"
            assert record["messages"][1]["content"] == _expected_text(f"p{i}")
        assert retried >= 1, "the killed worker held no run: nothing was delivered again"

        # Stop from the other API process.
        slow = await conversation(first)
        listener = asyncio.create_task(_listen(client, first, slow, token))
        sent = await client.post(
            f"{first}/conversations/{slow}/messages", headers=auth, json={"content": "slow"}
        )
        assert sent.status_code == 202
        deadline = time.monotonic() + GENEROUS
        while not any(r.json()["messages"][-1]["content"] == "slow" for r in model.requests if r.body):
            assert time.monotonic() < deadline, "the slow run did not start"
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # a few chunks streamed
        stopped_at = time.monotonic()
        stop = await client.post(f"{second}/conversations/{slow}/stop", headers=auth)
        assert stop.status_code == 200, stop.text
        events = await asyncio.wait_for(listener, GENEROUS)
        took = time.monotonic() - stopped_at
        assert events[-1]["type"] == "cancelled"
        request = next(r for r in model.requests if r.body and r.json()["messages"][-1]["content"] == "slow")
        await asyncio.wait_for(request.disconnected.wait(), GENEROUS)  # the model stream was closed
        print(f"stop from the other API process: cancelled event after {took:.3f}s")

        # Redis goes away: new runs get 503, then work again once it is back.
        running.redis.stop()
        down = await conversation(first)
        refused = await client.post(
            f"{first}/conversations/{down}/messages", headers=auth, json={"content": "x"}
        )
        assert refused.status_code == 503, refused.text
        assert "try again" in refused.json()["message"]
        running.redis.start()
        after = await conversation(second)
        for _ in range(100):
            accepted = await client.post(
                f"{second}/conversations/{after}/messages", headers=auth, json={"content": "again"}
            )
            if accepted.status_code == 202:
                break
            assert accepted.status_code == 503, accepted.text
            await asyncio.sleep(0.3)
        assert accepted.status_code == 202
        events = await asyncio.wait_for(_listen(client, first, after, token), GENEROUS)
        assert events[-1]["type"] == "completed"
