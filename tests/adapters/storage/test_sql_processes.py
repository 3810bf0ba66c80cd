"""Several real processes sharing one database: event ids stay gapless, one claim wins.

The contract suites race coroutines (and two engines) inside one process; here separate
Python processes append and claim at the same time, as ``cw serve`` replicas and ``cw worker``s
do, on a SQLite file (file locks, busy timeout) and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
import textwrap
from pathlib import Path

import pytest

from adapters.storage.sql import Database
from domain.service import AgentRecord, ConversationRecord

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).parents[3]

WORKER = textwrap.dedent(
    """
    import asyncio, json, sys
    from adapters.storage.sql import Database

    async def main(url, schema, name, count):
        db = Database(url, schema=schema or None, max_connections=3)
        try:
            claimed = await db.conversations.claim("shared", f"run-{name}")
            ids = [
                (await db.events.append("shared", "text_chunk", {"from": name, "n": n})).id
                for n in range(count)
            ]
        finally:
            await db.aclose()
        print(json.dumps({"claimed": claimed, "ids": ids}))

    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
    """
)


async def test_processes_appending_and_claiming_at_once(database: Database) -> None:
    user = await database.users.create_user(name="p", email="p@example.org", password_hash=None)
    now = dt.datetime.now(dt.UTC)
    agent = await database.agents.add(
        AgentRecord(id="agent", owner_id=user.id, name="a", ai_backend="fake", created_at=now, updated_at=now)
    )
    await database.conversations.add(
        ConversationRecord(id="shared", owner_id=user.id, agent_id=agent.id, created_at=now, updated_at=now)
    )
    count, workers = 25, 4
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            WORKER,
            database.url,
            database.sql.schema or "",
            str(n),
            str(count),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for n in range(workers)
    ]
    results = []
    for process in processes:
        out, err = await asyncio.wait_for(process.communicate(), timeout=120)
        assert process.returncode == 0, err.decode()
        results.append(json.loads(out))
    assert sum(result["claimed"] for result in results) == 1
    ids = sorted(event_id for result in results for event_id in result["ids"])
    assert ids == list(range(1, count * workers + 1))
    for result in results:
        assert result["ids"] == sorted(result["ids"])  # each process sees its own appends in order
    stored = await database.events.read("shared")
    assert [event.id for event in stored] == ids
