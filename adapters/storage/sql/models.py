"""The service's tables as SQLAlchemy 2 models: the one description the migrations follow.

The Alembic migrations in ``migrations/versions`` create exactly these tables (a test
compares them), on SQLite and PostgreSQL alike, so only portable types are used: strings,
integers, booleans, timezone-aware timestamps and JSON.

Listing order matters (agents oldest first, conversations newest first, messages in append
order), and timestamps can tie, so ordered tables carry an integer ``seq`` primary key and
keep their public string ``id`` in a unique column.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "AgentRow",
    "Base",
    "ChatMessageRow",
    "ChatThreadRow",
    "ConversationRow",
    "EventCounterRow",
    "EventRow",
    "TokenRow",
    "UserRow",
]

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

_NUL_MARK = "\x01json:"


class _NulSafe(sa.types.TypeDecorator[str]):
    """Text that may hold NUL characters, which PostgreSQL refuses in text columns.

    Such a value (or one that happens to start with the marker) is stored as the marker plus
    its JSON encoding, which escapes NUL; every other value is stored as is, on both databases.
    """

    impl: Any = sa.Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: sa.Dialect) -> str | None:
        if value is not None and ("\x00" in value or value.startswith(_NUL_MARK)):
            return _NUL_MARK + json.dumps(value)
        return value

    def process_result_value(self, value: str | None, dialect: sa.Dialect) -> str | None:
        if value is not None and value.startswith(_NUL_MARK):
            decoded: str = json.loads(value[len(_NUL_MARK) :])
            return decoded
        return value


class SafeText(_NulSafe):
    """``TEXT`` that keeps any string, NUL characters included."""

    impl = sa.Text
    cache_ok = True


class SafeString(_NulSafe):
    """``VARCHAR(n)`` that keeps any string, NUL characters included."""

    impl = sa.String
    cache_ok = True


_ID = sa.String(64)
_TIME = sa.DateTime(timezone=True)


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class UserRow(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(_ID, primary_key=True)
    name: Mapped[str] = mapped_column(SafeString(255))
    email: Mapped[str] = mapped_column(sa.String(320))
    email_key: Mapped[str] = mapped_column(sa.String(320), unique=True)
    """The email lower-cased: the unique key, so ``A@x.org`` and ``a@x.org`` are one user."""
    password_hash: Mapped[str | None] = mapped_column(sa.String(255))
    created_at: Mapped[dt.datetime] = mapped_column(_TIME)


class TokenRow(Base):
    __tablename__ = "api_tokens"

    token_hash: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    user_id: Mapped[str] = mapped_column(_ID, sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(SafeString(255), default="")
    created_at: Mapped[dt.datetime] = mapped_column(_TIME)


class AgentRow(Base):
    __tablename__ = "agents"

    seq: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(_ID, unique=True)
    owner_id: Mapped[str] = mapped_column(_ID, sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(SafeString(255))
    description: Mapped[str] = mapped_column(SafeText)
    system_prompt: Mapped[str] = mapped_column(SafeText)
    ai_backend: Mapped[str] = mapped_column(sa.String(64))
    model_config: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    tools: Mapped[list[Any]] = mapped_column(sa.JSON)
    status: Mapped[str] = mapped_column(sa.String(16))
    created_at: Mapped[dt.datetime] = mapped_column(_TIME)
    updated_at: Mapped[dt.datetime] = mapped_column(_TIME)


class ConversationRow(Base):
    __tablename__ = "conversations"
    __table_args__ = (sa.Index("ix_conversations_status", "status"),)

    seq: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(_ID, unique=True)
    owner_id: Mapped[str] = mapped_column(_ID, sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    agent_id: Mapped[str] = mapped_column(_ID, sa.ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    title: Mapped[str | None] = mapped_column(SafeString(255))
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", sa.JSON)
    client_tool_schemas: Mapped[list[Any]] = mapped_column(sa.JSON)
    status: Mapped[str] = mapped_column(sa.String(32))
    run_id: Mapped[str | None] = mapped_column(_ID)
    pending_tool_calls: Mapped[list[Any]] = mapped_column(sa.JSON)
    tool_results: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    error: Mapped[str | None] = mapped_column(SafeText)
    turns: Mapped[int] = mapped_column(sa.Integer)
    prompt_tokens: Mapped[int] = mapped_column(sa.Integer)
    completion_tokens: Mapped[int] = mapped_column(sa.Integer)
    total_tokens: Mapped[int] = mapped_column(sa.Integer)
    created_at: Mapped[dt.datetime] = mapped_column(_TIME)
    updated_at: Mapped[dt.datetime] = mapped_column(_TIME)


class ChatThreadRow(Base):
    """A conversation as the message store knows it: just an id, in creation order."""

    __tablename__ = "chat_threads"

    seq: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(sa.String(255), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(_TIME)


class ChatMessageRow(Base):
    """One `ChatMessage`; lists of nested values are JSON made by `adapters.serialization`."""

    __tablename__ = "chat_messages"
    __table_args__ = (sa.Index("ix_chat_messages_conversation_id_seq", "conversation_id", "seq"),)

    seq: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(
        sa.String(255), sa.ForeignKey("chat_threads.conversation_id", ondelete="CASCADE")
    )
    role: Mapped[str] = mapped_column(sa.String(16))
    content: Mapped[str] = mapped_column(SafeText)
    images: Mapped[list[Any]] = mapped_column(sa.JSON)
    tool_calls: Mapped[list[Any]] = mapped_column(sa.JSON)
    tool_call_id: Mapped[str | None] = mapped_column(SafeString(255))
    name: Mapped[str | None] = mapped_column(SafeString(255))
    thinking: Mapped[str | None] = mapped_column(SafeText)
    thinking_blocks: Mapped[list[Any]] = mapped_column(sa.JSON)
    is_error: Mapped[bool] = mapped_column(sa.Boolean)
    created_at: Mapped[dt.datetime] = mapped_column(_TIME)


class EventCounterRow(Base):
    """The last event id handed out per conversation: one atomic upsert allocates the next."""

    __tablename__ = "event_counters"

    conversation_id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    last_id: Mapped[int] = mapped_column(sa.Integer)


class EventRow(Base):
    __tablename__ = "events"

    conversation_id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    type: Mapped[str] = mapped_column(sa.String(64))
    data: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    created_at: Mapped[dt.datetime] = mapped_column(_TIME)
