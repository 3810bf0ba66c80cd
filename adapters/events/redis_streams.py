"""The event log on Redis Streams: every API process's listeners see every event, in order.

Events are written first to a durable event log (the database's, from
`adapters.storage.sql`), which gives each its id (increasing by one per conversation), then
added to the conversation's Redis stream with that id as the entry id (``<id>-0``). So:

- a listener on any process reads the stream from ``<after>-0`` with ``XREAD BLOCK`` and
  wakes as soon as the worker writes; ``Last-Event-ID`` resumes on any process;
- the stream is bounded (``MAXLEN ~``) and expires when idle; a listener that comes later
  than its retention, or finds a gap (an ``XADD`` lost while Redis was down), reads the
  durable log instead: the ids are the same in both, so the two can be mixed freely;
- while Redis is down, appends still land in the durable log and listeners fall back to
  its polling ``wait``; nothing saved is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
from redis.asyncio import Redis
from redis.exceptions import RedisError

from adapters.queue.settings import UNAVAILABLE, redis_client, redis_location
from domain.ports import EventLogPort
from domain.service import StoredEvent

__all__ = ["RedisStreamsEventLog"]

logger = logging.getLogger(__name__)

_UNAVAILABLE = (*UNAVAILABLE, RedisError)
"""Unreachable, or any other Redis failure: either way the durable log answers instead."""


DURABLE_CHECK_EVERY = 10.0
"""Seconds a listener waits on the stream before it also looks in the durable log, so an event
whose ``XADD`` was lost reaches it within that time."""


def _entry_to_event(conversation_id: str, entry_id: Any, fields: Mapping[bytes, bytes]) -> StoredEvent:
    return StoredEvent(
        id=_entry_id(entry_id),
        conversation_id=conversation_id,
        type=fields[b"type"].decode(),
        data=json.loads(fields[b"data"]),
    )


def _contiguous_from(events: Sequence[StoredEvent], after: int) -> bool:
    return all(event.id == after + 1 + index for index, event in enumerate(events))


@attrs.define(eq=False)
class _Waiter:
    after: int
    future: asyncio.Future[list[tuple[Any, Any]]]


class _StreamReader:
    """One ``XREAD BLOCK`` per process over every stream some listener waits on.

    A connection per waiting listener would not scale (redis-py's pools cap at 100, and file
    descriptors run out before 1,000 listeners). This reader owns one connection; a listener
    that needs a stream (or an older id) the blocked read does not cover interrupts it with
    ``CLIENT UNBLOCK`` so the next read includes it at once.
    """

    def __init__(self, url: str, commands: Redis) -> None:
        self._url = url
        self._commands = commands
        self._waiting: dict[str, list[_Waiter]] = {}
        self._reading: dict[str, int] = {}
        self._client_id: int | None = None
        self._blocked = False
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def wait(self, key: str, after: int, max_wait: float) -> list[tuple[Any, Any]]:
        """Entries of ``key`` after ``after`` (empty after ``max_wait`` seconds). Raises a Redis
        error when the reader cannot read."""
        waiter = _Waiter(after=after, future=asyncio.get_running_loop().create_future())
        self._waiting.setdefault(key, []).append(waiter)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="cw-event-stream-reader")
        self._changed.set()
        try:
            covered = key in self._reading and self._reading[key] <= after
            if self._blocked and not covered and self._client_id is not None:
                await self._commands.client_unblock(self._client_id)
            return await asyncio.wait_for(asyncio.shield(waiter.future), max_wait)
        except TimeoutError:
            return []
        finally:
            waiters = self._waiting.get(key, [])
            if waiter in waiters:
                waiters.remove(waiter)
            if not waiters:
                self._waiting.pop(key, None)
            waiter.future.cancel()

    async def _run(self) -> None:
        connection = Redis.from_url(
            self._url, single_connection_client=True, socket_connect_timeout=2.0, socket_timeout=15.0
        )
        backoff = 0.2
        try:
            while True:
                if not self._waiting:
                    self._changed.clear()
                    await self._changed.wait()
                    continue
                try:
                    if self._client_id is None:
                        self._client_id = int(await connection.client_id())
                    streams = {
                        key: min(w.after for w in pending)
                        for key, ws in self._waiting.items()
                        if (pending := [w for w in ws if not w.future.done()])
                    }
                    if not streams:  # every waiter was answered and is about to leave
                        await asyncio.sleep(0)
                        continue
                    self._reading = streams
                    self._blocked = True
                    try:
                        result: Any = await connection.xread(
                            {key: f"{after}-0" for key, after in streams.items()}, block=1000, count=1000
                        )
                    finally:
                        self._blocked = False
                        self._reading = {}
                    backoff = 0.2
                except _UNAVAILABLE as exc:
                    self._client_id = None
                    for waiters in self._waiting.values():
                        for waiter in waiters:
                            if not waiter.future.done():
                                waiter.future.set_exception(exc)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
                    continue
                for raw_key, entries in result or ():
                    key = raw_key.decode() if isinstance(raw_key, bytes) else str(raw_key)
                    for waiter in list(self._waiting.get(key, ())):
                        mine = [(i, f) for i, f in entries if _entry_id(i) > waiter.after]
                        if mine and not waiter.future.done():
                            waiter.future.set_result(mine)
        finally:
            self._client_id = None
            with contextlib.suppress(Exception):
                await connection.aclose()

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task


def _entry_id(entry_id: Any) -> int:
    raw = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
    return int(raw.split("-", 1)[0])


@attrs.define
class RedisStreamsEventLog:
    """`EventLogPort` on Redis Streams in front of a durable event log (``durable``)."""

    url: str = attrs.field(repr=lambda url: redis_location(url))
    durable: EventLogPort
    prefix: str = "cw"
    maxlen: int = 2000
    """Entries kept per conversation stream (approximately); older ones are read from ``durable``."""
    ttl: int = 24 * 3600
    """Seconds an idle conversation's stream is kept."""
    _redis: Redis = attrs.field(init=False)
    _reader: _StreamReader = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        # Appends wait for a free connection rather than fail when many runs write at once.
        self._redis = redis_client(self.url)
        self._reader = _StreamReader(self.url, self._redis)

    def _key(self, conversation_id: str) -> str:
        return f"{self.prefix}:events:{conversation_id}"

    async def append(self, conversation_id: str, type: str, data: Mapping[str, Any]) -> StoredEvent:
        event = await self.durable.append(conversation_id, type, data)
        key = self._key(conversation_id)
        try:
            pipe = self._redis.pipeline(transaction=False)
            pipe.xadd(
                key,
                {"type": event.type, "data": json.dumps(dict(event.data), separators=(",", ":"))},
                id=f"{event.id}-0",
                maxlen=self.maxlen,
                approximate=True,
            )
            pipe.expire(key, self.ttl)
            await pipe.execute()
        except _UNAVAILABLE as exc:
            # The event is saved; listeners notice the gap and read it from the durable log.
            logger.warning("event %s of %s not streamed (%r)", event.id, conversation_id, exc)
        return event

    async def read(
        self, conversation_id: str, *, after: int = 0, limit: int | None = None
    ) -> Sequence[StoredEvent]:
        events = await self._from_stream(conversation_id, after, limit)
        if events is None:
            return await self.durable.read(conversation_id, after=after, limit=limit)
        return events

    async def _from_stream(
        self, conversation_id: str, after: int, limit: int | None
    ) -> Sequence[StoredEvent] | None:
        """The events after ``after`` as the stream has them, or ``None`` when the stream cannot
        tell (expired, trimmed past ``after``, an entry missing, Redis down): ask the durable log.

        An empty answer is trusted only when the stream still holds event ``after`` itself, so
        a listener that is up to date costs no database query.
        """
        key = self._key(conversation_id)
        try:
            pipe = self._redis.pipeline(transaction=False)
            pipe.xrange(key, min=f"{after + 1}-0", count=limit)
            pipe.xrevrange(key, count=1)
            entries, last = await pipe.execute()
        except _UNAVAILABLE:
            return None
        events = [_entry_to_event(conversation_id, entry_id, fields) for entry_id, fields in entries]
        if events:
            return events if _contiguous_from(events, after) else None
        if after > 0 and last and _entry_to_event(conversation_id, *last[0]).id == after:
            return []
        return None

    async def wait(self, conversation_id: str, *, after: int, max_wait: float) -> Sequence[StoredEvent]:
        events = await self._from_stream(conversation_id, after, None)
        if events is None:
            events = await self.durable.read(conversation_id, after=after)
        if events or max_wait <= 0:
            return events
        loop = asyncio.get_running_loop().time
        deadline = loop() + max_wait
        key = self._key(conversation_id)
        while (remaining := deadline - loop()) > 0:
            try:
                entries = await self._reader.wait(key, after, min(remaining, DURABLE_CHECK_EVERY))
            except _UNAVAILABLE:
                rest = max(0.0, deadline - loop())
                return await self.durable.wait(conversation_id, after=after, max_wait=rest)
            if entries:
                events = [_entry_to_event(conversation_id, i, f) for i, f in entries]
                if _contiguous_from(events, after):
                    return events
                return await self.durable.read(conversation_id, after=after)  # an entry was lost
            # Nothing streamed for a while: an event whose XADD failed may be in the durable log
            # (a run's last event, say, with nothing after it to reveal the gap).
            events = await self.durable.read(conversation_id, after=after)
            if events:
                return events
        return ()

    async def delete(self, conversation_id: str) -> None:
        await self.durable.delete(conversation_id)
        try:
            await self._redis.delete(self._key(conversation_id))
        except _UNAVAILABLE as exc:
            logger.warning("stream of %s not deleted (%s); it expires by itself", conversation_id, exc)

    async def aclose(self) -> None:
        await self._reader.aclose()
        await self._redis.aclose()
        await self._redis.connection_pool.disconnect()
