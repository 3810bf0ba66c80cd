"""The `ConversationRepositoryPort` contract, on the SQL adapter over SQLite and PostgreSQL.

`claim` is the one-run-per-conversation guard: many concurrent claims, one winner. Tool results
and a run's end are atomic too: across two engines each call is answered once, exactly one
result resumes the run, and a stop racing the last result either wins or loses whole.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import attrs
import pytest

from adapters.storage.sql import Database
from domain.messages import ChatMessage, ToolCall, ToolDefinition
from domain.ports import ConversationRepositoryPort
from domain.service import AgentRecord, ConversationRecord, ConversationStatus, RunStats, ToolResultStatus
from tests.adapters.storage.conftest import TEST_CONNECTIONS

pytestmark = pytest.mark.anyio

NOW = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


@attrs.frozen
class World:
    ada: str
    bob: str
    agent: str
    other_agent: str
    bobs_agent: str


@pytest.fixture
def conversations(database: Database) -> ConversationRepositoryPort:
    return database.conversations


@pytest.fixture
async def world(database: Database) -> World:
    ada = await database.users.create_user(name="Ada", email="ada@example.org", password_hash=None)
    bob = await database.users.create_user(name="Bob", email="bob@example.org", password_hash=None)
    ids = []
    for owner in (ada.id, ada.id, bob.id):
        record = AgentRecord(
            id=uuid.uuid4().hex, owner_id=owner, name="a", ai_backend="fake", created_at=NOW, updated_at=NOW
        )
        ids.append((await database.agents.add(record)).id)
    return World(ada=ada.id, bob=bob.id, agent=ids[0], other_agent=ids[1], bobs_agent=ids[2])


def conversation(owner_id: str, agent_id: str, **changes: object) -> ConversationRecord:
    values: dict[str, object] = {
        "id": uuid.uuid4().hex,
        "owner_id": owner_id,
        "agent_id": agent_id,
        "created_at": NOW,
        "updated_at": NOW,
    }
    values.update(changes)
    return ConversationRecord(**values)  # type: ignore[arg-type]


RICH = {
    "title": "Plans ☃ \x00 \x01json:",
    "metadata": {"max_turns": 4, "nested": {"list": [1, "two", None]}},
    "client_tool_schemas": (
        ToolDefinition(
            name="get_location", description="where", parameters={"type": "object", "properties": {"x": {}}}
        ),
    ),
    "status": ConversationStatus.WAITING_FOR_TOOL,
    "run_id": "run-1",
    "pending_tool_calls": (
        ToolCall(id="c1", name="get_location", arguments={"precise": True}),
        ToolCall(id="c2", name="get_location", raw_arguments="{oops", parse_error="invalid JSON"),
    ),
    "tool_results": {"c1": {"success": True, "output": "Paris", "error": None}},
    "error": "a NUL \x00 in an error",
    "stats": RunStats(turns=2, prompt_tokens=10, completion_tokens=5, total_tokens=15),
}


async def test_an_added_conversation_reads_back_equal(
    conversations: ConversationRepositoryPort, world: World
) -> None:
    made = conversation(world.ada, world.agent, **RICH)
    assert await conversations.add(made) == made
    assert await conversations.get(world.ada, made.id) == made
    assert await conversations.get_any(made.id) == made


async def test_another_owners_conversation_is_invisible_but_workers_find_it(
    conversations: ConversationRepositoryPort, world: World
) -> None:
    mine = await conversations.add(conversation(world.ada, world.agent))
    assert await conversations.get(world.bob, mine.id) is None
    assert (await conversations.list(world.bob, page=1, per_page=10)).total == 0
    assert await conversations.delete(world.bob, mine.id) is False
    assert await conversations.get_any(mine.id) == mine
    assert await conversations.get_any("missing") is None


async def test_listing_is_newest_first_filtered_and_paged(
    conversations: ConversationRepositoryPort, world: World
) -> None:
    first = await conversations.add(conversation(world.ada, world.agent))
    second = await conversations.add(
        conversation(world.ada, world.other_agent, status=ConversationStatus.FAILED)
    )
    third = await conversations.add(conversation(world.ada, world.agent, status=ConversationStatus.FAILED))
    await conversations.add(conversation(world.bob, world.bobs_agent))
    everything = await conversations.list(world.ada, page=1, per_page=10)
    assert everything.items == (third, second, first)
    assert everything.total == 3
    by_agent = await conversations.list(world.ada, agent_id=world.agent, page=1, per_page=10)
    assert by_agent.items == (third, first)
    failed = await conversations.list(world.ada, status=ConversationStatus.FAILED, page=1, per_page=10)
    assert failed.items == (third, second)
    both = await conversations.list(
        world.ada, agent_id=world.agent, status=ConversationStatus.FAILED, page=1, per_page=10
    )
    assert both.items == (third,)
    paged = await conversations.list(world.ada, page=2, per_page=2)
    assert (paged.items, paged.total, paged.page, paged.per_page) == ((first,), 3, 2, 2)


async def test_update_replaces_the_record(conversations: ConversationRepositoryPort, world: World) -> None:
    made = await conversations.add(conversation(world.ada, world.agent))
    changed = attrs.evolve(made, **RICH)
    stored = await conversations.update(changed)
    assert stored == attrs.evolve(changed, updated_at=stored.updated_at)
    assert stored.updated_at > made.updated_at
    assert await conversations.get(world.ada, made.id) == stored


async def test_claim_takes_an_idle_or_finished_conversation_once(
    conversations: ConversationRepositoryPort, world: World
) -> None:
    made = await conversations.add(
        conversation(world.ada, world.agent, status=ConversationStatus.FAILED, error="x")
    )
    assert await conversations.claim(made.id, "run-1") is True
    claimed = await conversations.get(world.ada, made.id)
    assert claimed is not None
    assert (claimed.status, claimed.run_id, claimed.error) == (ConversationStatus.PROCESSING, "run-1", None)
    assert await conversations.claim(made.id, "run-2") is False
    await conversations.update(attrs.evolve(claimed, status=ConversationStatus.WAITING_FOR_TOOL))
    assert await conversations.claim(made.id, "run-3") is False
    after = await conversations.get(world.ada, made.id)
    assert after is not None
    assert after.run_id == "run-1"
    await conversations.update(attrs.evolve(after, status=ConversationStatus.COMPLETED))
    assert await conversations.claim(made.id, "run-4") is True
    assert await conversations.claim("no-such-conversation", "run-5") is False


async def test_many_concurrent_claims_have_exactly_one_winner(
    conversations: ConversationRepositoryPort, world: World
) -> None:
    made = await conversations.add(conversation(world.ada, world.agent))
    results = await asyncio.gather(*(conversations.claim(made.id, f"run-{n}") for n in range(25)))
    assert results.count(True) == 1
    winner = f"run-{results.index(True)}"
    stored = await conversations.get(world.ada, made.id)
    assert stored is not None
    assert stored.run_id == winner


async def test_concurrent_claims_from_separate_databases_have_one_winner(
    database: Database, world: World
) -> None:
    """Two processes sharing the database: separate engines, separate connection pools."""
    made = await database.conversations.add(conversation(world.ada, world.agent))
    other = Database(database.url, schema=database.sql.schema, max_connections=TEST_CONNECTIONS)
    try:
        results = await asyncio.gather(
            *((database if n % 2 else other).conversations.claim(made.id, f"run-{n}") for n in range(16))
        )
    finally:
        await other.aclose()
    assert results.count(True) == 1


async def test_add_stats_accumulates(conversations: ConversationRepositoryPort, world: World) -> None:
    made = await conversations.add(conversation(world.ada, world.agent))
    await asyncio.gather(
        *(
            conversations.add_stats(
                made.id, RunStats(turns=1, prompt_tokens=3, completion_tokens=2, total_tokens=5)
            )
            for _ in range(6)
        )
    )
    stored = await conversations.get(world.ada, made.id)
    assert stored is not None
    assert stored.stats == RunStats(turns=6, prompt_tokens=18, completion_tokens=12, total_tokens=30)


async def test_fail_interrupted_fails_only_processing_conversations(
    conversations: ConversationRepositoryPort, world: World
) -> None:
    running = [await conversations.add(conversation(world.ada, world.agent)) for _ in range(2)]
    for made in running:
        assert await conversations.claim(made.id, "r")
    bobs = await conversations.add(conversation(world.bob, world.bobs_agent))
    assert await conversations.claim(bobs.id, "r")
    waiting = await conversations.add(
        conversation(world.ada, world.agent, status=ConversationStatus.WAITING_FOR_TOOL)
    )
    done = await conversations.add(conversation(world.ada, world.agent, status=ConversationStatus.COMPLETED))
    failed = await conversations.fail_interrupted("interrupted by a restart")
    assert sorted(record.id for record in failed) == sorted(made.id for made in (*running, bobs))
    assert {(record.status, record.error) for record in failed} == {
        (ConversationStatus.FAILED, "interrupted by a restart")
    }
    for made in (*running, bobs):
        stored = await conversations.get_any(made.id)
        assert stored is not None
        assert (stored.status, stored.error) == (ConversationStatus.FAILED, "interrupted by a restart")
    assert (await conversations.get_any(waiting.id)).status is ConversationStatus.WAITING_FOR_TOOL  # type: ignore[union-attr]
    assert (await conversations.get_any(done.id)).status is ConversationStatus.COMPLETED  # type: ignore[union-attr]
    assert await conversations.fail_interrupted("again") == ()


async def test_delete_removes_the_record_its_messages_and_events(database: Database, world: World) -> None:
    made = await database.conversations.add(conversation(world.ada, world.agent))
    await database.messages.append(made.id, ChatMessage.user("hello"))
    await database.events.append(made.id, "completed", {"stats": {}})
    assert await database.conversations.delete(world.ada, made.id) is True
    assert await database.conversations.get(world.ada, made.id) is None
    assert tuple(await database.messages.load(made.id)) == ()
    assert tuple(await database.events.read(made.id)) == ()
    assert await database.conversations.delete(world.ada, made.id) is False


CALLS = (ToolCall(id="c1", name="get_location"), ToolCall(id="c2", name="get_location"))


async def waiting_conversation(conversations: ConversationRepositoryPort, world: World) -> ConversationRecord:
    made = await conversations.add(conversation(world.ada, world.agent))
    assert await conversations.claim(made.id, "run-1")
    ended = await conversations.end_run(
        made.id,
        "run-1",
        status=ConversationStatus.WAITING_FOR_TOOL,
        stats=RunStats(turns=1, total_tokens=3),
        pending=CALLS,
    )
    assert ended is not None
    assert ended.after.pending_tool_calls == CALLS
    return ended.after


async def test_tool_results_are_recorded_once_and_the_last_one_resumes(
    conversations: ConversationRepositoryPort, world: World
) -> None:
    made = await waiting_conversation(conversations, world)
    first = await conversations.record_tool_result(made.id, "c1", {"success": True}, resume_run_id="run-2")
    assert (first.status, first.resumed, first.pending) == (ToolResultStatus.RECORDED, False, ("c2",))
    again = await conversations.record_tool_result(made.id, "c1", {"success": False}, resume_run_id="run-2")
    assert again.status is ToolResultStatus.ALREADY_ANSWERED
    unknown = await conversations.record_tool_result(made.id, "c9", {}, resume_run_id="run-2")
    assert (unknown.status, unknown.pending) == (ToolResultStatus.UNKNOWN_CALL, ("c2",))
    stored = await conversations.get_any(made.id)
    assert stored is not None
    assert stored.status is ConversationStatus.WAITING_FOR_TOOL
    assert dict(stored.tool_results) == {"c1": {"success": True}}
    last = await conversations.record_tool_result(made.id, "c2", {"output": "Paris"}, resume_run_id="run-2")
    assert (last.status, last.resumed, last.calls) == (ToolResultStatus.RECORDED, True, CALLS)
    assert dict(last.results) == {"c1": {"success": True}, "c2": {"output": "Paris"}}
    resumed = await conversations.get_any(made.id)
    assert resumed is not None
    assert (resumed.status, resumed.run_id) == (ConversationStatus.PROCESSING, "run-2")
    assert (resumed.pending_tool_calls, dict(resumed.tool_results)) == ((), {})
    late = await conversations.record_tool_result(made.id, "c2", {}, resume_run_id="run-3")
    assert late.status is ToolResultStatus.NOT_WAITING
    assert late.conversation_status is ConversationStatus.PROCESSING
    missing = await conversations.record_tool_result("no-such", "c1", {}, resume_run_id="run-3")
    assert missing.status is ToolResultStatus.NO_CONVERSATION


async def test_end_run_only_for_the_run_owning_the_conversation(
    conversations: ConversationRepositoryPort, world: World
) -> None:
    made = await waiting_conversation(conversations, world)
    cancelled = ConversationStatus.CANCELLED
    assert await conversations.end_run(made.id, "run-0", status=cancelled, stats=RunStats()) is None
    ended = await conversations.end_run(
        made.id, "run-1", status=ConversationStatus.COMPLETED, stats=RunStats(turns=2, total_tokens=4)
    )
    assert ended is not None
    assert ended.before.status is ConversationStatus.WAITING_FOR_TOOL
    assert ended.before.pending_tool_calls == CALLS
    assert (ended.after.status, ended.after.pending_tool_calls) == (ConversationStatus.COMPLETED, ())
    assert ended.after.stats == RunStats(turns=3, total_tokens=7)
    stored = await conversations.get_any(made.id)
    assert stored == ended.after
    assert await conversations.end_run(made.id, "run-1", status=cancelled, stats=RunStats()) is None


async def test_concurrent_tool_results_across_databases_record_each_call_once_and_resume_once(
    database: Database, world: World
) -> None:
    """Two API processes (separate engines and pools) get the same results many times at once."""
    made = await waiting_conversation(database.conversations, world)
    other = Database(database.url, schema=database.sql.schema, max_connections=TEST_CONNECTIONS)
    try:
        outcomes = await asyncio.gather(
            *(
                (database if n % 2 else other).conversations.record_tool_result(
                    made.id, CALLS[n % 2].id, {"by": n}, resume_run_id=f"run-{n}"
                )
                for n in range(24)
            )
        )
    finally:
        await other.aclose()
    recorded = [n for n, outcome in enumerate(outcomes) if outcome.status is ToolResultStatus.RECORDED]
    assert sorted(CALLS[n % 2].id for n in recorded) == ["c1", "c2"]
    assert {outcomes[n].status for n in set(range(24)) - set(recorded)} <= {
        ToolResultStatus.ALREADY_ANSWERED,
        ToolResultStatus.NOT_WAITING,
    }
    resumers = [n for n, outcome in enumerate(outcomes) if outcome.resumed]
    assert len(resumers) == 1
    winner = outcomes[resumers[0]]
    assert {call: result["by"] for call, result in winner.results.items()} == {
        CALLS[n % 2].id: n for n in recorded
    }
    stored = await database.conversations.get_any(made.id)
    assert stored is not None
    assert (stored.status, stored.run_id) == (ConversationStatus.PROCESSING, f"run-{resumers[0]}")


async def test_a_stop_racing_the_last_tool_result_lets_exactly_one_win(
    database: Database, world: World
) -> None:
    other = Database(database.url, schema=database.sql.schema, max_connections=TEST_CONNECTIONS)
    try:
        for round in range(6):
            made = await waiting_conversation(database.conversations, world)
            await database.conversations.record_tool_result(made.id, "c1", {}, resume_run_id="unused")
            stores = (database, other) if round % 2 else (other, database)
            outcome, ended = await asyncio.gather(
                stores[0].conversations.record_tool_result(made.id, "c2", {}, resume_run_id="run-2"),
                stores[1].conversations.end_run(
                    made.id, "run-1", status=ConversationStatus.CANCELLED, stats=RunStats()
                ),
            )
            assert outcome.resumed != (ended is not None)
            stored = await database.conversations.get_any(made.id)
            assert stored is not None
            expected = ConversationStatus.PROCESSING if outcome.resumed else ConversationStatus.CANCELLED
            assert stored.status is expected
    finally:
        await other.aclose()
