"""`seed`: the example agents, once per owner, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from adapters.storage.sql import Database
from adapters.storage.sql.seed import DEMO_EMAIL, EXAMPLE_AGENTS, seed

pytestmark = pytest.mark.anyio


async def test_seeding_twice_adds_the_examples_once(database: Database) -> None:
    first = await seed(database)
    assert first.owner.email == DEMO_EMAIL
    assert first.owner_created
    assert len(first.created) == len(EXAMPLE_AGENTS) == 3
    again = await seed(database)
    assert again.created == ()
    assert not again.owner_created
    assert again.owner == first.owner
    assert again.agents == first.agents
    listed = await database.agents.list(first.owner.id, page=1, per_page=50)
    assert listed.items == first.agents


async def test_the_examples_cover_huggingface_ollama_and_fake(database: Database) -> None:
    result = await seed(database)
    by_backend = {agent.ai_backend: agent for agent in result.agents}
    assert set(by_backend) == {"huggingface", "ollama", "fake"}
    assert by_backend["huggingface"].model_config == {
        "model": "meta-llama/Llama-3.1-8B-Instruct",
        "provider": "fastest",
        "temperature": 0.7,
    }
    assert "provider" not in by_backend["ollama"].model_config
    found = await database.users.user_by_email(DEMO_EMAIL)
    assert found is not None
    assert found[1] is None  # the demo user has no password


async def test_seeding_for_an_existing_user_keeps_the_user_and_its_agents(database: Database) -> None:
    user = await database.users.create_user(name="Ada", email="ada@example.org", password_hash="hash")
    result = await seed(database, owner_email="ADA@example.org")
    assert result.owner == user
    assert not result.owner_created
    assert await database.users.user_by_email("ada@example.org") == (user, "hash")
    assert (await database.agents.list(user.id, page=1, per_page=50)).total == 3
    other = await seed(database)
    assert other.owner != user
    assert (await database.agents.list(user.id, page=1, per_page=50)).total == 3
