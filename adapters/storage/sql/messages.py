"""`SQLConversationStore`: every message of every conversation, in the service's database.

The `ConversationStorePort` over SQL. A message is one row: its scalar fields in columns,
its nested values (images, tool calls, thinking blocks) as JSON made by
`adapters.serialization`, the one converter for domain values, so a message comes back
equal to the one saved. Append order is the row's ``seq``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from adapters.serialization import InvalidDataError, from_json_dict, to_json_dict
from adapters.storage.sql._shielded import shielded
from adapters.storage.sql.engine import SQLEngine, utc_now
from adapters.storage.sql.models import ChatMessageRow, ChatThreadRow
from domain.errors import StorageError
from domain.messages import ChatMessage

__all__ = ["SQLConversationStore"]

_COLUMNS = (
    "role",
    "content",
    "images",
    "tool_calls",
    "tool_call_id",
    "name",
    "thinking",
    "thinking_blocks",
    "is_error",
)


class SQLConversationStore:
    """A `ConversationStorePort` over the ``chat_threads`` and ``chat_messages`` tables."""

    def __init__(self, sql: SQLEngine) -> None:
        self._sql = sql

    @shielded
    async def append(self, conversation_id: str, message: ChatMessage) -> None:
        """Add ``message`` at the end of the conversation, creating it when new."""
        body = to_json_dict(message)
        now = utc_now()
        values = {column: body.get(column) for column in _COLUMNS}
        for column in ("images", "tool_calls", "thinking_blocks"):
            values[column] = values[column] or []
        values["content"] = values["content"] or ""
        values["is_error"] = bool(values["is_error"])
        async with self._sql.transaction("save a message", write=True) as connection:
            await connection.execute(
                self._sql.insert_ignoring_conflict(
                    ChatThreadRow, {"conversation_id": conversation_id, "created_at": now}, "conversation_id"
                )
            )
            await connection.execute(
                sa.insert(ChatMessageRow).values(conversation_id=conversation_id, created_at=now, **values)
            )

    @shielded
    async def load(self, conversation_id: str) -> Sequence[ChatMessage]:
        """Every message of the conversation, in order; empty for an unknown id."""
        columns = [getattr(ChatMessageRow, column) for column in _COLUMNS]
        async with self._sql.transaction("load a conversation's messages") as connection:
            rows = (
                await connection.execute(
                    sa.select(*columns)
                    .where(ChatMessageRow.conversation_id == conversation_id)
                    .order_by(ChatMessageRow.seq)
                )
            ).all()
        messages = []
        for position, row in enumerate(rows, start=1):
            data = {key: value for key, value in row._mapping.items() if value is not None}
            try:
                messages.append(from_json_dict(ChatMessage, data))
            except InvalidDataError as exc:
                raise StorageError(
                    f"message {position} of conversation {conversation_id!r} in the database "
                    f"({self._sql.description}) is damaged ({exc})"
                ) from exc
        return tuple(messages)

    @shielded
    async def list_conversations(self) -> Sequence[str]:
        """Ids of the stored conversations, oldest first."""
        async with self._sql.transaction("list conversations") as connection:
            rows = await connection.execute(
                sa.select(ChatThreadRow.conversation_id).order_by(ChatThreadRow.seq)
            )
            return tuple(row[0] for row in rows)

    @shielded
    async def delete(self, conversation_id: str) -> None:
        """Forget the conversation and its messages; an unknown id is ignored."""
        async with self._sql.transaction("delete a conversation's messages", write=True) as connection:
            await connection.execute(
                sa.delete(ChatMessageRow).where(ChatMessageRow.conversation_id == conversation_id)
            )
            await connection.execute(
                sa.delete(ChatThreadRow).where(ChatThreadRow.conversation_id == conversation_id)
            )

    def __repr__(self) -> str:
        return f"SQLConversationStore({self._sql.description})"
