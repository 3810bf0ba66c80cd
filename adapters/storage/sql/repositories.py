"""SQL repositories for the service's users, agents and conversations.

Each implements its port from `domain.ports` over a shared `SQLEngine`, in SQLAlchemy Core
statements (no ORM session: every method is one short transaction). Every query of an
owner's data filters by ``owner_id``, so another owner's record reads exactly as a missing one.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import attrs
import sqlalchemy as sa

from adapters.serialization import from_json_dict, to_json_dict
from adapters.storage.sql._shielded import shielded
from adapters.storage.sql.engine import SQLEngine, as_utc, utc_now
from adapters.storage.sql.models import (
    AgentRow,
    ChatMessageRow,
    ChatThreadRow,
    ConversationRow,
    EventCounterRow,
    EventRow,
    TokenRow,
    UserRow,
)
from domain.errors import StorageError
from domain.messages import ToolCall, ToolDefinition
from domain.service import (
    AgentRecord,
    ConversationRecord,
    ConversationStatus,
    Page,
    RunStats,
    User,
)

__all__ = ["SQLAgentRepository", "SQLConversationRepository", "SQLUserRepository"]

_BUSY = (ConversationStatus.PROCESSING.value, ConversationStatus.WAITING_FOR_TOOL.value)


def _json(value: Any) -> Any:
    """A plain JSON copy of a (frozen) mapping or sequence from a domain value."""
    if isinstance(value, Mapping):
        return {str(key): _json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json(item) for item in value]
    return value


def _check_page(page: int, per_page: int) -> None:
    if page < 1 or per_page < 1:
        raise ValueError(f"page and per_page count from 1 (got page={page}, per_page={per_page})")


class SQLUserRepository:
    """A `UserRepositoryPort`: users (email unique regardless of case) and hashed API tokens."""

    def __init__(self, sql: SQLEngine) -> None:
        self._sql = sql

    @shielded
    async def create_user(self, *, name: str, email: str, password_hash: str | None) -> User:
        user = User(id=uuid.uuid4().hex, name=name, email=email, created_at=utc_now())
        async with self._sql.transaction(
            "create a user", write=True, duplicate="a user with this email already exists"
        ) as connection:
            await connection.execute(
                sa.insert(UserRow).values(
                    id=user.id,
                    name=name,
                    email=email,
                    email_key=email.strip().lower(),
                    password_hash=password_hash,
                    created_at=user.created_at,
                )
            )
        return user

    @shielded
    async def user_by_email(self, email: str) -> tuple[User, str | None] | None:
        async with self._sql.transaction("find a user") as connection:
            row = (
                await connection.execute(sa.select(UserRow).where(UserRow.email_key == email.strip().lower()))
            ).first()
        if row is None:
            return None
        return _user(row), row.password_hash

    @shielded
    async def add_token(self, *, user_id: str, token_hash: str, name: str = "") -> None:
        async with self._sql.transaction("save a token", write=True) as connection:
            await connection.execute(
                sa.insert(TokenRow).values(
                    token_hash=token_hash, user_id=user_id, name=name, created_at=utc_now()
                )
            )

    @shielded
    async def user_by_token(self, token_hash: str) -> User | None:
        async with self._sql.transaction("check a token") as connection:
            row = (
                await connection.execute(
                    sa.select(UserRow)
                    .join(TokenRow, TokenRow.user_id == UserRow.id)
                    .where(TokenRow.token_hash == token_hash)
                )
            ).first()
        return None if row is None else _user(row)

    @shielded
    async def revoke_token(self, token_hash: str) -> None:
        async with self._sql.transaction("revoke a token", write=True) as connection:
            await connection.execute(sa.delete(TokenRow).where(TokenRow.token_hash == token_hash))


def _user(row: Any) -> User:
    return User(id=row.id, name=row.name, email=row.email, created_at=as_utc(row.created_at))


class SQLAgentRepository:
    """An `AgentRepositoryPort`: agents per owner, listed oldest first."""

    def __init__(self, sql: SQLEngine) -> None:
        self._sql = sql

    @shielded
    async def add(self, agent: AgentRecord) -> AgentRecord:
        async with self._sql.transaction(
            "save an agent", write=True, duplicate=f"an agent with id {agent.id!r} already exists"
        ) as connection:
            await connection.execute(sa.insert(AgentRow).values(**_agent_values(agent)))
        return _as_stored(agent)

    @shielded
    async def get(self, owner_id: str, agent_id: str) -> AgentRecord | None:
        async with self._sql.transaction("load an agent") as connection:
            row = (
                await connection.execute(
                    sa.select(AgentRow).where(AgentRow.id == agent_id, AgentRow.owner_id == owner_id)
                )
            ).first()
        return None if row is None else _agent(row)

    @shielded
    async def list(self, owner_id: str, *, page: int, per_page: int) -> Page:
        _check_page(page, per_page)
        async with self._sql.transaction("list agents") as connection:
            total = await connection.scalar(
                sa.select(sa.func.count()).select_from(AgentRow).where(AgentRow.owner_id == owner_id)
            )
            rows = await connection.execute(
                sa.select(AgentRow)
                .where(AgentRow.owner_id == owner_id)
                .order_by(AgentRow.seq)
                .limit(per_page)
                .offset((page - 1) * per_page)
            )
            items: list[Any] = [_agent(row) for row in rows]
        return Page(items=items, page=page, per_page=per_page, total=int(total or 0))

    @shielded
    async def update(self, agent: AgentRecord) -> AgentRecord:
        stored = attrs.evolve(agent, updated_at=utc_now())
        values = _agent_values(stored)
        for key in ("id", "owner_id", "created_at"):
            values.pop(key)
        async with self._sql.transaction("update an agent", write=True) as connection:
            result = await connection.execute(
                sa.update(AgentRow)
                .where(AgentRow.id == agent.id, AgentRow.owner_id == agent.owner_id)
                .values(**values)
            )
            if result.rowcount != 1:
                raise StorageError(f"there is no agent {agent.id!r} of this owner to update")
        return _as_stored(stored)

    @shielded
    async def delete(self, owner_id: str, agent_id: str) -> bool:
        async with self._sql.transaction("delete an agent", write=True) as connection:
            conversations = sa.select(ConversationRow.id).where(
                ConversationRow.agent_id == agent_id, ConversationRow.owner_id == owner_id
            )
            await _delete_conversation_data(connection, conversations)
            await connection.execute(
                sa.delete(ConversationRow).where(
                    ConversationRow.agent_id == agent_id, ConversationRow.owner_id == owner_id
                )
            )
            result = await connection.execute(
                sa.delete(AgentRow).where(AgentRow.id == agent_id, AgentRow.owner_id == owner_id)
            )
            return bool(result.rowcount)


def _agent_values(agent: AgentRecord) -> dict[str, Any]:
    return {
        "id": agent.id,
        "owner_id": agent.owner_id,
        "name": agent.name,
        "description": agent.description,
        "system_prompt": agent.system_prompt,
        "ai_backend": agent.ai_backend,
        "model_config": {key: _json(value) for key, value in agent.model_config.items() if value is not None},
        "tools": list(agent.tools),
        "status": agent.status.value,
        "created_at": as_utc(agent.created_at),
        "updated_at": as_utc(agent.updated_at),
    }


def _as_stored(agent: AgentRecord) -> AgentRecord:
    return attrs.evolve(
        agent,
        model_config={key: _json(value) for key, value in agent.model_config.items() if value is not None},
        created_at=as_utc(agent.created_at),
        updated_at=as_utc(agent.updated_at),
    )


def _agent(row: Any) -> AgentRecord:
    return AgentRecord(
        id=row.id,
        owner_id=row.owner_id,
        name=row.name,
        description=row.description,
        system_prompt=row.system_prompt,
        ai_backend=row.ai_backend,
        model_config=row.model_config or {},
        tools=tuple(row.tools or ()),
        status=row.status,
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
    )


async def _delete_conversation_data(connection: Any, conversation_ids: Any) -> None:
    """Delete the messages and events of the conversations ``conversation_ids`` selects."""
    await connection.execute(
        sa.delete(ChatMessageRow).where(ChatMessageRow.conversation_id.in_(conversation_ids))
    )
    await connection.execute(
        sa.delete(ChatThreadRow).where(ChatThreadRow.conversation_id.in_(conversation_ids))
    )
    await connection.execute(sa.delete(EventRow).where(EventRow.conversation_id.in_(conversation_ids)))
    await connection.execute(
        sa.delete(EventCounterRow).where(EventCounterRow.conversation_id.in_(conversation_ids))
    )


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
    async def fail_interrupted(self, error: str) -> int:
        async with self._sql.transaction("mark interrupted runs failed", write=True) as connection:
            result = await connection.execute(
                sa.update(ConversationRow)
                .where(ConversationRow.status == ConversationStatus.PROCESSING.value)
                .values(status=ConversationStatus.FAILED.value, error=error, updated_at=utc_now())
            )
            return int(result.rowcount)


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
