"""`ExecuteRun`: the `RunHandler` that runs the agent loop for a `RunJob` and logs its events.

Wherever a job executes (an asyncio task of ``cw serve``, a worker process), this is what it
does: load the conversation and its agent, run `RunAgent` on the stored history, write each
event to the `EventLogPort` as it comes, then record how the run ended. The conversation's
record is updated *before* the event that announces it, so a client reacting to
``completed`` or ``tool_request`` finds the conversation ready for its next request.

Exactly one terminal event (``completed``, ``failed``, ``cancelled`` or ``max_turns``) ends
every run, or a ``tool_request`` when it pauses for client tools; a cancelled task (stop,
SIGTERM) still records ``cancelled`` before the cancellation propagates.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

import attrs

from application.registry import BackendRegistry
from application.run_agent import RunAgent
from application.service.agents import to_runtime_agent
from application.service.client_tools import ClientToolRunner
from application.service.events import event_payload, stats_payload, tool_requests_payload
from domain.events import (
    ResponseCompleted,
    RunEnded,
    RunStatus,
    TextDelta,
    ThinkingDelta,
    ToolCallStarted,
)
from domain.messages import Role, ToolCall, Usage
from domain.ports import (
    AgentRepositoryPort,
    ConversationRepositoryPort,
    ConversationStorePort,
    EventLogPort,
    ToolRunnerPort,
)
from domain.service import ConversationRecord, ConversationStatus, EventType, RunJob, RunStats

__all__ = ["ExecuteRun", "announce_run_end", "record_run_end"]

_TERMINAL: Mapping[RunStatus, tuple[ConversationStatus, EventType]] = {
    RunStatus.COMPLETED: (ConversationStatus.COMPLETED, EventType.COMPLETED),
    RunStatus.MAX_TURNS: (ConversationStatus.MAX_TURNS, EventType.MAX_TURNS),
    RunStatus.FAILED: (ConversationStatus.FAILED, EventType.FAILED),
    RunStatus.CANCELLED: (ConversationStatus.CANCELLED, EventType.CANCELLED),
}


_CLOSING_EVENT: Mapping[ConversationStatus, EventType] = {
    ConversationStatus.COMPLETED: EventType.COMPLETED,
    ConversationStatus.MAX_TURNS: EventType.MAX_TURNS,
    ConversationStatus.FAILED: EventType.FAILED,
    ConversationStatus.CANCELLED: EventType.CANCELLED,
    ConversationStatus.WAITING_FOR_TOOL: EventType.TOOL_REQUEST,
}


async def record_run_end(
    conversations: ConversationRepositoryPort,
    events: EventLogPort,
    conversation_id: str,
    run_id: str | None,
    status: RunStatus,
    *,
    stats: RunStats,
    error: str | None = None,
    pending: tuple[ToolCall, ...] = (),
) -> bool:
    """Record how run ``run_id`` ended: the record first, then the event announcing it.

    Nothing is written (``False``) when the run no longer owns the conversation (someone
    already recorded its end — a stop, a resume — or the conversation was deleted): the
    repository's `end_run` decides that atomically, across processes.
    """
    conversation_status = (
        ConversationStatus.WAITING_FOR_TOOL if status is RunStatus.WAITING_FOR_TOOL else _TERMINAL[status][0]
    )
    ended = await conversations.end_run(
        conversation_id,
        run_id,
        status=conversation_status,
        stats=stats,
        error=None if status is RunStatus.WAITING_FOR_TOOL else error,
        pending=pending if status is RunStatus.WAITING_FOR_TOOL else (),
    )
    if ended is None:
        return False
    await announce_run_end(events, ended.after)
    return True


async def announce_run_end(events: EventLogPort, record: ConversationRecord) -> None:
    """The events announcing the end (or pause) just recorded in ``record``."""
    totals = record.stats
    if record.status is ConversationStatus.WAITING_FOR_TOOL:
        await events.append(record.id, EventType.STATUS_CHANGED, {"status": "waiting_for_tool"})
        await events.append(
            record.id,
            EventType.TOOL_REQUEST,
            {
                "tool_requests": tool_requests_payload(record.pending_tool_calls),
                "stats": stats_payload(totals),
            },
        )
        return
    event_type = next(event for status, event in _TERMINAL.values() if status is record.status)
    data: dict[str, Any] = {"status": record.status.value, "stats": stats_payload(totals)}
    if record.error is not None:
        data["error"] = record.error
    await events.append(record.id, event_type, data)


@attrs.define
class ExecuteRun:
    """Runs one `RunJob` to its end (a `RunHandler`).

    Attributes:
        conversations: the conversations' records (status, pending calls, stats).
        agents: the stored agents.
        messages: the conversations' messages; the run continues from them.
        events: where every event of the run is written.
        backends: resolves the agent's backend.
        tools: the server's builtin tools (``None``: no workspace configured).
        max_turns: the model calls a run may make unless the conversation says otherwise; the
            bound is for the whole run, across its pauses for client tool results.
    """

    conversations: ConversationRepositoryPort
    agents: AgentRepositoryPort
    messages: ConversationStorePort
    events: EventLogPort
    backends: BackendRegistry
    tools: ToolRunnerPort | None = None
    max_turns: int = 25

    async def __call__(self, job: RunJob) -> None:
        conversation = await self.conversations.get_any(job.conversation_id)
        if conversation is None or conversation.run_id != job.run_id:
            return  # a stale delivery
        if conversation.status is not ConversationStatus.PROCESSING:
            if job.attempt > 1:
                await self._announce_recorded_end(conversation)
            return  # stopped before it started, or already ended
        if job.attempt > 1:
            await self.events.append(job.conversation_id, EventType.RETRY, {"attempt": job.attempt})
            if await self._replay_saved_answer(job):
                return
        agent = await self.agents.get(conversation.owner_id, conversation.agent_id)
        if agent is None:
            await self._end(job, RunStatus.FAILED, RunStats(), "the conversation's agent no longer exists")
            return
        budget = _max_turns(conversation, self.max_turns)
        if job.resume or job.attempt > 1:
            # max_turns bounds the whole run, across its pauses for client tools (and redeliveries).
            budget -= await self._turns_taken(job.conversation_id)
            if budget < 1:
                await self._end(job, RunStatus.MAX_TURNS, RunStats(), None)
                return
        client = tuple(conversation.client_tool_schemas)
        runner = ClientToolRunner(self.tools, client)
        run_agent = RunAgent(backends=self.backends, store=self.messages, tools=runner, max_turns=budget)
        outbox = _Outbox(self.events, job.conversation_id)
        tally = _Tally()
        stream = run_agent.stream(
            to_runtime_agent(agent, extra_tools=[tool.name for tool in client]),
            None,
            conversation_id=job.conversation_id,
        )
        try:
            ended: RunEnded | None = None
            try:
                async with contextlib.aclosing(stream):
                    async for event in stream:
                        if isinstance(event, RunEnded):
                            ended = event
                            continue
                        tally.see(event)
                        payload = event_payload(event, runner.client_names)
                        if payload is not None:
                            outbox.put(*payload)
            except asyncio.CancelledError:
                # Stopped (the stop endpoint, SIGTERM): record it, then let the cancellation go on.
                with contextlib.suppress(Exception):
                    await outbox.flush()
                await self._end(job, RunStatus.CANCELLED, tally.stats(cancelled=True), None)
                raise
            await outbox.flush()
            if ended is None:  # pragma: no cover - RunAgent always ends with RunEnded
                await self._end(job, RunStatus.FAILED, tally.stats(), "the run ended without a result")
                return
            stats = RunStats(
                turns=ended.turns,
                prompt_tokens=ended.usage.prompt_tokens,
                completion_tokens=ended.usage.completion_tokens,
                total_tokens=ended.usage.total_tokens,
            )
            error = (
                ended.error.message if ended.error is not None and ended.status is RunStatus.FAILED else None
            )
            await self._end(job, ended.status, stats, error, ended.pending_tool_calls)
        finally:
            await outbox.aclose()

    async def _announce_recorded_end(self, conversation: ConversationRecord) -> None:
        """A redelivered run whose previous delivery recorded the end, then died before the event
        announcing it: write that event now, so every run has its one closing event."""
        status = conversation.status
        closing = _CLOSING_EVENT.get(status)
        if closing is None:
            return
        events = await self.events.read(conversation.id)
        if events and events[-1].type == closing:
            return
        stats = stats_payload(conversation.stats)
        if status is ConversationStatus.WAITING_FOR_TOOL:
            await self.events.append(conversation.id, EventType.STATUS_CHANGED, {"status": status.value})
            await self.events.append(
                conversation.id,
                EventType.TOOL_REQUEST,
                {"tool_requests": tool_requests_payload(conversation.pending_tool_calls), "stats": stats},
            )
            return
        data: dict[str, Any] = {"status": status.value, "stats": stats}
        if conversation.error is not None:
            data["error"] = conversation.error
        await self.events.append(conversation.id, closing, data)

    async def _turns_taken(self, conversation_id: str) -> int:
        """The model calls the run made before this segment: each saved one reply (an assistant
        message) after the user message that started the run."""
        messages = await self.messages.load(conversation_id)
        taken = 0
        for message in reversed(messages):
            if message.role is Role.USER:
                break
            if message.role is Role.ASSISTANT:
                taken += 1
        return taken

    async def _replay_saved_answer(self, job: RunJob) -> bool:
        """A redelivered run whose previous delivery saved the final reply, then died before
        recording the end: stream that reply again (after the ``retry`` marker, clients dropped
        the partial text) and end the run, instead of asking the model a second time."""
        messages = await self.messages.load(job.conversation_id)
        last = messages[-1] if messages else None
        if last is None or last.role is not Role.ASSISTANT or last.tool_calls:
            return False
        if last.thinking:
            await self.events.append(
                job.conversation_id, EventType.TEXT_CHUNK, {"chunk": last.thinking, "type": "thinking"}
            )
        if last.content:
            await self.events.append(
                job.conversation_id, EventType.TEXT_CHUNK, {"chunk": last.content, "type": "content"}
            )
        await self._end(job, RunStatus.COMPLETED, RunStats(), None)
        return True

    async def _end(
        self,
        job: RunJob,
        status: RunStatus,
        stats: RunStats,
        error: str | None,
        pending: tuple[ToolCall, ...] = (),
    ) -> None:
        await record_run_end(
            self.conversations,
            self.events,
            job.conversation_id,
            job.run_id,
            status,
            stats=stats,
            error=error,
            pending=pending,
        )


def _max_turns(conversation: ConversationRecord, default: int) -> int:
    value = conversation.metadata.get("max_turns")
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 1 else default


class _Tally:
    """Turns and usage seen so far, for a run that is cancelled before its `RunEnded`."""

    def __init__(self) -> None:
        self.turns = 0
        self.usage = Usage()
        self.mid_turn = False

    def see(self, event: object) -> None:
        if isinstance(event, ResponseCompleted):
            self.turns += 1
            self.usage = self.usage + event.response.usage
            self.mid_turn = False
        elif isinstance(event, TextDelta | ThinkingDelta | ToolCallStarted):
            self.mid_turn = True

    def stats(self, *, cancelled: bool = False) -> RunStats:
        turns = self.turns + (1 if cancelled and self.mid_turn else 0)
        return RunStats(
            turns=turns,
            prompt_tokens=self.usage.prompt_tokens,
            completion_tokens=self.usage.completion_tokens,
            total_tokens=self.usage.total_tokens,
        )


class _Outbox:
    """Writes a run's events in order on a task of its own, so a slow log never slows the model
    stream: text chunks that pile up while a write is in flight are merged into one event."""

    def __init__(self, log: EventLogPort, conversation_id: str) -> None:
        self._log = log
        self._conversation_id = conversation_id
        self._items: list[tuple[EventType, dict[str, Any]]] = []
        self._ready = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task = asyncio.create_task(self._write())

    def put(self, type: EventType, data: dict[str, Any]) -> None:
        if self._task.done():
            self._task.result()  # the log failed: raise its error in the run
        last = self._items[-1] if self._items else None
        if (
            last is not None
            and type is EventType.TEXT_CHUNK
            and last[0] is EventType.TEXT_CHUNK
            and last[1]["type"] == data["type"]
        ):
            self._items[-1] = (type, {**last[1], "chunk": last[1]["chunk"] + data["chunk"]})
        else:
            self._items.append((type, data))
        self._idle.clear()
        self._ready.set()

    async def _write(self) -> None:
        while True:
            await self._ready.wait()
            self._ready.clear()
            while self._items:
                type, data = self._items.pop(0)
                await self._log.append(self._conversation_id, type, data)
            if not self._items:
                self._idle.set()

    async def flush(self) -> None:
        """Wait until every event put so far is written; raises the log's error if it failed."""
        while not self._idle.is_set() and not self._task.done():
            idle = asyncio.ensure_future(self._idle.wait())
            try:
                await asyncio.wait({idle, self._task}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                idle.cancel()
        if self._task.done():
            self._task.result()

    async def aclose(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task
