"""``/conversations`` and ``/agents/{id}/conversations|ghost``: conversations, their runs and streams.

A run's events reach clients over SSE from the event log: every event carries its id, a
client resumes after ``Last-Event-ID`` (or ``?after=``) with exactly the events it missed, and
every listener reads the whole log (nothing is consumed). A stream ends after a terminal
event or a ``tool_request``; without a cursor it starts at the latest run's first event.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent

from adapters.http.deps import CurrentUser, ServiceDep, status_url, stream_url
from adapters.http.schemas import (
    ConversationIn,
    ConversationOut,
    ConversationPage,
    GhostIn,
    GhostOut,
    MessageIn,
    MessageOut,
    PageMeta,
    RunOut,
    StatsOut,
    StatusOut,
    StopOut,
    ToolCallOut,
    ToolResultIn,
    ToolResultOut,
)
from adapters.service import Service
from application.service.errors import ValidationFailedError
from application.service.ghost import GhostResult
from domain.ports import EventLogPort
from domain.service import TERMINAL_EVENTS, ConversationRecord, ConversationStatus, EventType, StoredEvent

router = APIRouter(tags=["conversations"])

CLOSING_EVENTS = frozenset({*TERMINAL_EVENTS, EventType.TOOL_REQUEST})
"""After one of these a stream ends."""
WAIT_SLICE = 300.0
"""Seconds one wait on the event log lasts before it is renewed. New events wake a listener at
once (the log's own wake-ups), and heartbeats come from FastAPI, so renewing is only a safety
net: each renewal reads the log, which 1 000 idle listeners at 15 s made 18 % of a core."""


@router.post("/agents/{agent_id}/conversations", status_code=201, response_model=ConversationOut)
async def create_conversation(
    agent_id: str, body: ConversationIn, user: CurrentUser, service: ServiceDep
) -> ConversationOut:
    record = await service.conversations.create(
        user.id,
        agent_id,
        title=body.title,
        metadata=body.metadata,
        client_tool_schemas=[tool.model_dump(exclude_none=True) for tool in body.client_tool_schemas],
    )
    return ConversationOut.of(record)


@router.get("/conversations", response_model=ConversationPage)
async def list_conversations(
    user: CurrentUser,
    service: ServiceDep,
    agent_id: str | None = None,
    status: str | None = None,
    page: int = Query(1, ge=1, le=1_000_000),
    per_page: int = Query(15, ge=1, le=100),
) -> ConversationPage:
    result = await service.conversations.list(
        user.id, agent_id=agent_id, status=status, page=page, per_page=per_page
    )
    return ConversationPage(
        data=[ConversationOut.of(record) for record in result.items],
        meta=PageMeta(page=result.page, per_page=result.per_page, total=result.total),
    )


@router.get("/conversations/{conversation_id}", response_model=ConversationOut)
async def get_conversation(conversation_id: str, user: CurrentUser, service: ServiceDep) -> ConversationOut:
    view = await service.conversations.view(user.id, conversation_id)
    return ConversationOut.of(view.record, view.messages)


@router.delete("/conversations/{conversation_id}", status_code=204, response_class=Response)
async def delete_conversation(conversation_id: str, user: CurrentUser, service: ServiceDep) -> Response:
    await service.conversations.delete(user.id, conversation_id)
    return Response(status_code=204)


@router.post("/conversations/{conversation_id}/messages", status_code=202, response_model=RunOut)
async def send_message(
    conversation_id: str, body: MessageIn, user: CurrentUser, service: ServiceDep
) -> RunOut:
    started = await service.send_message(user.id, conversation_id, body.content, body.images)
    return RunOut(
        status="processing",
        conversation_id=conversation_id,
        run_id=started.run_id,
        stream_url=stream_url(conversation_id, started.after),
        status_url=status_url(conversation_id),
    )


@router.get(
    "/conversations/{conversation_id}/status", response_model=StatusOut, response_model_exclude_none=True
)
async def conversation_status(conversation_id: str, user: CurrentUser, service: ServiceDep) -> StatusOut:
    record = await service.conversations.get(user.id, conversation_id)
    return _status(record)


def _status(record: ConversationRecord) -> StatusOut:
    waiting = record.status is ConversationStatus.WAITING_FOR_TOOL
    return StatusOut(
        status=record.status.value,
        conversation_id=record.id,
        tool_requests=[
            ToolCallOut.of(call) for call in record.pending_tool_calls if call.id not in record.tool_results
        ]
        if waiting
        else None,
        error=record.error,
        stats=StatsOut.of(record.stats),
    )


@router.post("/conversations/{conversation_id}/stop", response_model=StopOut)
async def stop(conversation_id: str, user: CurrentUser, service: ServiceDep) -> StopOut:
    await service.stop_run(user.id, conversation_id)
    return StopOut(status="cancelled")


@router.post("/conversations/{conversation_id}/tool-results", status_code=202, response_model=ToolResultOut)
async def tool_result(
    conversation_id: str, body: ToolResultIn, user: CurrentUser, service: ServiceDep
) -> ToolResultOut:
    accepted = await service.submit_tool_result(
        user.id,
        conversation_id,
        call_id=body.call_id,
        success=body.success,
        output=body.output,
        error=body.error,
    )
    if accepted.run is None:
        return ToolResultOut(
            status="waiting_for_tool", conversation_id=conversation_id, pending=list(accepted.pending)
        )
    return ToolResultOut(
        status="processing",
        conversation_id=conversation_id,
        pending=[],
        run_id=accepted.run.run_id,
        stream_url=stream_url(conversation_id, accepted.run.after),
    )


# --- the event stream --------------------------------------------------------------------------


async def _cursor(
    conversation_id: str,
    user: CurrentUser,
    service: ServiceDep,
    after: int | None = Query(None, ge=0, description="Resume after this event id."),
    last_event_id: str | None = Header(None, alias="Last-Event-ID"),
) -> int:
    """Where a stream starts (a dependency: a missing conversation is a 404 before streaming)."""
    await service.conversations.get(user.id, conversation_id)
    if last_event_id is not None and last_event_id.strip():
        try:
            return max(0, int(last_event_id.strip()))
        except ValueError:
            raise ValidationFailedError(
                {"Last-Event-ID": ["the last event id must be a whole number"]}
            ) from None
    if after is not None:
        return after
    return _latest_run_start(await service.events.read(conversation_id))


def _latest_run_start(events: Sequence[StoredEvent]) -> int:
    """The id before the latest run's first event: after the closing event before it."""
    closing = [event.id for event in events if event.type in CLOSING_EVENTS]
    if events and events[-1].type in CLOSING_EVENTS:
        closing = closing[:-1]
    return closing[-1] if closing else 0


@router.get("/conversations/{conversation_id}/stream", response_class=EventSourceResponse)
async def stream(
    conversation_id: str, after: Annotated[int, Depends(_cursor)], user: CurrentUser, service: ServiceDep
) -> AsyncIterator[ServerSentEvent]:
    if await _all_seen(service, user.id, conversation_id, after):
        return
    async for event in follow(service, service.events, conversation_id, after):
        yield ServerSentEvent(event=event.type, data=dict(event.data), id=str(event.id))


async def _all_seen(service: Service, owner_id: str, conversation_id: str, after: int) -> bool:
    """The client resumes after an event of a run that has ended (its terminal event or a
    tool_request) and no run owns the conversation: nothing more will come for it, so the
    stream ends at once instead of waiting for a message nobody is sending. The status is read
    before the log, so a run that ends in between still has its last events sent."""
    if after <= 0:
        return False
    record = await service.conversations.get(owner_id, conversation_id)
    if record.status is ConversationStatus.PROCESSING:
        return False
    return not await service.events.read(conversation_id, after=after)


async def follow(
    service: Service, events: EventLogPort, conversation_id: str, after: int
) -> AsyncIterator[StoredEvent]:
    """The conversation's events after ``after``, as they come, up to a closing event."""
    closing = asyncio.ensure_future(service.closing.wait())
    try:
        while True:
            waiter = asyncio.ensure_future(events.wait(conversation_id, after=after, max_wait=WAIT_SLICE))
            await asyncio.wait({waiter, closing}, return_when=asyncio.FIRST_COMPLETED)
            if not waiter.done():
                waiter.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await waiter
                # The server is stopping: what the runs' cancellation wrote is still sent.
                batch: Sequence[StoredEvent] = await events.read(conversation_id, after=after)
                for event in batch:
                    yield event
                    if event.type in CLOSING_EVENTS:
                        return
                return
            for event in waiter.result():
                yield event
                after = event.id
                if event.type in CLOSING_EVENTS:
                    return
    finally:
        closing.cancel()


# --- ghost runs --------------------------------------------------------------------------------


def _ghost_args(body: GhostIn) -> dict[str, Any]:
    return {
        "content": body.content,
        "messages": [message.to_domain() for message in body.messages],
        "client_tool_schemas": [tool.model_dump(exclude_none=True) for tool in body.client_tool_schemas],
        "max_turns": body.max_turns,
    }


def _ghost_out(result: GhostResult) -> GhostOut:
    return GhostOut(
        status=result.status,
        messages=[MessageOut.of(position, message) for position, message in enumerate(result.messages, 1)],
        tool_requests=[ToolCallOut.of(call) for call in result.tool_requests],
        error=result.error,
        stats=StatsOut.of(result.stats),
    )


@router.post("/agents/{agent_id}/ghost", response_model=GhostOut)
async def ghost(agent_id: str, body: GhostIn, user: CurrentUser, service: ServiceDep) -> GhostOut:
    return _ghost_out(await service.ghost.run(user.id, agent_id, **_ghost_args(body)))


async def _ghost_events(
    agent_id: str, body: GhostIn, user: CurrentUser, service: ServiceDep
) -> AsyncIterator[tuple[str, Any]]:
    return await service.ghost.stream(user.id, agent_id, **_ghost_args(body))


@router.post("/agents/{agent_id}/ghost/stream", response_class=EventSourceResponse)
async def ghost_stream(
    events: Annotated[AsyncIterator[tuple[str, Any]], Depends(_ghost_events)],
) -> AsyncIterator[ServerSentEvent]:
    async for type, data in events:
        if type == "result":
            out = _ghost_out(data)
            yield ServerSentEvent(event=out.status, data=out.model_dump(mode="json"))
            return
        yield ServerSentEvent(event=type, data=data)
