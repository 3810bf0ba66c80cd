"""Conversation stores: where every message of every conversation is kept, in order.

Stores load lazily: asking for the in-memory store does not import ``sqlite3`` or the
serialization converter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from adapters.storage.memory import InMemoryConversationStore
    from adapters.storage.sqlite import SQLiteConversationStore

__all__ = ["InMemoryConversationStore", "SQLiteConversationStore"]


def __getattr__(name: str) -> Any:
    if name == "InMemoryConversationStore":
        from adapters.storage.memory import InMemoryConversationStore

        return InMemoryConversationStore
    if name == "SQLiteConversationStore":
        from adapters.storage.sqlite import SQLiteConversationStore

        return SQLiteConversationStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
