"""`RedisStreamsEventLog`: the event-log contract on Redis Streams, and what Redis adds to it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from adapters.events import redis_streams
from adapters.events.redis_streams import RedisStreamsEventLog
from adapters.storage.sql import Database
from tests.contracts.event_log import EventLogContract, MemoryEventLog
from tests.servers import ThrowawayRedis

pytestmark = pytest.mark.anyio


class TestMemoryEventLog(EventLogContract):
    """The reference fake passes the contract too (so the contract can fail)."""

    @pytest.fixture
    def event_log(self) -> MemoryEventLog:
        return MemoryEventLog()


class TestRedisStreamsEventLogOnMemory(EventLogContract):
    @pytest.fixture
    async def event_log(self, redis_url: str, prefix: str) -> AsyncIterator[RedisStreamsEventLog]:
        log = RedisStreamsEventLog(redis_url, durable=MemoryEventLog(), prefix=prefix)
        yield log
        await log.aclose()


class TestRedisStreamsEventLogOnPostgreSQL(EventLogContract):
    @pytest.fixture
    async def event_log(
        self, redis_url: str, prefix: str, database: Database
    ) -> AsyncIterator[RedisStreamsEventLog]:
        log = RedisStreamsEventLog(redis_url, durable=database.events, prefix=prefix)
        yield log
        await log.aclose()


async def test_a_listener_on_another_process_gets_every_event_in_order(
    redis_url: str, prefix: str, database: Database
) -> None:
    # Two logs on two connections and two engines stand for two processes sharing the servers.
    other_db = Database(database.url, schema=database.sql.schema)
    writer = RedisStreamsEventLog(redis_url, durable=database.events, prefix=prefix)
    reader = RedisStreamsEventLog(redis_url, durable=other_db.events, prefix=prefix)
    try:

        async def listen() -> list[int]:
            seen: list[int] = []
            while len(seen) < 50:
                events = await reader.wait("c1", after=seen[-1] if seen else 0, max_wait=20)
                assert events, "no event within 20 s"
                seen.extend(event.id for event in events)
            return seen

        listener = asyncio.create_task(listen())
        for i in range(50):
            await writer.append("c1", "text_chunk", {"chunk": str(i), "type": "content"})
        assert await asyncio.wait_for(listener, 60) == list(range(1, 51))
        # Last-Event-ID on the other process: exactly the rest.
        assert [e.id for e in await reader.read("c1", after=47)] == [48, 49, 50]
    finally:
        await writer.aclose()
        await reader.aclose()
        await other_db.aclose()


async def test_events_older_than_the_stream_come_from_the_durable_log(redis_url: str, prefix: str) -> None:
    log = RedisStreamsEventLog(redis_url, durable=MemoryEventLog(), prefix=prefix, maxlen=5)
    try:
        for i in range(300):
            await log.append("c1", "text_chunk", {"chunk": str(i), "type": "content"})
        client = aioredis.Redis.from_url(redis_url)
        assert await client.xlen(f"{prefix}:events:c1") < 300  # trimmed
        await client.aclose()
        assert [e.id for e in await log.read("c1")] == list(range(1, 301))
        assert [e.data["chunk"] for e in await log.read("c1", after=290)] == [str(i) for i in range(290, 300)]
    finally:
        await log.aclose()


async def test_a_lost_stream_entry_is_filled_from_the_durable_log(redis_url: str, prefix: str) -> None:
    log = RedisStreamsEventLog(redis_url, durable=MemoryEventLog(), prefix=prefix)
    client = aioredis.Redis.from_url(redis_url)
    try:
        for i in range(4):
            await log.append("c1", "text_chunk", {"chunk": str(i), "type": "content"})
        await client.xdel(f"{prefix}:events:c1", "2-0")  # as if its XADD had failed
        assert [e.id for e in await log.read("c1")] == [1, 2, 3, 4]
        waiter = asyncio.create_task(log.wait("c1", after=4, max_wait=20))
        await asyncio.sleep(0.05)
        await log.durable.append("c1", "text_chunk", {"chunk": "5", "type": "content"})  # not streamed
        await log.append("c1", "completed", {"stats": {}})
        assert [e.id for e in await asyncio.wait_for(waiter, 30)] == [5, 6]
    finally:
        await client.aclose()
        await log.aclose()


async def test_redis_down_loses_nothing_and_listeners_fall_back(tmp_path: Path) -> None:
    with ThrowawayRedis(tmp_path) as server:
        durable = MemoryEventLog()
        log = RedisStreamsEventLog(server.url, durable=durable, prefix="cw")
        try:
            await log.append("c1", "status_changed", {"status": "processing"})
            server.stop()
            second = await log.append("c1", "text_chunk", {"chunk": "a", "type": "content"})
            assert second.id == 2
            assert [e.id for e in await log.read("c1")] == [1, 2]
            waiter = asyncio.create_task(log.wait("c1", after=2, max_wait=20))
            await asyncio.sleep(0.05)
            await log.append("c1", "completed", {"stats": {}})
            assert [e.id for e in await asyncio.wait_for(waiter, 30)] == [3]
            server.start()
            await log.append("c1", "status_changed", {"status": "processing"})
            assert [e.id for e in await log.read("c1", after=1)] == [2, 3, 4]
        finally:
            await log.aclose()


class CountingLog(MemoryEventLog):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0
        self.waits = 0

    async def read(self, conversation_id: str, *, after: int = 0, limit: int | None = None) -> Any:
        self.reads += 1
        return await super().read(conversation_id, after=after, limit=limit)

    async def wait(self, conversation_id: str, *, after: int, max_wait: float) -> Any:
        self.waits += 1
        return await super().wait(conversation_id, after=after, max_wait=max_wait)


async def test_an_up_to_date_listener_costs_no_database_query(redis_url: str, prefix: str) -> None:
    durable = CountingLog()
    log = RedisStreamsEventLog(redis_url, durable=durable, prefix=prefix)
    try:
        for i in range(3):
            await log.append("c1", "text_chunk", {"chunk": str(i), "type": "content"})
        assert [e.id for e in await log.read("c1", after=1)] == [2, 3]
        assert list(await log.read("c1", after=3)) == []
        waiter = asyncio.create_task(log.wait("c1", after=3, max_wait=20))
        await asyncio.sleep(0.05)
        await log.append("c1", "completed", {"stats": {}})
        assert [e.id for e in await asyncio.wait_for(waiter, 30)] == [4]
        assert durable.reads == 0
    finally:
        await log.aclose()


async def test_hundreds_of_listeners_share_one_reader(redis_url: str, prefix: str) -> None:
    # One connection per waiting listener would exhaust redis-py's pool (100) and fall back.
    durable = CountingLog()
    log = RedisStreamsEventLog(redis_url, durable=durable, prefix=prefix)
    conversations = [f"c{i}" for i in range(300)]
    try:
        for conversation in conversations:
            await log.append(conversation, "status_changed", {"status": "processing"})
        listeners = [asyncio.create_task(log.wait(c, after=1, max_wait=60)) for c in conversations]
        await asyncio.sleep(0.2)
        for conversation in conversations:
            await log.append(conversation, "completed", {"stats": {}})
        results = await asyncio.wait_for(asyncio.gather(*listeners), 90)
        assert all([e.id for e in events] == [2] for events in results)
        assert durable.waits == 0
    finally:
        await log.aclose()


async def test_a_last_event_lost_from_the_stream_still_reaches_the_listener(
    redis_url: str, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(redis_streams, "DURABLE_CHECK_EVERY", 0.3)
    durable = MemoryEventLog()
    log = RedisStreamsEventLog(redis_url, durable=durable, prefix=prefix)
    try:
        await log.append("c1", "status_changed", {"status": "processing"})
        waiter = asyncio.create_task(log.wait("c1", after=1, max_wait=300))
        await asyncio.sleep(0.05)
        await durable.append("c1", "completed", {"stats": {}})  # its XADD was lost; nothing follows
        assert [e.id for e in await asyncio.wait_for(waiter, 30)] == [2]
    finally:
        await log.aclose()
