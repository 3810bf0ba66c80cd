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
import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from adapters.queue.taskiq_redis import redis_location
from domain.ports import EventLogPort
from domain.service import StoredEvent

__all__ = ["RedisStreamsEventLog"]

logger = logging.getLogger(__name__)

_UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, OSError, RedisError)
_BLOCK_SLICE = 5.0
"""Longest single ``XREAD BLOCK`` (seconds): below the socket timeout, so a dead Redis is noticed."""


def _entry_to_event(conversation_id: str, entry_id: Any, fields: Mapping[bytes, bytes]) -> StoredEvent:
    raw_id = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
    return StoredEvent(
        id=int(raw_id.split("-", 1)[0]),
        conversation_id=conversation_id,
        type=fields[b"type"].decode(),
        data=json.loads(fields[b"data"]),
    )


def _contiguous_from(events: Sequence[StoredEvent], after: int) -> bool:
    return all(event.id == after + 1 + index for index, event in enumerate(events))


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

    def __attrs_post_init__(self) -> None:
        self._redis = Redis.from_url(
            self.url, socket_connect_timeout=2.0, socket_timeout=_BLOCK_SLICE + 5.0, health_check_interval=30
        )

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
                result: Any = await self._redis.xread(
                    {key: f"{after}-0"}, block=max(1, int(min(remaining, _BLOCK_SLICE) * 1000))
                )
            except _UNAVAILABLE:
                rest = max(0.0, deadline - loop())
                return await self.durable.wait(conversation_id, after=after, max_wait=rest)
            if result:
                events = [_entry_to_event(conversation_id, i, f) for _, got in result for i, f in got]
                if _contiguous_from(events, after):
                    return events
                return await self.durable.read(conversation_id, after=after)  # an entry was lost: fill it
        # Nothing streamed: an event whose XADD failed may still be in the durable log.
        return await self.durable.read(conversation_id, after=after)

    async def delete(self, conversation_id: str) -> None:
        await self.durable.delete(conversation_id)
        try:
            await self._redis.delete(self._key(conversation_id))
        except _UNAVAILABLE as exc:
            logger.warning("stream of %s not deleted (%s); it expires by itself", conversation_id, exc)

    async def aclose(self) -> None:
        await self._redis.aclose()
