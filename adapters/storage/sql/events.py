"""`SQLEventLog`: every conversation's run events, kept in the database, for any number of listeners.

Ids: a per-conversation counter row (``event_counters``) holds the last id handed out, and the
one statement that inserts an event moves it on (PostgreSQL: an upsert in a data-modifying
CTE, the counter row locked until commit; SQLite: a trigger, under SQLite's single writer).
So concurrent appenders — in this process or others — get consecutive ids with no gap and no
duplicate, and a rolled-back append gives its id back. `delete` keeps the counter, so an id is
never handed out twice for a conversation.

Waiting: listeners in this process are woken the moment an append commits (one future per
waiting listener). Events other processes append (workers sharing the database) are found by
one poller per event log: every ``poll_interval`` seconds it reads the counters of the
conversations someone waits for — one query however many listeners — and wakes the
listeners whose conversation moved past what they have seen.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from adapters.storage.sql._shielded import shielded
from adapters.storage.sql.engine import SQLEngine, utc_now
from adapters.storage.sql.models import EventCounterRow, EventRow
from domain.errors import StorageError
from domain.service import StoredEvent

__all__ = ["SQLEventLog"]

DEFAULT_POLL_INTERVAL = 1.0
"""Seconds between polls of the counters while someone waits, for events other processes append."""

_POLL_BATCH = 500
"""Conversations per counter query (bound parameters stay well under the drivers' limits)."""


@attrs.define(eq=False)
class _Waiter:
    future: asyncio.Future[None]
    after: int


class _Wakeups:
    """The listeners waiting per conversation, on whichever event loop they run."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[str, set[_Waiter]] = {}

    def register(self, conversation_id: str, after: int) -> _Waiter:
        waiter = _Waiter(future=asyncio.get_running_loop().create_future(), after=after)
        with self._lock:
            self._waiting.setdefault(conversation_id, set()).add(waiter)
        return waiter

    def unregister(self, conversation_id: str, waiter: _Waiter) -> bool:
        """Forget ``waiter``; whether anyone still waits, for any conversation."""
        with self._lock:
            waiting = self._waiting.get(conversation_id)
            if waiting is not None:
                waiting.discard(waiter)
                if not waiting:
                    del self._waiting[conversation_id]
            return bool(self._waiting)

    def waited_for(self) -> list[str]:
        with self._lock:
            return list(self._waiting)

    def wake(self, conversation_id: str, *, last_id: int | None = None) -> None:
        """Wake the conversation's listeners (only those before ``last_id``, when given)."""
        with self._lock:
            waiting = self._waiting.get(conversation_id, set())
            woken = {waiter for waiter in waiting if last_id is None or waiter.after < last_id}
            waiting -= woken
            if not waiting:
                self._waiting.pop(conversation_id, None)
        for waiter in woken:
            _call_in_its_loop(waiter.future, _resolve)


def _call_in_its_loop(future: asyncio.Future[None], action: Any) -> None:
    loop = future.get_loop()
    if loop.is_closed():
        return
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        action(future)
    else:
        loop.call_soon_threadsafe(action, future)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class SQLEventLog:
    """An `EventLogPort` over the ``events`` and ``event_counters`` tables.

    Args:
        sql: the shared engine.
        poll_interval: seconds between re-reads while waiting (for other processes' events).
    """

    def __init__(self, sql: SQLEngine, *, poll_interval: float = DEFAULT_POLL_INTERVAL) -> None:
        if poll_interval <= 0:
            raise ValueError("poll_interval must be positive")
        self._sql = sql
        self._wakeups = _Wakeups()
        self._poller: asyncio.Task[None] | None = None
        self.poll_interval = poll_interval

    @shielded
    async def append(self, conversation_id: str, type: str, data: Mapping[str, Any]) -> StoredEvent:
        """Add an event at the end of the conversation's log; returns it with its id."""
        payload = _plain(data)
        statement = self._insert_next(conversation_id, str(type), payload)
        # One statement, atomic by itself on both databases: on SQLite it runs without an
        # explicit transaction (it takes the write lock as it starts), saving round trips.
        async with self._sql.transaction("save an event", write=not self._sql.is_sqlite) as connection:
            event_id = await connection.scalar(statement)
        self._wakeups.wake(conversation_id)
        return StoredEvent(
            id=int(event_id or 0), conversation_id=conversation_id, type=str(type), data=payload
        )

    def _insert_next(self, conversation_id: str, type: str, payload: dict[str, Any]) -> Any:
        """``INSERT`` the event with the conversation's next id, ``RETURNING`` that id."""
        data = sa.bindparam("data", payload, type_=sa.JSON)
        now = utc_now()
        values = {"conversation_id": conversation_id, "type": type, "data": data, "created_at": now}
        if self._sql.is_sqlite:
            # The next id reads the counter; the ``events_bump_counter`` trigger (migration
            # 0002) moves the counter on in the same statement.
            last = (
                sa.select(EventCounterRow.last_id)
                .where(EventCounterRow.conversation_id == conversation_id)
                .scalar_subquery()
            )
            next_id = sa.func.coalesce(last, 0) + 1
            return sa.insert(EventRow).values(id=next_id, **values).returning(EventRow.id)
        # PostgreSQL: bump the counter (the row stays locked until commit) and insert with its
        # value, in one data-modifying CTE.
        bumped = (
            postgresql.insert(EventCounterRow)
            .values(conversation_id=conversation_id, last_id=1)
            .on_conflict_do_update(
                index_elements=[EventCounterRow.conversation_id],
                set_={"last_id": EventCounterRow.last_id + 1},
            )
            .returning(EventCounterRow.last_id)
            .cte("bumped")
        )
        columns = ["conversation_id", "id", "type", "data", "created_at"]
        source = sa.select(
            sa.literal(conversation_id, sa.String),
            bumped.c.last_id,
            sa.literal(type, sa.String),
            data,
            sa.literal(now, sa.DateTime(timezone=True)),
        )
        return sa.insert(EventRow).from_select(columns, source).returning(EventRow.id)

    @shielded
    async def read(
        self, conversation_id: str, *, after: int = 0, limit: int | None = None
    ) -> Sequence[StoredEvent]:
        """The events with an id greater than ``after``, in order (at most ``limit``)."""
        if limit is not None and limit < 1:
            return ()
        statement = (
            sa.select(EventRow.id, EventRow.type, EventRow.data)
            .where(EventRow.conversation_id == conversation_id, EventRow.id > after)
            .order_by(EventRow.id)
        )
        if limit is not None:
            statement = statement.limit(limit)
        async with self._sql.transaction("read events") as connection:
            rows = (await connection.execute(statement)).all()
        return tuple(
            StoredEvent(id=row.id, conversation_id=conversation_id, type=row.type, data=row.data or {})
            for row in rows
        )

    async def wait(self, conversation_id: str, *, after: int, max_wait: float) -> Sequence[StoredEvent]:
        """Like `read`, but when nothing is after ``after`` wait up to ``max_wait`` seconds for more."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, max_wait)
        while True:
            # Register before reading: an append committing in between still wakes us.
            waiter = self._wakeups.register(conversation_id, after)
            try:
                events = await self.read(conversation_id, after=after)
                if events:
                    return events
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return ()
                self._start_poller()
                await asyncio.wait((waiter.future,), timeout=remaining)
            finally:
                waiter.future.cancel()
                if not self._wakeups.unregister(conversation_id, waiter):
                    self._stop_poller()

    def _start_poller(self) -> None:
        poller = self._poller
        if poller is not None and not poller.done() and not poller.get_loop().is_closed():
            return
        self._poller = asyncio.get_running_loop().create_task(self._poll(), name="cw-event-log-poller")

    def _stop_poller(self) -> None:
        poller, self._poller = self._poller, None
        if poller is not None and not poller.done():
            _call_in_its_loop(poller, lambda task: task.cancel())

    async def _poll(self) -> None:
        """Every ``poll_interval``: wake the listeners whose conversation another process moved on."""
        while True:
            await asyncio.sleep(self.poll_interval)
            waited_for = self._wakeups.waited_for()
            for start in range(0, len(waited_for), _POLL_BATCH):
                try:
                    counters = await self._counters(waited_for[start : start + _POLL_BATCH])
                except StorageError:
                    continue  # the database is unreachable for now: the listeners time out as usual
                for conversation_id, last_id in counters:
                    self._wakeups.wake(conversation_id, last_id=last_id)

    @shielded
    async def _counters(self, conversation_ids: list[str]) -> list[tuple[str, int]]:
        statement = sa.select(EventCounterRow.conversation_id, EventCounterRow.last_id).where(
            EventCounterRow.conversation_id.in_(conversation_ids)
        )
        async with self._sql.transaction("poll for events") as connection:
            return [(row[0], int(row[1])) for row in await connection.execute(statement)]

    async def aclose(self) -> None:
        """Stop polling; listeners still waiting time out as usual."""
        self._stop_poller()

    @shielded
    async def delete(self, conversation_id: str) -> None:
        """Forget the conversation's events (its id counter stays: ids are never reused)."""
        async with self._sql.transaction("delete events", write=True) as connection:
            await connection.execute(sa.delete(EventRow).where(EventRow.conversation_id == conversation_id))

    def __repr__(self) -> str:
        return f"SQLEventLog({self._sql.description})"


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value
