"""Starting, resuming and stopping a conversation's runs: `SendMessage`, `SubmitToolResult`, `StopRun`.

A run owns its conversation from the moment it is claimed (status ``processing``, a
database-level guard, so two concurrent messages never both start one) until it ends or
pauses for client tools (``waiting_for_tool``, still owned). Each of these use cases writes
the record first, then the ``status_changed`` event, then hands the job to the queue.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from application.agent_run import CANCELLED_RESULT
from application.service.clock import new_id, now
from application.service.errors import ConflictError, NotFoundError, ValidationFailedError
from application.service.execute_run import announce_run_end, record_run_end
from domain.errors import QueueUnavailableError
from domain.events import RunStatus
from domain.messages import ChatMessage, ImageInput, ToolCall
from domain.ports import ConversationRepositoryPort, ConversationStorePort, EventLogPort, RunQueuePort
from domain.service import (
    ConversationRecord,
    ConversationStatus,
    EventType,
    RunJob,
    RunStats,
    ToolResultStatus,
)

__all__ = ["RunStarted", "SendMessage", "StopRun", "SubmitToolResult", "ToolResultAccepted"]

MAX_IMAGES = 10


@attrs.frozen(kw_only=True)
class RunStarted:
    """A run was queued. ``after`` is the event id just before its first event: a stream read
    from there carries exactly this run's events."""

    conversation_id: str
    run_id: str
    after: int


@attrs.frozen(kw_only=True)
class ToolResultAccepted:
    """A client tool result was saved; ``run`` is set when it was the last one and the run resumed."""

    conversation_id: str
    pending: tuple[str, ...]
    run: RunStarted | None = None


async def _start(
    conversations: ConversationRepositoryPort,
    events: EventLogPort,
    queue: RunQueuePort,
    record: ConversationRecord,
    run_id: str,
    *,
    resume: bool,
) -> RunStarted:
    """Announce the claimed run and queue it; a queue that refuses fails the run at once."""
    first = await events.append(record.id, EventType.STATUS_CHANGED, {"status": "processing"})
    try:
        await queue.submit(
            RunJob(run_id=run_id, conversation_id=record.id, owner_id=record.owner_id, resume=resume)
        )
    except QueueUnavailableError as error:
        await record_run_end(
            conversations, events, record.id, run_id, RunStatus.FAILED, stats=RunStats(), error=error.message
        )
        raise
    return RunStarted(conversation_id=record.id, run_id=run_id, after=first.id - 1)


@attrs.define
class SendMessage:
    """Save the user's message and start a run that answers it."""

    conversations: ConversationRepositoryPort
    messages: ConversationStorePort
    events: EventLogPort
    queue: RunQueuePort

    async def __call__(
        self, owner_id: str, conversation_id: str, content: str, images: Sequence[str] = ()
    ) -> RunStarted:
        """Raises:
        NotFoundError: no such conversation for this owner.
        ValidationFailedError: no content, or an image that is not base64 or a data/http URL.
        ConflictError: a run is in progress or waiting for tool results.
        QueueUnavailableError: the queue cannot take the run now (the run is recorded failed).
        """
        record = await self.conversations.get(owner_id, conversation_id)
        if record is None:
            raise NotFoundError(f"no conversation {conversation_id!r}")
        errors: dict[str, list[str]] = {}
        if not content.strip() and not images:
            errors["content"] = ["the message is empty; say what the agent should do"]
        if len(images) > MAX_IMAGES:
            errors["images"] = [f"at most {MAX_IMAGES} images per message"]
        attached = tuple(_image(image, index, errors) for index, image in enumerate(images))
        if errors:
            raise ValidationFailedError(errors)
        if record.status.busy:
            raise ConflictError(_busy_message(record.status))
        run_id = new_id()
        if not await self.conversations.claim(conversation_id, run_id):
            raise ConflictError(_busy_message(ConversationStatus.PROCESSING))
        await self.messages.append(
            conversation_id, ChatMessage.user(content, images=tuple(i for i in attached if i is not None))
        )
        claimed = attrs.evolve(record, status=ConversationStatus.PROCESSING, run_id=run_id)
        return await _start(self.conversations, self.events, self.queue, claimed, run_id, resume=False)


def _busy_message(status: ConversationStatus) -> str:
    if status is ConversationStatus.WAITING_FOR_TOOL:
        return "the conversation is waiting for client tool results; submit them or stop the run first"
    return "a run is already in progress in this conversation; wait for it to end or stop it"


def _image(value: str, index: int, errors: dict[str, list[str]]) -> ImageInput | None:
    """An image given as a data URL, an http(s) URL or bare base64 (taken as PNG/JPEG data)."""
    import base64
    import binascii

    text = value.strip()
    if text.lower().startswith(("data:", "http://", "https://")):
        return ImageInput(url=text)
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        data = b""
    if not data:
        errors.setdefault(f"images.{index}", []).append(
            "an image must be base64 data, a data URL or an http(s) URL"
        )
        return None
    media = "image/png" if data.startswith(b"\x89PNG") else "image/jpeg"
    return ImageInput(data=data, media_type=media)


@attrs.define
class SubmitToolResult:
    """Save a client tool's result; once every call of the paused reply is answered, resume the run.

    The repository records the result and, for the last one, the move to ``processing`` in one
    atomic write: with several API processes, each call is answered once and exactly one result
    resumes the run (a stop racing it either wins or sees the resumed run).
    """

    conversations: ConversationRepositoryPort
    messages: ConversationStorePort
    events: EventLogPort
    queue: RunQueuePort

    async def __call__(
        self,
        owner_id: str,
        conversation_id: str,
        *,
        call_id: str,
        success: bool,
        output: str | None = None,
        error: str | None = None,
    ) -> ToolResultAccepted:
        """Raises:
        NotFoundError: no such conversation for this owner.
        ConflictError: nothing waits for tool results, or this call was already answered.
        ValidationFailedError: ``call_id`` is not one of the calls the run waits for.
        """
        record = await self.conversations.get(owner_id, conversation_id)
        if record is None:
            raise NotFoundError(f"no conversation {conversation_id!r}")
        run_id = new_id()
        outcome = await self.conversations.record_tool_result(
            conversation_id,
            call_id,
            {"success": success, "output": output, "error": error},
            resume_run_id=run_id,
        )
        if outcome.status is ToolResultStatus.NO_CONVERSATION:
            raise NotFoundError(f"no conversation {conversation_id!r}")
        if outcome.status is ToolResultStatus.NOT_WAITING:
            status = outcome.conversation_status or record.status
            raise ConflictError(
                f"the conversation is not waiting for tool results (its status is {status.value})"
            )
        if outcome.status is ToolResultStatus.UNKNOWN_CALL:
            waiting = ", ".join(call.id for call in outcome.calls)
            raise ValidationFailedError(
                {"call_id": [f"no pending tool call has this id; pending: {waiting}"]}
            )
        if outcome.status is ToolResultStatus.ALREADY_ANSWERED:
            raise ConflictError(f"the tool call {call_id!r} was already answered")
        if not outcome.resumed:
            return ToolResultAccepted(conversation_id=conversation_id, pending=outcome.pending)
        for call in outcome.calls:
            await self.messages.append(conversation_id, _result_message(call, outcome.results[call.id]))
        resumed = attrs.evolve(
            record,
            status=ConversationStatus.PROCESSING,
            run_id=run_id,
            pending_tool_calls=(),
            tool_results={},
            error=None,
            updated_at=now(),
        )
        run = await _start(self.conversations, self.events, self.queue, resumed, run_id, resume=True)
        return ToolResultAccepted(conversation_id=conversation_id, pending=(), run=run)


def _result_message(call: ToolCall, result: Any) -> ChatMessage:
    """The tool message the model reads: the output, or the failure as an error it can act on."""
    output, error = result.get("output"), result.get("error")
    if result.get("success"):
        return ChatMessage.tool(call, output or "(the tool finished without output)")
    detail = error or output or "no reason given"
    return ChatMessage.tool(call, f"Error: the tool failed on the client: {detail}", is_error=True)


@attrs.define
class StopRun:
    """Stop the conversation's run wherever it executes; it ends ``cancelled`` with its event."""

    conversations: ConversationRepositoryPort
    messages: ConversationStorePort
    events: EventLogPort
    queue: RunQueuePort

    async def __call__(self, owner_id: str, conversation_id: str) -> ConversationStatus:
        """Raises:
        NotFoundError: no such conversation for this owner.
        ConflictError: no run is in progress or waiting.
        """
        current = await self.conversations.get(owner_id, conversation_id)
        if current is None:
            raise NotFoundError(f"no conversation {conversation_id!r}")
        if not current.status.busy:
            raise ConflictError("the conversation is not running")
        # A tool result may resume the paused run (a new run id) while this stops it: the
        # repository's atomic `end_run` lets only one of them win; when the resume won, stop
        # the resumed run instead.
        for _ in range(_STOP_ATTEMPTS):
            if current.status is ConversationStatus.PROCESSING:
                await self.queue.cancel(conversation_id)
            # Nobody recorded the end yet: the run waits for the client, was still queued, or
            # executes elsewhere. Record it, answer the calls it waited for, then announce it.
            ended = await self.conversations.end_run(
                conversation_id, current.run_id, status=ConversationStatus.CANCELLED, stats=RunStats()
            )
            if ended is not None:
                for call in ended.before.pending_tool_calls:
                    await self.messages.append(
                        conversation_id, ChatMessage.tool(call, CANCELLED_RESULT, is_error=True)
                    )
                await announce_run_end(self.events, ended.after)
                break
            latest = await self.conversations.get_any(conversation_id)
            if latest is None or not latest.status.busy or latest.run_id == current.run_id:
                break
            current = latest
        return ConversationStatus.CANCELLED


_STOP_ATTEMPTS = 3
