"""Property: resuming a conversation's stream after any event id yields exactly the rest, in order."""

from __future__ import annotations

import asyncio
from typing import Any

import attrs
from hypothesis import given
from hypothesis import strategies as st

from adapters.http.conversations import _latest_run_start, follow
from tests.contracts.event_log import MemoryEventLog

BODY = st.sampled_from(["status_changed", "text_chunk", "tool_executing", "tool_completed", "retry"])
CLOSING = st.sampled_from(["completed", "failed", "cancelled", "max_turns", "tool_request"])


@attrs.define
class _Service:
    closing: asyncio.Event = attrs.field(factory=asyncio.Event)


async def _collect(log: MemoryEventLog, after: int) -> list[Any]:
    service: Any = _Service()
    return [event async for event in follow(service, log, "c", after)]


@given(body=st.lists(BODY, max_size=30), closing=CLOSING, data=st.data())
def test_resuming_after_any_event_id_yields_exactly_the_rest(
    body: list[str], closing: str, data: Any
) -> None:
    async def scenario() -> None:
        log = MemoryEventLog()
        stored = [await log.append("c", type, {"n": n}) for n, type in enumerate([*body, closing])]
        after = data.draw(st.integers(min_value=0, max_value=len(stored) - 1))
        assert await _collect(log, after) == stored[after:]

    asyncio.run(scenario())


@given(
    runs=st.lists(st.tuples(st.lists(BODY, max_size=5), CLOSING), min_size=1, max_size=5), live=st.booleans()
)
def test_without_a_cursor_a_stream_starts_at_the_latest_run(
    runs: list[tuple[list[str], str]], live: bool
) -> None:
    async def scenario() -> None:
        log = MemoryEventLog()
        starts = []
        for index, (body, closing) in enumerate(runs):
            starts.append(len(await log.read("c")))
            running = live and index == len(runs) - 1 and bool(body)  # a run in progress has begun
            for type in [*body, *([] if running else [closing])]:
                await log.append("c", type, {})
        events = await log.read("c")
        assert _latest_run_start(events) == starts[-1]

    asyncio.run(scenario())


def test_a_stream_waits_for_events_appended_later() -> None:
    async def scenario() -> None:
        log = MemoryEventLog()
        first = await log.append("c", "status_changed", {})
        listener = asyncio.ensure_future(_collect(log, 0))
        other = asyncio.ensure_future(_collect(log, 0))
        await asyncio.sleep(0)
        chunk = await log.append("c", "text_chunk", {"chunk": "hi", "type": "content"})
        done = await log.append("c", "completed", {})
        assert await listener == await other == [first, chunk, done]  # every listener gets every event

    asyncio.run(scenario())
