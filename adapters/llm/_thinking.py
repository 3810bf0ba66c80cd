"""Split ``<think>…</think>`` reasoning out of streamed content.

Why: reasoning models served through OpenAI-compatible endpoints (DeepSeek-R1, Qwen3 and
friends on the Hugging Face router, Ollama's ``/v1``) often put their reasoning inside the
content, between ``<think>`` and ``</think>``, instead of a separate ``reasoning`` field.
The tags arrive split across chunks at any character (``<th`` + ``ink>``), so the splitter
holds back only the few trailing characters that could still become a tag, and emits
everything else at once.

Whitespace directly after ``</think>`` (models put a blank line there) is dropped, so the
answer does not start with empty lines. A ``<`` that turns out not to start a tag is
emitted as ordinary text.
"""

from __future__ import annotations

from domain.events import TextDelta, ThinkingDelta

__all__ = ["CLOSE_TAG", "OPEN_TAG", "ThinkTagSplitter"]

OPEN_TAG = "<think>"
CLOSE_TAG = "</think>"


def _partial_tag_length(text: str, tag: str) -> int:
    """Length of the longest suffix of ``text`` that is a proper prefix of ``tag``."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:size]):
            return size
    return 0


class ThinkTagSplitter:
    """Turns content deltas into `TextDelta` and `ThinkingDelta` events, one reply at a time."""

    __slots__ = ("_carry", "_inside", "_strip_next", "plain")

    def __init__(self) -> None:
        self._inside = False
        self._carry = ""
        self._strip_next = False
        self.plain = True
        """Outside any block with nothing held back: text without ``<`` is answer text as is.

        Callers on a hot path may test this (and ``"<" not in text``) to skip `feed`.
        """

    @property
    def inside(self) -> bool:
        """Whether the text seen so far left a ``<think>`` block open."""
        return self._inside

    @property
    def pending(self) -> str:
        """Characters held back because they might still become a tag."""
        return self._carry

    def feed(self, text: str) -> list[TextDelta | ThinkingDelta]:
        """Split one content delta; returns the events it completed."""
        if not text:
            return []
        if self.plain and "<" not in text:
            return [TextDelta(text=text)]  # the common case: plain answer text
        events: list[TextDelta | ThinkingDelta] = []
        buffer = self._carry + text
        self._carry = ""
        while buffer:
            tag = CLOSE_TAG if self._inside else OPEN_TAG
            position = buffer.find(tag)
            if position >= 0:
                self._emit(buffer[:position], events)
                self._inside = not self._inside
                self._strip_next = not self._inside
                buffer = buffer[position + len(tag) :]
                continue
            held = _partial_tag_length(buffer, tag)
            if held:
                self._carry = buffer[-held:]
                buffer = buffer[:-held]
            self._emit(buffer, events)
            break
        self.plain = not self._inside and not self._carry and not self._strip_next
        return events

    def flush(self) -> list[TextDelta | ThinkingDelta]:
        """End of the reply: emit any held-back characters that never became a tag."""
        carry, self._carry = self._carry, ""
        events: list[TextDelta | ThinkingDelta] = []
        self._emit(carry, events)
        self.plain = not self._inside and not self._strip_next
        return events

    def _emit(self, text: str, events: list[TextDelta | ThinkingDelta]) -> None:
        if self._strip_next and not self._inside:
            text = text.lstrip()
            if not text:
                return
            self._strip_next = False
        if not text:
            return
        events.append(ThinkingDelta(text=text) if self._inside else TextDelta(text=text))
