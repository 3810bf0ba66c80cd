"""`InMemoryConversationStore`: conversations kept in this process only.

For tests, the ``test`` environment and embedding applications that keep history
themselves. It is safe to share between event loops and threads (``run_sync`` runs a run in
a worker thread with its own loop), because every operation holds one lock and none awaits.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from domain.messages import ChatMessage

__all__ = ["InMemoryConversationStore"]


class InMemoryConversationStore:
    """A `ConversationStorePort` over a dict; conversations are listed in creation order."""

    def __init__(self) -> None:
        self._conversations: dict[str, list[ChatMessage]] = {}
        self._lock = threading.Lock()

    async def append(self, conversation_id: str, message: ChatMessage) -> None:
        """Add ``message`` at the end of the conversation, creating it when new."""
        with self._lock:
            self._conversations.setdefault(conversation_id, []).append(message)

    async def load(self, conversation_id: str) -> Sequence[ChatMessage]:
        """Every message of the conversation, in order; empty for an unknown id."""
        with self._lock:
            return tuple(self._conversations.get(conversation_id, ()))

    async def list_conversations(self) -> Sequence[str]:
        """Ids of the stored conversations, oldest first."""
        with self._lock:
            return tuple(self._conversations)

    async def delete(self, conversation_id: str) -> None:
        """Forget the conversation; an unknown id is ignored."""
        with self._lock:
            self._conversations.pop(conversation_id, None)

    def __repr__(self) -> str:
        with self._lock:
            return f"InMemoryConversationStore({len(self._conversations)} conversations)"
