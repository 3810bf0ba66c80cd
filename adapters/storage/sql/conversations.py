"""`SQLConversationRepository`: conversation records per owner, and the one-run-per-conversation guard.

`claim` is a single conditional ``UPDATE … WHERE status NOT IN ('processing',
'waiting_for_tool')`` whose row count says who won; both databases make it atomic, across
connections and processes. `record_tool_result` and `end_run` read the row and write it back in
one write transaction that holds the row: ``SELECT … FOR UPDATE`` on PostgreSQL, the database
write lock (``BEGIN IMMEDIATE``) on SQLite; so tool results, the resume they trigger and a
run's end (a stop) are serialized per conversation across processes. The messages of a
conversation live in `SQLConversationStore` and its events in `SQLEventLog`; deleting the
record deletes them in the same transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import sqlalchemy as sa

from adapters.serialization import from_json_dict, to_json_dict
from adapters.storage.sql._shielded import shielded
from adapters.storage.sql.engine import SQLEngine, as_utc, utc_now
from adapters.storage.sql.models import ConversationRow
from adapters.storage.sql.repositories import _check_page, _delete_conversation_data, _json
from domain.errors import StorageError
from domain.messages import ToolCall, ToolDefinition
from domain.service import (
    ConversationRecord,
    ConversationStatus,
    Page,
    RunEnd,
    RunStats,
    ToolResultOutcome,
    ToolResultStatus,
)

__all__ = ["SQLConversationRepository"]

_BUSY = (ConversationStatus.PROCESSING.value, ConversationStatus.WAITING_FOR_TOOL.value)


class SQLConversationRepository:
    """A `ConversationRepositoryPort`: conversation records per owner, listed newest first.

    `claim` is the one-run-per-conversation guard: a single conditional ``UPDATE`` whose row
    count says who won, which both databases make atomic.
    """

    def __init__(self, sql: SQLEngine) -> None:
        self._sql = sql

    @shielded
    async def add(self, conversation: ConversationRecord) -> ConversationRecord:
        async with self._sql.transaction(
            "save a conversation",
            write=True,
            duplicate=f"a conversation with id {conversation.id!r} already exists",
        ) as connection:
            await connection.execute(sa.insert(ConversationRow).values(**_conversation_values(conversation)))
        return _conversation_as_stored(conversation)

    @shielded
    async def get(self, owner_id: str, conversation_id: str) -> ConversationRecord | None:
        return await self._one((ConversationRow.id == conversation_id, ConversationRow.owner_id == owner_id))

    @shielded
    async def get_any(self, conversation_id: str) -> ConversationRecord | None:
        return await self._one((ConversationRow.id == conversation_id,))

    async def _one(self, where: tuple[Any, ...]) -> ConversationRecord | None:
        async with self._sql.transaction("load a conversation") as connection:
            row = (await connection.execute(sa.select(ConversationRow).where(*where))).first()
        return None if row is None else _conversation(row)

    @shielded
    async def list(
        self,
        owner_id: str,
        *,
        agent_id: str | None = None,
        status: ConversationStatus | None = None,
        page: int,
        per_page: int,
    ) -> Page:
        _check_page(page, per_page)
        where = [ConversationRow.owner_id == owner_id]
        if agent_id is not None:
            where.append(ConversationRow.agent_id == agent_id)
        if status is not None:
            where.append(ConversationRow.status == ConversationStatus(status).value)
        async with self._sql.transaction("list conversations") as connection:
            total = await connection.scalar(
                sa.select(sa.func.count()).select_from(ConversationRow).where(*where)
            )
            rows = await connection.execute(
                sa.select(ConversationRow)
                .where(*where)
                .order_by(ConversationRow.seq.desc())
                .limit(per_page)
                .offset((page - 1) * per_page)
            )
            items: list[Any] = [_conversation(row) for row in rows]
        return Page(items=items, page=page, per_page=per_page, total=int(total or 0))

    @shielded
    async def update(self, conversation: ConversationRecord) -> ConversationRecord:
        stored = attrs.evolve(conversation, updated_at=utc_now())
        values = _conversation_values(stored)
        for key in ("id", "owner_id", "agent_id", "created_at"):
            values.pop(key)
        async with self._sql.transaction("update a conversation", write=True) as connection:
            result = await connection.execute(
                sa.update(ConversationRow)
                .where(
                    ConversationRow.id == conversation.id, ConversationRow.owner_id == conversation.owner_id
                )
                .values(**values)
            )
            if result.rowcount != 1:
                raise StorageError(f"there is no conversation {conversation.id!r} of this owner to update")
        return _conversation_as_stored(stored)

    @shielded
    async def claim(self, conversation_id: str, run_id: str) -> bool:
        async with self._sql.transaction("claim a conversation", write=True) as connection:
            result = await connection.execute(
                sa.update(ConversationRow)
                .where(ConversationRow.id == conversation_id, ConversationRow.status.not_in(_BUSY))
                .values(
                    status=ConversationStatus.PROCESSING.value,
                    run_id=run_id,
                    error=None,
                    updated_at=utc_now(),
                )
            )
            return result.rowcount == 1

    @shielded
    async def record_tool_result(
        self, conversation_id: str, call_id: str, result: Mapping[str, Any], *, resume_run_id: str
    ) -> ToolResultOutcome:
        async with self._sql.transaction("record a tool result", write=True) as connection:
            record = await _locked(connection, conversation_id)
            if record is None:
                return ToolResultOutcome(status=ToolResultStatus.NO_CONVERSATION)
            refused = None
            if record.status is not ConversationStatus.WAITING_FOR_TOOL:
                refused = ToolResultStatus.NOT_WAITING
            elif call_id not in {call.id for call in record.pending_tool_calls}:
                refused = ToolResultStatus.UNKNOWN_CALL
            elif call_id in record.tool_results:
                refused = ToolResultStatus.ALREADY_ANSWERED
            if refused is not None:
                return ToolResultOutcome(
                    status=refused,
                    conversation_status=record.status,
                    calls=record.pending_tool_calls,
                    results=record.tool_results,
                )
            results = {**_json(record.tool_results), call_id: _json(result)}
            resumed = all(call.id in results for call in record.pending_tool_calls)
            values: dict[str, Any] = {"tool_results": results, "updated_at": utc_now()}
            if resumed:
                values.update(
                    status=ConversationStatus.PROCESSING.value,
                    run_id=resume_run_id,
                    pending_tool_calls=[],
                    tool_results={},
                    error=None,
                )
            await connection.execute(
                sa.update(ConversationRow).where(ConversationRow.id == conversation_id).values(**values)
            )
        return ToolResultOutcome(
            status=ToolResultStatus.RECORDED,
            conversation_status=ConversationStatus.PROCESSING if resumed else record.status,
            calls=record.pending_tool_calls,
            results=results,
            resumed=resumed,
        )

    @shielded
    async def end_run(
        self,
        conversation_id: str,
        run_id: str | None,
        *,
        status: ConversationStatus,
        stats: RunStats,
        error: str | None = None,
        pending: tuple[ToolCall, ...] = (),
    ) -> RunEnd | None:
        async with self._sql.transaction("record the end of a run", write=True) as connection:
            before = await _locked(connection, conversation_id)
            if before is None or not before.status.busy or before.run_id != run_id:
                return None
            after = attrs.evolve(
                before,
                status=status,
                pending_tool_calls=pending,
                tool_results={},
                error=error,
                stats=RunStats(
                    turns=before.stats.turns + stats.turns,
                    prompt_tokens=before.stats.prompt_tokens + stats.prompt_tokens,
                    completion_tokens=before.stats.completion_tokens + stats.completion_tokens,
                    total_tokens=before.stats.total_tokens + stats.total_tokens,
                ),
                updated_at=utc_now(),
            )
            values = _conversation_values(after)
            await connection.execute(
                sa.update(ConversationRow)
                .where(ConversationRow.id == conversation_id)
                .values(
                    **{
                        key: values[key]
                        for key in (
                            "status",
                            "pending_tool_calls",
                            "tool_results",
                            "error",
                            "turns",
                            "prompt_tokens",
                            "completion_tokens",
                            "total_tokens",
                            "updated_at",
                        )
                    }
                )
            )
        return RunEnd(before=before, after=_conversation_as_stored(after))

    @shielded
    async def add_stats(self, conversation_id: str, stats: RunStats) -> None:
        async with self._sql.transaction("add run statistics", write=True) as connection:
            await connection.execute(
                sa.update(ConversationRow)
                .where(ConversationRow.id == conversation_id)
                .values(
                    turns=ConversationRow.turns + stats.turns,
                    prompt_tokens=ConversationRow.prompt_tokens + stats.prompt_tokens,
                    completion_tokens=ConversationRow.completion_tokens + stats.completion_tokens,
                    total_tokens=ConversationRow.total_tokens + stats.total_tokens,
                )
            )

    @shielded
    async def delete(self, owner_id: str, conversation_id: str) -> bool:
        """Remove the record and, in the same transaction, its messages and events."""
        async with self._sql.transaction("delete a conversation", write=True) as connection:
            result = await connection.execute(
                sa.delete(ConversationRow).where(
                    ConversationRow.id == conversation_id, ConversationRow.owner_id == owner_id
                )
            )
            if not result.rowcount:
                return False
            await _delete_conversation_data(connection, [conversation_id])
            return True

    @shielded
    async def fail_interrupted(self, error: str) -> tuple[ConversationRecord, ...]:
        async with self._sql.transaction("mark interrupted runs failed", write=True) as connection:
            rows = await connection.execute(
                sa.update(ConversationRow)
                .where(ConversationRow.status == ConversationStatus.PROCESSING.value)
                .values(status=ConversationStatus.FAILED.value, error=error, updated_at=utc_now())
                .returning(*ConversationRow.__table__.columns)
            )
            return tuple(_conversation(row) for row in rows)


async def _locked(connection: Any, conversation_id: str) -> ConversationRecord | None:
    """The record, its row held until the transaction ends (``FOR UPDATE``; SQLite's write
    transaction already holds the whole database)."""
    row = (
        await connection.execute(
            sa.select(ConversationRow).where(ConversationRow.id == conversation_id).with_for_update()
        )
    ).first()
    return None if row is None else _conversation(row)


def _conversation_values(conversation: ConversationRecord) -> dict[str, Any]:
    return {
        "id": conversation.id,
        "owner_id": conversation.owner_id,
        "agent_id": conversation.agent_id,
        "title": conversation.title,
        "metadata_": _json(conversation.metadata),
        "client_tool_schemas": [to_json_dict(schema) for schema in conversation.client_tool_schemas],
        "status": conversation.status.value,
        "run_id": conversation.run_id,
        "pending_tool_calls": [to_json_dict(call) for call in conversation.pending_tool_calls],
        "tool_results": _json(conversation.tool_results),
        "error": conversation.error,
        "turns": conversation.stats.turns,
        "prompt_tokens": conversation.stats.prompt_tokens,
        "completion_tokens": conversation.stats.completion_tokens,
        "total_tokens": conversation.stats.total_tokens,
        "created_at": as_utc(conversation.created_at),
        "updated_at": as_utc(conversation.updated_at),
    }


def _conversation_as_stored(conversation: ConversationRecord) -> ConversationRecord:
    return attrs.evolve(
        conversation,
        metadata=_json(conversation.metadata),
        tool_results=_json(conversation.tool_results),
        created_at=as_utc(conversation.created_at),
        updated_at=as_utc(conversation.updated_at),
    )


def _conversation(row: Any) -> ConversationRecord:
    return ConversationRecord(
        id=row.id,
        owner_id=row.owner_id,
        agent_id=row.agent_id,
        title=row.title,
        metadata=row.metadata or {},
        client_tool_schemas=tuple(
            from_json_dict(ToolDefinition, item) for item in row.client_tool_schemas or ()
        ),
        status=row.status,
        run_id=row.run_id,
        pending_tool_calls=tuple(from_json_dict(ToolCall, item) for item in row.pending_tool_calls or ()),
        tool_results=row.tool_results or {},
        error=row.error,
        stats=RunStats(
            turns=row.turns,
            prompt_tokens=row.prompt_tokens,
            completion_tokens=row.completion_tokens,
            total_tokens=row.total_tokens,
        ),
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
    )
