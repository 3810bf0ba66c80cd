"""The `EventLogPort` contract: what every event log does, whatever keeps the events.

Subclass `EventLogContract` and provide an ``event_log`` fixture yielding a fresh log (the
conversation ids below are random, so a shared store is fine).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.ports import EventLogPort
from domain.service import StoredEvent

__all__ = ["EventLogContract", "MemoryEventLog"]


class MemoryEventLog:
    """The smallest honest `EventLogPort`: a dict of lists and a condition (tests only)."""

    def __init__(self) -> None:
        self._events: dict[str, list[StoredEvent]] = {}
        self._last: dict[str, int] = {}
        self._changed = asyncio.Condition()

    async def append(self, conversation_id: str, type: str, data: Mapping[str, Any]) -> StoredEvent:
        async with self._changed:
            event_id = self._last.get(conversation_id, 0) + 1
            self._last[conversation_id] = event_id
            event = StoredEvent(id=event_id, conversation_id=conversation_id, type=type, data=dict(data))
            self._events.setdefault(conversation_id, []).append(event)
            self._changed.notify_all()
        return event

    async def read(
        self, conversation_id: str, *, after: int = 0, limit: int | None = None
    ) -> Sequence[StoredEvent]:
        events = [e for e in self._events.get(conversation_id, []) if e.id > after]
        return events[:limit] if limit is not None else events

    async def wait(self, conversation_id: str, *, after: int, max_wait: float) -> Sequence[StoredEvent]:
        async with self._changed:
            try:
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: bool(self._peek(conversation_id, after))),
                    timeout=max(0.0, max_wait),
                )
            except TimeoutError:
                return []
        return await self.read(conversation_id, after=after)

    def _peek(self, conversation_id: str, after: int) -> bool:
        events = self._events.get(conversation_id, [])
        return bool(events) and events[-1].id > after

    async def delete(self, conversation_id: str) -> None:
        self._events.pop(conversation_id, None)


def _conversation() -> str:
    return uuid.uuid4().hex


@pytest.mark.anyio
class EventLogContract:
    """Tests every `EventLogPort` adapter passes; subclasses provide ``event_log``."""

    @pytest.fixture
    def event_log(self) -> EventLogPort:  # pragma: no cover - overridden
        raise NotImplementedError

    async def test_ids_start_at_one_and_increase_by_one(self, event_log: EventLogPort) -> None:
        conversation = _conversation()
        events = [await event_log.append(conversation, "text_chunk", {"chunk": str(i)}) for i in range(5)]
        assert [event.id for event in events] == [1, 2, 3, 4, 5]
        assert all(event.conversation_id == conversation for event in events)

    async def test_read_returns_the_events_after_an_id_in_order(self, event_log: EventLogPort) -> None:
        conversation = _conversation()
        for i in range(6):
            await event_log.append(conversation, "text_chunk", {"chunk": f"c{i}", "type": "content"})
        rest = await event_log.read(conversation, after=2)
        assert [event.id for event in rest] == [3, 4, 5, 6]
        assert [event.data["chunk"] for event in rest] == ["c2", "c3", "c4", "c5"]
        assert rest[0].type == "text_chunk"
        assert rest[0].data == {"chunk": "c2", "type": "content"}
        assert [event.id for event in await event_log.read(conversation, after=1, limit=2)] == [2, 3]
        assert list(await event_log.read(conversation, after=6)) == []

    async def test_conversations_are_independent(self, event_log: EventLogPort) -> None:
        first, second = _conversation(), _conversation()
        await event_log.append(first, "status_changed", {"status": "processing"})
        event = await event_log.append(second, "status_changed", {"status": "processing"})
        assert event.id == 1
        assert [e.conversation_id for e in await event_log.read(first)] == [first]

    async def test_unknown_conversation_reads_empty(self, event_log: EventLogPort) -> None:
        assert list(await event_log.read(_conversation())) == []

    async def test_wait_returns_stored_events_at_once(self, event_log: EventLogPort) -> None:
        conversation = _conversation()
        await event_log.append(conversation, "completed", {"stats": {"turns": 1}})
        events = await event_log.wait(conversation, after=0, max_wait=30)
        assert [(e.id, e.type, dict(e.data)) for e in events] == [(1, "completed", {"stats": {"turns": 1}})]

    async def test_wait_wakes_up_for_a_new_event(self, event_log: EventLogPort) -> None:
        conversation = _conversation()
        await event_log.append(conversation, "status_changed", {"status": "processing"})
        waiter = asyncio.create_task(event_log.wait(conversation, after=1, max_wait=30))
        await asyncio.sleep(0.05)
        assert not waiter.done()
        await event_log.append(conversation, "text_chunk", {"chunk": "hi", "type": "content"})
        events = await asyncio.wait_for(waiter, timeout=25)
        assert [(e.id, e.data["chunk"]) for e in events] == [(2, "hi")]

    async def test_wait_gives_up_empty_after_max_wait(self, event_log: EventLogPort) -> None:
        assert list(await event_log.wait(_conversation(), after=0, max_wait=0.2)) == []

    async def test_every_listener_gets_every_event(self, event_log: EventLogPort) -> None:
        conversation = _conversation()
        listeners = [
            asyncio.create_task(event_log.wait(conversation, after=0, max_wait=30)) for _ in range(5)
        ]
        await asyncio.sleep(0.05)
        await event_log.append(conversation, "text_chunk", {"chunk": "x", "type": "content"})
        results = await asyncio.wait_for(asyncio.gather(*listeners), timeout=25)
        assert all([e.id for e in events] == [1] for events in results)

    async def test_delete_forgets_the_events(self, event_log: EventLogPort) -> None:
        conversation = _conversation()
        await event_log.append(conversation, "status_changed", {"status": "processing"})
        await event_log.delete(conversation)
        assert list(await event_log.read(conversation)) == []
        await event_log.delete(_conversation())  # unknown: nothing happens

    @settings(max_examples=15, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
    @given(count=st.integers(min_value=0, max_value=12), data=st.data())
    async def test_resuming_after_any_id_yields_exactly_the_rest(
        self, event_log: EventLogPort, count: int, data: st.DataObject
    ) -> None:
        conversation = _conversation()
        for i in range(count):
            await event_log.append(conversation, "text_chunk", {"chunk": f"{i}", "type": "content"})
        after = data.draw(st.integers(min_value=0, max_value=count + 2), label="after")
        rest = await event_log.read(conversation, after=after)
        assert [e.id for e in rest] == list(range(after + 1, count + 1))
        assert [e.data["chunk"] for e in rest] == [str(i - 1) for i in range(after + 1, count + 1)]
