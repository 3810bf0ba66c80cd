"""The `ConversationStorePort` contract, run against every store.

A new store joins by adding a factory to ``STORES`` (an async context manager yielding an
empty store and closing it afterwards); every test then runs against it too. The SQL store of
the service database runs on SQLite and on PostgreSQL (see ``conftest.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.storage.memory import InMemoryConversationStore
from adapters.storage.sqlite import SCHEMA_VERSION, SQLiteConversationStore
from domain.errors import StorageError
from domain.messages import ChatMessage, ImageInput, Role, ThinkingBlock, ToolCall
from domain.ports import ConversationStorePort
from tests.adapters.storage.conftest import SQLTargets, open_database

StoreFactory = Callable[[Path, SQLTargets], AbstractAsyncContextManager[ConversationStorePort]]


@contextlib.asynccontextmanager
async def _memory(tmp_path: Path, targets: SQLTargets) -> AsyncIterator[ConversationStorePort]:
    yield InMemoryConversationStore()


@contextlib.asynccontextmanager
async def _sqlite(tmp_path: Path, targets: SQLTargets) -> AsyncIterator[ConversationStorePort]:
    store = SQLiteConversationStore(tmp_path / "nested" / "conversations.db")
    try:
        yield store
    finally:
        await store.aclose()


def _sql(backend: str) -> StoreFactory:
    @contextlib.asynccontextmanager
    async def factory(tmp_path: Path, targets: SQLTargets) -> AsyncIterator[ConversationStorePort]:
        async with open_database(backend, targets, tmp_path) as db:
            yield db.messages

    return factory


STORES: dict[str, StoreFactory] = {
    "memory": _memory,
    "sqlite": _sqlite,
    "sql-sqlite": _sql("sqlite"),
    "sql-postgres": _sql("postgres"),
}


@pytest.fixture(params=sorted(STORES))
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, sql_targets: SQLTargets
) -> AsyncIterator[ConversationStorePort]:
    async with STORES[request.param](tmp_path, sql_targets) as made:
        yield made


CALL = ToolCall(id="call_1", name="read", arguments={"file_path": "a.txt", "nested": {"k": [1, 2]}})
RICH = (
    ChatMessage.system("be brief"),
    ChatMessage.user("look at this ☃", images=(ImageInput(url="https://example.test/cat.png"),)),
    ChatMessage(
        role=Role.ASSISTANT,
        content="",
        tool_calls=(CALL, ToolCall(id="call_2", name="x", raw_arguments="{bad", parse_error="invalid JSON")),
        thinking="I should read it",
        thinking_blocks=(ThinkingBlock(text="I should read it", signature="sig"),),
    ),
    ChatMessage.tool(CALL, "file contents"),
    ChatMessage(role=Role.TOOL, content="Error: boom", tool_call_id="call_2", name="x", is_error=True),
    ChatMessage.assistant("done"),
)


@pytest.mark.anyio
async def test_messages_come_back_in_order_and_equal(store: ConversationStorePort) -> None:
    for message in RICH:
        await store.append("c1", message)
    assert tuple(await store.load("c1")) == RICH


@pytest.mark.anyio
async def test_unknown_conversation_loads_empty(store: ConversationStorePort) -> None:
    assert tuple(await store.load("nobody")) == ()
    assert tuple(await store.list_conversations()) == ()


@pytest.mark.anyio
async def test_conversations_are_listed_oldest_first_and_kept_apart(store: ConversationStorePort) -> None:
    await store.append("b", ChatMessage.user("first"))
    await store.append("a", ChatMessage.user("second"))
    await store.append("b", ChatMessage.assistant("reply"))
    assert tuple(await store.list_conversations()) == ("b", "a")
    assert [m.content for m in await store.load("b")] == ["first", "reply"]
    assert [m.content for m in await store.load("a")] == ["second"]


@pytest.mark.anyio
async def test_delete_forgets_and_ignores_unknown_ids(store: ConversationStorePort) -> None:
    await store.append("a", ChatMessage.user("x"))
    await store.append("b", ChatMessage.user("y"))
    await store.delete("a")
    await store.delete("never-existed")
    assert tuple(await store.load("a")) == ()
    assert tuple(await store.list_conversations()) == ("b",)


@pytest.mark.anyio
async def test_loaded_history_is_a_snapshot(store: ConversationStorePort) -> None:
    await store.append("a", ChatMessage.user("x"))
    loaded = await store.load("a")
    await store.append("a", ChatMessage.assistant("y"))
    assert len(loaded) == 1


@pytest.mark.anyio
async def test_concurrent_appends_to_different_conversations_keep_each_order(
    store: ConversationStorePort,
) -> None:
    async def writer(conversation: str) -> None:
        for n in range(20):
            await store.append(conversation, ChatMessage.user(f"{conversation}{n}"))
            await asyncio.sleep(0)

    await asyncio.gather(*(writer(name) for name in ("p", "q", "r")))
    for name in ("p", "q", "r"):
        assert [m.content for m in await store.load(name)] == [f"{name}{n}" for n in range(20)]


texts = st.text(max_size=30)
messages = st.one_of(
    st.builds(ChatMessage.user, texts),
    st.builds(ChatMessage.assistant, texts),
    st.builds(ChatMessage.system, texts),
    st.builds(
        lambda content, arguments: ChatMessage.tool(ToolCall(id="c", name="t", arguments=arguments), content),
        texts,
        st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=3),
    ),
)


@pytest.mark.parametrize("factory", sorted(STORES))
@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=st.lists(messages, max_size=8))
def test_any_history_round_trips(
    factory: str,
    history: list[ChatMessage],
    tmp_path_factory: pytest.TempPathFactory,
    sql_targets: SQLTargets,
) -> None:
    async def scenario() -> tuple[ChatMessage, ...]:
        async with STORES[factory](tmp_path_factory.mktemp("store"), sql_targets) as made:
            for message in history:
                await made.append("h", message)
            return tuple(await made.load("h"))

    assert asyncio.run(scenario()) == tuple(history)


# --- SQLite specifics -----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_sqlite_history_survives_reopening_and_is_private(tmp_path: Path) -> None:
    path = tmp_path / "db" / "history.sqlite"
    first = SQLiteConversationStore(path)
    for message in RICH:
        await first.append("kept", message)
    await first.aclose()
    assert path.stat().st_mode & 0o777 == 0o600
    again = SQLiteConversationStore(path)
    assert tuple(await again.load("kept")) == RICH
    assert tuple(await again.list_conversations()) == ("kept",)
    await again.aclose()


@pytest.mark.anyio
async def test_sqlite_failures_are_storage_errors_that_say_what_to_do(tmp_path: Path) -> None:
    not_a_db = tmp_path / "notes.txt"
    not_a_db.write_text("just some text, not a database\n" * 100, encoding="utf-8")
    with pytest.raises(StorageError, match="cannot open the conversation database"):
        SQLiteConversationStore(not_a_db)

    store = SQLiteConversationStore(tmp_path / "ok.db")
    await store.append("c", ChatMessage.user("x"))
    with contextlib.closing(sqlite3.connect(tmp_path / "ok.db")) as raw, raw:
        raw.execute('UPDATE messages SET body = \'{"role": "wizard"}\'')
    with pytest.raises(StorageError, match=r"message 1 of conversation 'c' .* is damaged"):
        await store.load("c")
    await store.aclose()
    with pytest.raises(StorageError, match="closed"):
        await store.load("c")


def test_sqlite_refuses_a_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    with contextlib.closing(sqlite3.connect(path)) as raw:
        raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StorageError, match="newer than this program"):
        SQLiteConversationStore(path)
