"""The `AgentRepositoryPort` contract, on the SQL adapter over SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import uuid

import attrs
import pytest

from adapters.storage.sql import Database
from domain.messages import ChatMessage
from domain.ports import AgentRepositoryPort
from domain.service import AgentRecord, AgentStatus, ConversationRecord

pytestmark = pytest.mark.anyio

NOW = dt.datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=dt.UTC)


def agent(owner_id: str, **changes: object) -> AgentRecord:
    values: dict[str, object] = {
        "id": uuid.uuid4().hex,
        "owner_id": owner_id,
        "name": "Helper",
        "description": "helps ☃",
        "system_prompt": "Be brief.",
        "ai_backend": "huggingface",
        "model_config": {
            "model": "meta-llama/Llama-3.1-8B-Instruct",
            "provider": "fastest",
            "temperature": 0.5,
        },
        "tools": ("read", "grep"),
        "created_at": NOW,
        "updated_at": NOW,
    }
    values.update(changes)
    return AgentRecord(**values)  # type: ignore[arg-type]


@pytest.fixture
def agents(database: Database) -> AgentRepositoryPort:
    return database.agents


@pytest.fixture
async def owners(database: Database) -> tuple[str, str]:
    ada = await database.users.create_user(name="Ada", email="ada@example.org", password_hash=None)
    bob = await database.users.create_user(name="Bob", email="bob@example.org", password_hash=None)
    return ada.id, bob.id


async def test_an_added_agent_reads_back_equal(agents: AgentRepositoryPort, owners: tuple[str, str]) -> None:
    made = agent(owners[0], status=AgentStatus.INACTIVE)
    assert await agents.add(made) == made
    assert await agents.get(owners[0], made.id) == made


async def test_unset_model_config_values_are_not_stored(
    agents: AgentRepositoryPort, owners: tuple[str, str]
) -> None:
    made = await agents.add(agent(owners[0], model_config={"model": "m", "temperature": None}))
    assert made.model_config == {"model": "m"}
    stored = await agents.get(owners[0], made.id)
    assert stored is not None
    assert stored.model_config == {"model": "m"}


async def test_another_owners_agent_is_invisible(
    agents: AgentRepositoryPort, owners: tuple[str, str]
) -> None:
    ada, bob = owners
    mine = await agents.add(agent(ada))
    assert await agents.get(bob, mine.id) is None
    assert (await agents.list(bob, page=1, per_page=10)).total == 0
    assert await agents.delete(bob, mine.id) is False
    assert await agents.get(ada, mine.id) == mine


async def test_listing_is_oldest_first_and_paged(
    agents: AgentRepositoryPort, owners: tuple[str, str]
) -> None:
    ada, bob = owners
    made = [await agents.add(agent(ada, name=f"agent {n}")) for n in range(5)]
    await agents.add(agent(bob))
    first = await agents.list(ada, page=1, per_page=2)
    assert (first.page, first.per_page, first.total) == (1, 2, 5)
    assert first.items == tuple(made[:2])
    assert (await agents.list(ada, page=3, per_page=2)).items == (made[4],)
    assert (await agents.list(ada, page=4, per_page=2)).items == ()


async def test_update_replaces_the_agent_and_stamps_updated_at(
    agents: AgentRepositoryPort, owners: tuple[str, str]
) -> None:
    made = await agents.add(agent(owners[0]))
    changed = attrs.evolve(made, name="Renamed", tools=(), model_config={"model": "other"})
    stored = await agents.update(changed)
    assert stored.name == "Renamed"
    assert stored.tools == ()
    assert stored.model_config == {"model": "other"}
    assert stored.created_at == made.created_at
    assert stored.updated_at > made.updated_at
    assert await agents.get(owners[0], made.id) == stored


async def test_delete_removes_the_agent_its_conversations_and_their_messages(
    database: Database, owners: tuple[str, str]
) -> None:
    ada = owners[0]
    made = await database.agents.add(agent(ada))
    kept = await database.agents.add(agent(ada))
    for agent_id, conversation_id in ((made.id, "gone"), (kept.id, "kept")):
        await database.conversations.add(
            ConversationRecord(
                id=conversation_id, owner_id=ada, agent_id=agent_id, created_at=NOW, updated_at=NOW
            )
        )
        await database.messages.append(conversation_id, ChatMessage.user("hi"))
        await database.events.append(conversation_id, "status_changed", {"status": "processing"})
    assert await database.agents.delete(ada, made.id) is True
    assert await database.agents.get(ada, made.id) is None
    assert await database.agents.delete(ada, made.id) is False
    assert await database.conversations.get(ada, "gone") is None
    assert tuple(await database.messages.load("gone")) == ()
    assert tuple(await database.events.read("gone")) == ()
    assert await database.conversations.get(ada, "kept") is not None
    assert len(await database.messages.load("kept")) == 1
    assert len(await database.events.read("kept")) == 1
