"""Conversation stores: where every message of every conversation is kept, in order."""

from __future__ import annotations

from adapters.storage.memory import InMemoryConversationStore
from adapters.storage.sqlite import SQLiteConversationStore

__all__ = ["InMemoryConversationStore", "SQLiteConversationStore"]
