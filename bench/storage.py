"""The service database's hot paths: event appends and reads, claims, and idle listeners.

Usage: ``python -m bench.storage [--postgres URL] [--events N] [--conversations N]``.

For SQLite (a temporary file) and, when reachable, PostgreSQL (a temporary schema, dropped
afterwards) it prints events appended per second — one writer, then one writer per
conversation for many conversations at once, as a busy ``cw serve`` does — events read per
second, conversations claimed per second, and the memory one idle `SQLEventLog.wait`
listener holds. Figures vary with the machine: compare rows of one run.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path

import sqlalchemy as sa

from adapters.storage.sql import Database
from domain.service import AgentRecord, ConversationRecord


async def _owner_and_agent(db: Database) -> tuple[str, str]:
    user = await db.users.create_user(
        name="bench", email=f"{uuid.uuid4().hex}@bench.test", password_hash=None
    )
    now = dt.datetime.now(dt.UTC)
    agent = AgentRecord(
        id=uuid.uuid4().hex, owner_id=user.id, name="a", ai_backend="fake", created_at=now, updated_at=now
    )
    await db.agents.add(agent)
    return user.id, agent.id


async def _measure(db: Database, events: int, conversations: int) -> dict[str, float]:
    await db.upgrade()
    figures: dict[str, float] = {}

    started = time.perf_counter()
    for n in range(events):
        await db.events.append("one", "text_chunk", {"chunk": f"token {n} ", "type": "content"})
    figures["append/s, one writer"] = events / (time.perf_counter() - started)

    async def writer(conversation: str, count: int) -> None:
        for n in range(count):
            await db.events.append(conversation, "text_chunk", {"chunk": f"token {n} ", "type": "content"})

    per = max(1, events // conversations)
    started = time.perf_counter()
    await asyncio.gather(*(writer(f"c{n}", per) for n in range(conversations)))
    figures[f"append/s, {conversations} concurrent conversations"] = (
        per * conversations / (time.perf_counter() - started)
    )

    started = time.perf_counter()
    read = 0
    cursor = 0
    while batch := await db.events.read("one", after=cursor, limit=100):
        read += len(batch)
        cursor = batch[-1].id
    figures["read/s (pages of 100)"] = read / (time.perf_counter() - started)

    owner, agent = await _owner_and_agent(db)
    now = dt.datetime.now(dt.UTC)
    ids = [uuid.uuid4().hex for _ in range(200)]
    for conversation_id in ids:
        await db.conversations.add(
            ConversationRecord(
                id=conversation_id, owner_id=owner, agent_id=agent, created_at=now, updated_at=now
            )
        )
    started = time.perf_counter()
    results = await asyncio.gather(*(db.conversations.claim(cid, "run") for cid in ids for _ in range(2)))
    figures["claims/s (2 racing per conversation)"] = len(results) / (time.perf_counter() - started)
    assert sum(results) == len(ids), "exactly one claim per conversation must win"

    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    listeners = [asyncio.create_task(db.events.wait(f"idle{n}", after=0, max_wait=60)) for n in range(200)]
    await asyncio.sleep(0.5)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    figures["KiB per idle listener"] = grown / len(listeners) / 1024
    for task in listeners:
        task.cancel()
    await asyncio.gather(*listeners, return_exceptions=True)
    return figures


async def _run(name: str, db: Database, events: int, conversations: int) -> None:
    try:
        figures = await _measure(db, events, conversations)
    finally:
        await db.aclose()
    print(f"\n{name} ({db.describe()})")
    for label, value in figures.items():
        print(f"  {label:<45} {value:>10,.1f}")


async def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--conversations", type=int, default=200)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        db = Database(f"sqlite:///{Path(folder) / 'bench.db'}")
        await _run("SQLite", db, args.events, args.conversations)
    schema = f"cw_bench_{uuid.uuid4().hex[:8]}"
    db = Database(args.postgres, schema=schema)
    try:
        await _run("PostgreSQL", db, args.events, args.conversations)
    except Exception as exc:  # unreachable: say so and skip
        print(f"\nPostgreSQL skipped: {exc}")
    finally:
        cleanup = Database(args.postgres)
        try:
            async with cleanup.sql.engine.begin() as connection:
                await connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        except Exception:  # nothing to clean when the server is unreachable
            pass
        finally:
            await cleanup.aclose()


if __name__ == "__main__":
    asyncio.run(main())
