"""Conversation stores: where every message of every conversation is kept, in order."""

from __future__ import annotations

from adapters.storage.memory import InMemoryConversationStore

__all__ = ["InMemoryConversationStore"]
