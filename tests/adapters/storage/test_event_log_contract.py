"""The `EventLogPort` contract, run against every event log.

A new event log joins by adding a factory to ``EVENT_LOGS`` (an async context manager that
yields an empty log and cleans up after); every test then runs against it too.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.storage.sql import Database
from domain.ports import EventLogPort
from domain.service import StoredEvent
from tests.adapters.storage.conftest import TEST_CONNECTIONS, SQLTargets, open_database

LogFactory = Callable[[SQLTargets, Path], AbstractAsyncContextManager[EventLogPort]]

# Long enough that a test passing through the poll instead of the wake-up would fail.
NO_POLL = 600.0


def _sql(backend: str) -> LogFactory:
    @contextlib.asynccontextmanager
    async def factory(targets: SQLTargets, folder: Path) -> AsyncIterator[EventLogPort]:
        async with open_database(backend, targets, folder, event_poll_interval=NO_POLL) as db:
            yield db.events

    return factory


def _redis_streams() -> LogFactory:
    """Redis Streams in front of the PostgreSQL log (issue 12), under a key prefix of its own."""

    @contextlib.asynccontextmanager
    async def factory(targets: SQLTargets, folder: Path) -> AsyncIterator[EventLogPort]:
        from redis.asyncio import Redis

        from adapters.events.redis_streams import RedisStreamsEventLog
        from tests.servers import require_redis, unique_name

        url = require_redis()
        prefix = unique_name("cwtest")
        async with open_database("postgres", targets, folder, event_poll_interval=NO_POLL) as db:
            log = RedisStreamsEventLog(url, durable=db.events, prefix=prefix)
            try:
                yield log
            finally:
                await log.aclose()
                client = Redis.from_url(url)
                keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
                if keys:
                    await client.delete(*keys)
                await client.aclose()

    return factory


EVENT_LOGS: dict[str, LogFactory] = {
    "sql-sqlite": _sql("sqlite"),
    "sql-postgres": _sql("postgres"),
    "redis-streams-postgres": _redis_streams(),
}


@pytest.fixture(params=sorted(EVENT_LOGS))
async def log(
    request: pytest.FixtureRequest, sql_targets: SQLTargets, tmp_path: Path
) -> AsyncIterator[EventLogPort]:
    async with EVENT_LOGS[request.param](sql_targets, tmp_path) as made:
        yield made


pytestmark = pytest.mark.anyio


async def test_ids_count_from_one_per_conversation(log: EventLogPort) -> None:
    a1 = await log.append("a", "status_changed", {"status": "processing"})
    b1 = await log.append("b", "text_chunk", {"chunk": "hi", "type": "content"})
    a2 = await log.append("a", "completed", {"stats": {"turns": 1}})
    assert (a1.id, a2.id, b1.id) == (1, 2, 1)
    assert a1 == StoredEvent(id=1, conversation_id="a", type="status_changed", data={"status": "processing"})
    assert tuple(await log.read("a")) == (a1, a2)
    assert tuple(await log.read("b")) == (b1,)


async def test_data_round_trips_as_json(log: EventLogPort) -> None:
    data = {"chunk": '☃ "quoted"\n', "n": 3, "f": 0.5, "ok": True, "none": None, "list": [1, {"x": []}]}
    await log.append("c", "text_chunk", data)
    (stored,) = await log.read("c")
    assert dict(stored.data) == data


async def test_read_after_and_limit(log: EventLogPort) -> None:
    made = [await log.append("c", "text_chunk", {"chunk": str(n)}) for n in range(6)]
    assert tuple(await log.read("c", after=4)) == tuple(made[4:])
    assert tuple(await log.read("c", after=1, limit=2)) == tuple(made[1:3])
    assert tuple(await log.read("c", after=6)) == ()
    assert tuple(await log.read("c", after=100)) == ()
    assert tuple(await log.read("unknown")) == ()


async def test_concurrent_appends_get_unique_gapless_ids(log: EventLogPort) -> None:
    made = await asyncio.gather(*(log.append("c", "text_chunk", {"n": n}) for n in range(60)))
    assert sorted(event.id for event in made) == list(range(1, 61))
    stored = await log.read("c")
    assert [event.id for event in stored] == list(range(1, 61))
    by_id = {event.id: event for event in made}
    assert all(by_id[event.id] == event for event in stored)


async def test_wait_returns_what_is_already_there(log: EventLogPort) -> None:
    first = await log.append("c", "status_changed", {"status": "processing"})
    assert tuple(await log.wait("c", after=0, max_wait=NO_POLL)) == (first,)


async def test_wait_wakes_every_listener_when_an_event_arrives(log: EventLogPort) -> None:
    await log.append("c", "status_changed", {"status": "processing"})
    listeners = [asyncio.create_task(log.wait("c", after=1, max_wait=NO_POLL)) for _ in range(5)]
    await asyncio.sleep(0.05)
    assert not any(task.done() for task in listeners)
    chunk = await log.append("c", "text_chunk", {"chunk": "x", "type": "content"})
    results = await asyncio.wait_for(asyncio.gather(*listeners), timeout=60)
    assert all(tuple(result) == (chunk,) for result in results)


async def test_wait_ignores_other_conversations_and_gives_up_empty(log: EventLogPort) -> None:
    waiting = asyncio.create_task(log.wait("c", after=0, max_wait=0.3))
    await asyncio.sleep(0.05)
    await log.append("other", "completed", {})
    assert tuple(await waiting) == ()
    assert tuple(await log.wait("c", after=0, max_wait=0)) == ()


async def test_a_cancelled_wait_leaves_the_log_usable(log: EventLogPort) -> None:
    waiting = asyncio.create_task(log.wait("c", after=0, max_wait=NO_POLL))
    await asyncio.sleep(0.05)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    event = await log.append("c", "completed", {})
    assert tuple(await log.wait("c", after=0, max_wait=NO_POLL)) == (event,)


async def test_delete_forgets_the_events_and_never_reuses_an_id(log: EventLogPort) -> None:
    await log.append("c", "status_changed", {})
    await log.append("c", "completed", {})
    await log.append("kept", "completed", {})
    await log.delete("c")
    await log.delete("never-existed")
    assert tuple(await log.read("c")) == ()
    assert len(await log.read("kept")) == 1
    again = await log.append("c", "status_changed", {})
    assert again.id > 2


events_strategy = st.lists(
    st.tuples(
        st.sampled_from(["status_changed", "text_chunk", "tool_request", "completed"]),
        st.dictionaries(st.text(max_size=6), st.integers() | st.text(max_size=8) | st.booleans(), max_size=3),
    ),
    max_size=12,
)


@pytest.mark.parametrize("factory", sorted(EVENT_LOGS))
@settings(max_examples=20, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=events_strategy, after=st.integers(min_value=0, max_value=14), page=st.integers(1, 5))
def test_resuming_after_any_id_yields_exactly_the_rest_in_order(
    factory: str,
    events: list[tuple[str, dict[str, Any]]],
    after: int,
    page: int,
    sql_targets: SQLTargets,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    async def scenario() -> tuple[list[StoredEvent], list[StoredEvent], list[StoredEvent]]:
        async with EVENT_LOGS[factory](sql_targets, tmp_path_factory.mktemp("events")) as made:
            appended = [await made.append("conv", type_, data) for type_, data in events]
            rest = list(await made.read("conv", after=after))
            paged: list[StoredEvent] = []
            cursor = after
            while batch := await made.read("conv", after=cursor, limit=page):
                paged.extend(batch)
                cursor = batch[-1].id
            return appended, rest, paged

    appended, rest, paged = asyncio.run(scenario())
    assert [event.id for event in appended] == list(range(1, len(events) + 1))
    assert [(event.type, dict(event.data)) for event in appended] == events
    assert rest == appended[after:]
    assert paged == appended[after:]


# --- SQL specifics: several processes sharing one database -------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
async def two_processes(
    request: pytest.FixtureRequest, sql_targets: SQLTargets, tmp_path: Path
) -> AsyncIterator[tuple[Database, Database]]:
    """Two `Database`s on the same data, as two server or worker processes would have."""
    async with open_database(request.param, sql_targets, tmp_path, event_poll_interval=0.05) as first:
        second = Database(
            first.url, schema=first.sql.schema, event_poll_interval=0.05, max_connections=TEST_CONNECTIONS
        )
        try:
            yield first, second
        finally:
            await second.aclose()


async def test_appends_from_several_processes_get_unique_gapless_ids(
    two_processes: tuple[Database, Database],
) -> None:
    first, second = two_processes
    made = await asyncio.gather(
        *((first if n % 2 else second).events.append("c", "text_chunk", {"n": n}) for n in range(40))
    )
    assert sorted(event.id for event in made) == list(range(1, 41))


async def test_wait_sees_events_another_process_appends(two_processes: tuple[Database, Database]) -> None:
    first, second = two_processes
    waiting = asyncio.create_task(first.events.wait("c", after=0, max_wait=60))
    await asyncio.sleep(0.1)
    event = await second.events.append("c", "completed", {"stats": {}})
    assert tuple(await asyncio.wait_for(waiting, timeout=90)) == (event,)


@pytest.fixture(params=["sqlite", "postgres"])
async def polling_db(
    request: pytest.FixtureRequest, sql_targets: SQLTargets, tmp_path: Path
) -> AsyncIterator[Database]:
    async with open_database(request.param, sql_targets, tmp_path, event_poll_interval=0.01) as db:
        yield db


async def test_cancelled_listeners_and_writers_leave_no_broken_connection(polling_db: Database) -> None:
    """Clients hang up mid-query all the time: the query still ends cleanly, nothing is logged."""
    loop = asyncio.get_running_loop()
    problems: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: problems.append(context))
    try:
        for round_ in range(5):
            listeners = [
                asyncio.create_task(polling_db.events.wait(f"c{n}", after=0, max_wait=60)) for n in range(30)
            ]
            writers = [
                asyncio.create_task(polling_db.events.append("w", "text_chunk", {"n": n})) for n in range(10)
            ]
            await asyncio.sleep(0.02 * round_)
            for task in (*listeners, *writers):
                task.cancel()
            await asyncio.gather(*listeners, *writers, return_exceptions=True)
        await asyncio.sleep(0.1)
        # A cancelled append either never started or was stored whole: ids stay gapless.
        stored = await polling_db.events.read("w")
        assert [event.id for event in stored] == list(range(1, len(stored) + 1))
        after = await polling_db.events.append("w", "completed", {})
        assert after.id == len(stored) + 1
        assert polling_db.sql.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    finally:
        loop.set_exception_handler(None)
    assert problems == []


async def test_one_poll_query_serves_every_idle_listener(polling_db: Database) -> None:
    """Idle listeners cost one counter query per poll between them, not one each."""
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    sa.event.listen(polling_db.sql.engine.sync_engine, "before_cursor_execute", record)
    try:
        listeners = [
            asyncio.create_task(polling_db.events.wait(f"idle{n}", after=0, max_wait=60)) for n in range(40)
        ]
        await asyncio.sleep(0.5)  # about 50 polls at 0.01 s (fewer on a busy machine)
        polls = sum("event_counters" in statement for statement in statements)
        reads = sum("FROM events" in statement for statement in statements)
        for task in listeners:
            task.cancel()
        await asyncio.gather(*listeners, return_exceptions=True)
    finally:
        sa.event.remove(polling_db.sql.engine.sync_engine, "before_cursor_execute", record)
    assert polls >= 1
    assert reads == len(listeners)  # each listener read once, then only the shared poller queried
    later = await polling_db.events.append("idle3", "completed", {})
    assert later.id == 1
