"""Example agents, so a fresh service has something to talk to: `seed`.

Idempotent: an agent is added only when its owner has no agent of that name yet, so running
``cw db seed`` (or ``cw serve --demo``) again changes nothing. Without an owner email the
agents belong to the demo user ``demo@example.com``, created without a password: it cannot
log in with one, so it only becomes usable through a token from
``cw token create --email demo@example.com``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import attrs

from adapters.storage.sql.database import Database
from domain.errors import DuplicateError
from domain.ports import AgentRepositoryPort, UserRepositoryPort
from domain.service import AgentRecord, User

__all__ = ["DEMO_EMAIL", "DEMO_NAME", "EXAMPLE_AGENTS", "SeedResult", "seed", "user_for_email"]

DEMO_EMAIL = "demo@example.com"
DEMO_NAME = "Demo user"

EXAMPLE_AGENTS: tuple[dict[str, Any], ...] = (
    {
        "name": "Llama on Hugging Face",
        "description": "Llama 3.1 8B Instruct through the Hugging Face router, on the fastest provider.",
        "system_prompt": "You are a helpful assistant. Answer briefly and precisely.",
        "ai_backend": "huggingface",
        "model_config": {
            "model": "meta-llama/Llama-3.1-8B-Instruct",
            "provider": "fastest",
            "temperature": 0.7,
        },
    },
    {
        "name": "Local Ollama assistant",
        "description": "A model served by the local Ollama (pull it first: cw pull llama3.1).",
        "system_prompt": "You are a helpful assistant running locally. Answer briefly.",
        "ai_backend": "ollama",
        "model_config": {"model": "llama3.1", "temperature": 0.7},
    },
    {
        "name": "Offline fake",
        "description": "The scripted fake backend: answers without any network, for trying the service out.",
        "system_prompt": "You are a test double.",
        "ai_backend": "fake",
        "model_config": {"model": "fake-model"},
    },
)
"""The seeded agents: one per kind of backend (hosted router, self-hosted, offline)."""


@attrs.frozen(kw_only=True)
class SeedResult:
    """What `seed` did: the owner, every example agent (new or already there), and which were new."""

    owner: User
    owner_created: bool
    agents: tuple[AgentRecord, ...]
    created: tuple[str, ...]
    """Names of the agents added by this call (empty when everything was already there)."""


async def seed(db: Database, *, owner_email: str | None = None, owner_name: str | None = None) -> SeedResult:
    """Add the example agents for ``owner_email`` (or the demo user), unless already there.

    Args:
        db: a migrated `Database`.
        owner_email: whose agents they are; the user is created (without a password) when missing.
        owner_name: the name of a user created here (default: the email's local part, or
            ``Demo user`` for the demo user).
    """
    users: UserRepositoryPort = db.users
    agents: AgentRepositoryPort = db.agents
    email = (owner_email or DEMO_EMAIL).strip()
    owner, owner_created = await user_for_email(
        users, email, owner_name or (DEMO_NAME if owner_email is None else None)
    )
    existing = {agent.name: agent for agent in await _all_agents(agents, owner.id)}
    seeded: list[AgentRecord] = []
    created: list[str] = []
    for example in EXAMPLE_AGENTS:
        found = existing.get(example["name"])
        if found is None:
            now = dt.datetime.now(dt.UTC)
            found = await agents.add(
                AgentRecord(id=uuid.uuid4().hex, owner_id=owner.id, created_at=now, updated_at=now, **example)
            )
            created.append(found.name)
        seeded.append(found)
    return SeedResult(owner=owner, owner_created=owner_created, agents=tuple(seeded), created=tuple(created))


async def user_for_email(users: UserRepositoryPort, email: str, name: str | None) -> tuple[User, bool]:
    """The user with ``email``, and whether it was created here (without a password, named
    ``name`` or the email's local part); a user created concurrently by another process is used."""
    found = await users.user_by_email(email)
    if found is not None:
        return found[0], False
    try:
        return await users.create_user(
            name=name or email.split("@")[0], email=email, password_hash=None
        ), True
    except DuplicateError:  # created concurrently by another process: use theirs
        again = await users.user_by_email(email)
        if again is None:
            raise
        return again[0], False


async def _all_agents(agents: AgentRepositoryPort, owner_id: str) -> list[AgentRecord]:
    found: list[AgentRecord] = []
    page = 1
    while True:
        batch = await agents.list(owner_id, page=page, per_page=100)
        found.extend(batch.items)
        if len(found) >= batch.total or not batch.items:
            return found
        page += 1
