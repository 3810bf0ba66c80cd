"""`SQLiteConversationStore`: conversations that survive the process, in one SQLite file.

The standard library's ``sqlite3`` is enough for one user's history and needs no server.
Messages are stored as JSON made by `adapters.serialization` (the one converter for domain
values), one row per message, in append order. Calls run on a worker thread so the event
loop never waits on the disk; one lock serialises them, because a single connection is shared.
The file is created readable by its owner only: conversations can hold private material.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from adapters.serialization import InvalidDataError, from_json_dict, to_json_dict
from domain.errors import StorageError
from domain.messages import ChatMessage

__all__ = ["SCHEMA_VERSION", "SQLiteConversationStore"]

T = TypeVar("T")

SCHEMA_VERSION = 1

_MIGRATIONS: dict[int, str] = {
    1: """
        CREATE TABLE conversations (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
        );
        CREATE TABLE messages (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            body TEXT NOT NULL
        );
        CREATE INDEX messages_by_conversation ON messages(conversation_id, seq);
    """,
}


class SQLiteConversationStore:
    """A `ConversationStorePort` over one SQLite file (or ``:memory:``).

    Args:
        path: the database file; missing parent folders are created.

    Raises:
        StorageError: the file cannot be opened or is not a database of ours.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = str(path)
        self._lock = threading.Lock()
        try:
            if self.path != ":memory:":
                file = Path(self.path).expanduser()
                file.parent.mkdir(parents=True, exist_ok=True)
                if not file.exists():
                    os.close(os.open(file, os.O_CREAT | os.O_WRONLY, 0o600))
                self.path = str(file)
            self._connection: sqlite3.Connection | None = sqlite3.connect(
                self.path, check_same_thread=False, isolation_level=None
            )
            self._connection.execute("PRAGMA foreign_keys = ON")
            if self.path != ":memory:":
                self._connection.execute("PRAGMA journal_mode = WAL")
                # With WAL this cannot corrupt the file; a power cut may lose the last messages.
                self._connection.execute("PRAGMA synchronous = NORMAL")
            self._migrate(self._connection)
        except (OSError, sqlite3.Error) as exc:
            raise StorageError(
                f"cannot open the conversation database {self.path!r} ({exc}); "
                "check the path and its permissions, or choose another file"
            ) from exc

    @staticmethod
    def _migrate(connection: sqlite3.Connection) -> None:
        (version,) = connection.execute("PRAGMA user_version").fetchone()
        if version > SCHEMA_VERSION:
            raise sqlite3.DatabaseError(
                f"the database has schema version {version}, newer than this program's {SCHEMA_VERSION}"
            )
        for step in range(version + 1, SCHEMA_VERSION + 1):
            try:
                connection.executescript(f"BEGIN; {_MIGRATIONS[step]}; PRAGMA user_version = {step}; COMMIT;")
            except sqlite3.Error:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise

    async def _run(self, action: str, work: Callable[[sqlite3.Connection], T]) -> T:
        def locked() -> T:
            with self._lock:
                if self._connection is None:
                    raise StorageError("the conversation store was closed; open a new one")
                return work(self._connection)

        try:
            return await asyncio.to_thread(locked)
        except sqlite3.Error as exc:
            raise StorageError(f"could not {action} in {self.path!r}: {exc}") from exc

    async def append(self, conversation_id: str, message: ChatMessage) -> None:
        """Add ``message`` at the end of the conversation, creating it when new."""
        body = json.dumps(to_json_dict(message), ensure_ascii=False, separators=(",", ":"))

        def work(connection: sqlite3.Connection) -> None:
            # One transaction: the conversation row and its message together.
            with _transaction(connection):
                connection.execute("INSERT OR IGNORE INTO conversations(id) VALUES (?)", (conversation_id,))
                connection.execute(
                    "INSERT INTO messages(conversation_id, body) VALUES (?, ?)", (conversation_id, body)
                )

        await self._run("save a message", work)

    async def load(self, conversation_id: str) -> Sequence[ChatMessage]:
        """Every message of the conversation, in order; empty for an unknown id."""

        def work(connection: sqlite3.Connection) -> list[str]:
            rows = connection.execute(
                "SELECT body FROM messages WHERE conversation_id = ? ORDER BY seq", (conversation_id,)
            ).fetchall()
            return [row[0] for row in rows]

        bodies = await self._run("load the conversation", work)
        messages = []
        for position, body in enumerate(bodies, start=1):
            try:
                messages.append(from_json_dict(ChatMessage, json.loads(body)))
            except (ValueError, InvalidDataError) as exc:
                raise StorageError(
                    f"message {position} of conversation {conversation_id!r} in {self.path!r} "
                    f"is damaged ({exc})"
                ) from exc
        return tuple(messages)

    async def list_conversations(self) -> Sequence[str]:
        """Ids of the stored conversations, oldest first."""

        def work(connection: sqlite3.Connection) -> tuple[str, ...]:
            return tuple(row[0] for row in connection.execute("SELECT id FROM conversations ORDER BY seq"))

        return await self._run("list conversations", work)

    async def delete(self, conversation_id: str) -> None:
        """Forget the conversation and its messages; an unknown id is ignored."""

        def work(connection: sqlite3.Connection) -> None:
            with _transaction(connection):
                connection.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))

        await self._run("delete the conversation", work)

    def close(self) -> None:
        """Close the database; the store cannot be used afterwards."""
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    async def aclose(self) -> None:
        """`close`, for ``async`` code and resource providers."""
        await asyncio.to_thread(self.close)

    def __repr__(self) -> str:
        return f"SQLiteConversationStore({self.path!r})"


@contextmanager
def _transaction(connection: sqlite3.Connection) -> Iterator[None]:
    """An explicit transaction (the connection is in autocommit mode)."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")
