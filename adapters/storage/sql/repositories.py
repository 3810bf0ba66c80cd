"""SQL repositories for the service's users and agents (conversations: `conversations.py`).

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
from domain.service import (
    AgentRecord,
    Page,
    User,
)

__all__ = ["SQLAgentRepository", "SQLUserRepository"]


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
