"""`SQLEventLog`: every conversation's run events, kept in the database, for any number of listeners.

Ids: a per-conversation counter row (``event_counters``) is bumped by one atomic upsert
(``INSERT … ON CONFLICT DO UPDATE … RETURNING``) in the same transaction that inserts the
event. PostgreSQL locks the counter row until commit and SQLite serialises writers, so
concurrent appenders — in this process or others — get consecutive ids with no gap and no
duplicate, and a rolled-back append gives its id back. `delete` keeps the counter, so an id is
never handed out twice for a conversation.

Waiting: listeners in this process are woken the moment an append commits (one future per
waiting listener); events appended by other processes (workers sharing the database) are
found by re-reading every ``poll_interval`` seconds while waiting.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from adapters.storage.sql._shielded import shielded
from adapters.storage.sql.engine import SQLEngine, utc_now
from adapters.storage.sql.models import EventCounterRow, EventRow
from domain.service import StoredEvent

__all__ = ["SQLEventLog"]

DEFAULT_POLL_INTERVAL = 1.0
"""Seconds between re-reads while waiting, for events other processes append."""


class _Wakeups:
    """Futures of the listeners waiting per conversation, on whichever event loop they run."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[str, set[asyncio.Future[None]]] = {}

    def register(self, conversation_id: str) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        with self._lock:
            self._waiting.setdefault(conversation_id, set()).add(future)
        return future

    def unregister(self, conversation_id: str, future: asyncio.Future[None]) -> None:
        with self._lock:
            waiting = self._waiting.get(conversation_id)
            if waiting is not None:
                waiting.discard(future)
                if not waiting:
                    del self._waiting[conversation_id]

    def wake(self, conversation_id: str) -> None:
        with self._lock:
            futures = self._waiting.pop(conversation_id, set())
        for future in futures:
            loop = future.get_loop()
            if loop.is_closed():
                continue
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                _resolve(future)
            else:
                loop.call_soon_threadsafe(_resolve, future)


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
            future = self._wakeups.register(conversation_id)
            try:
                events = await self.read(conversation_id, after=after)
                if events:
                    return events
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return ()
                await asyncio.wait((future,), timeout=min(self.poll_interval, remaining))
            finally:
                self._wakeups.unregister(conversation_id, future)
                future.cancel()

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
