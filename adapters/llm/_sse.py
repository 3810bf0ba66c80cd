"""An incremental decoder (and encoder) for server-sent events, shared by the SSE backends.

Why our own: the Hugging Face router, OpenAI and Anthropic all stream over
``text/event-stream``, and the peers' line parsers get the format's edge cases wrong
(``data:`` without a space, several ``data:`` lines, CR line endings, a CR and its LF in
different reads). This module follows the WHATWG event-stream rules
(https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation)
and works on bytes, so it never sees a half character: each line is decoded as UTF-8 only
once it is complete.

It is on the hot path of every streamed token, so it is written for speed: lines are split
with ``bytes.splitlines`` (which splits on exactly CR, LF and CRLF), an unfinished line is
kept as a list of parts and joined once, and the common ``data: `` line takes a fast path.
Total work is linear in the bytes fed, however they are split.

A hostile server cannot make it buffer without bound: a line longer than ``max_line_bytes``
and an event whose data exceeds ``max_event_bytes`` raise `StreamError` naming the cap (see
`adapters.llm._limits`). A stream that ends inside a line sets `cut_mid_line`, so the caller
can tell a connection cut in the middle of an event from a server that speaks another format.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from typing import Any

import attrs

from adapters.llm._limits import StreamLimits
from domain.errors import StreamError

__all__ = ["SSEDecoder", "ServerSentEvent", "render_sse", "scan_json"]

_BOM = b"\xef\xbb\xbf"
_LF = 0x0A
_CR = 0x0D
_NEWLINES = ("\n", "\r\n", "\r")
_ANY_NEWLINE = re.compile(r"\r\n|\r|\n")

scan_json: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
"""``json``'s C scanner: ``(value, end)`` for the JSON value at an index of a string.

The decoders call it on each event's data first: ``json.loads`` adds two frames and two
regex passes per event. It raises `StopIteration` (or `ValueError`) where no value starts,
`RecursionError` for a value nested too deeply; data it does not consume whole (spaces
around it, a second value) takes the decoder's careful ``json.loads`` path.
"""


@attrs.frozen(kw_only=True)
class ServerSentEvent:
    """One dispatched event.

    Attributes:
        data: the ``data:`` lines of the event, joined by ``\\n``.
        event: the ``event:`` name; ``message`` when the server gave none.
        id: the last event id seen on the stream so far (it persists across events).
        retry: the ``retry:`` value sent with this event, in milliseconds.
    """

    data: str
    event: str = "message"
    id: str | None = None
    retry: int | None = None


class SSEDecoder:
    """Turns the bytes of an event stream, split into reads anyhow, into events.

    Feed every read to `feed` and call `close` at the end of the stream. The same bytes
    give the same events whatever the split: inside a UTF-8 character, inside a field
    name, or between the CR and LF of a line ending.

    Args:
        limits: the line and event caps (the `StreamLimits` defaults when ``None``).
        backend: the backend name put on the errors it raises.

    Raises:
        StreamError: from `feed`, a line or an event over its cap.
    """

    __slots__ = (
        "_backend",
        "_carry",
        "_data",
        "_data_size",
        "_event",
        "_head",
        "_last_id",
        "_limits",
        "_max_event",
        "_max_line",
        "_pending",
        "_pending_size",
        "_retry",
        "_skip_lf",
        "cut_mid_line",
    )

    def __init__(self, *, limits: StreamLimits | None = None, backend: str | None = None) -> None:
        # Earlier reads left something to settle first: the BOM check, a CR, a partial line.
        self._carry = True
        self._head: bytes | None = b""  # the first bytes, until we know whether they are a BOM
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._skip_lf = False
        self._data: list[str] = []
        self._data_size = 0
        self._limits = limits or StreamLimits()
        self._max_line = self._limits.max_line_bytes  # read on every feed: kept at hand
        self._max_event = self._limits.max_event_bytes
        self._backend = backend
        self.cut_mid_line = False
        """Set by `close` when the stream ended inside a line (no line ending after its last bytes)."""
        self._event = ""
        self._last_id: str | None = None
        self._retry: int | None = None

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Decode one read; return the events it completed (often none or one)."""
        if self._carry:
            chunk = self._settle(chunk)
        if not chunk:
            return []
        lines = chunk.splitlines()
        last = chunk[-1]
        if last != _LF:
            self._carry = True
            if last == _CR:
                self._skip_lf = True
            else:
                tail = lines.pop()
                self._pending.append(tail)
                self._pending_size = len(tail)
                if len(tail) > self._max_line:
                    raise self._too_long()
        max_line = self._max_line
        if len(chunk) > max_line and any(len(line) > max_line for line in lines):
            raise self._too_long()
        events: list[ServerSentEvent] = []
        data = self._data
        max_event = self._max_event
        for line in lines:
            if line[:6] == b"data: ":
                data.append(line[6:].decode("utf-8", "replace"))
                self._data_size += len(line)
                if self._data_size > max_event:
                    raise self._too_big()
            elif line:
                self._field(line)
            elif data:
                events.append(self._dispatch())
                data = self._data
            else:
                self._event = ""
                self._retry = None
        return events

    def _too_long(self) -> StreamError:
        self._pending = []
        self._pending_size = 0
        return self._over_cap("a line longer than {} bytes without a line ending", "max_line_bytes")

    def _too_big(self) -> StreamError:
        self._data = []
        self._data_size = 0
        return self._over_cap("an event of more than {} bytes of data", "max_event_bytes")

    def _over_cap(self, what: str, cap: str) -> StreamError:
        """The error for a reply over the ``cap`` limit: ``what`` (with ``{}`` for the bytes) it sent."""
        sent = what.format(getattr(self._limits, cap))
        return StreamError(
            f"the server sent {sent}; it may not speak the event-stream format "
            f"(the cap is {StreamLimits.variable(cap)})",
            backend=self._backend,
        )

    def _settle(self, chunk: bytes) -> bytes:
        """Apply what earlier reads left to ``chunk``; returns the bytes to split into lines."""
        if not chunk:
            return chunk
        if self._head is not None:
            # A UTF-8 byte order mark at the very start of the stream is dropped.
            head = self._head + chunk
            if len(head) < len(_BOM) and _BOM.startswith(head):
                self._head = head
                return b""
            self._head = None
            chunk = head[len(_BOM) :] if head.startswith(_BOM) else head
        if self._skip_lf and chunk:
            # The previous read ended with CR; an LF opening this one belongs to it.
            self._skip_lf = False
            if chunk[0] == _LF:
                chunk = chunk[1:]
        if self._pending and chunk:
            self._pending.append(chunk)
            if b"\n" not in chunk and b"\r" not in chunk:
                self._pending_size += len(chunk)
                if self._pending_size > self._max_line:
                    raise self._too_long()
                return b""  # still inside the same line
            chunk = b"".join(self._pending)
            self._pending = []
            self._pending_size = 0
        self._carry = self._head is not None or self._skip_lf or bool(self._pending)
        return chunk

    def close(self) -> list[ServerSentEvent]:
        """End of stream: finish a last unterminated line and dispatch a pending event.

        Real providers often omit the final blank line, so an event that has data is
        dispatched here; whether the stream was *complete* is for the caller to decide
        (``[DONE]``, a finish reason, ``message_stop``…).
        """
        if self._head:
            self._pending.append(self._head)  # a stream of one or two bytes, not a BOM
        self._head = None
        self._carry = False
        if self._pending:
            line = b"".join(self._pending)
            self._pending = []
            self._pending_size = 0
            self.cut_mid_line = True
            if line[:6] == b"data: ":
                self._data.append(line[6:].decode("utf-8", "replace"))
            else:
                self._field(line)
        self._skip_lf = False
        if self._data:
            return [self._dispatch()]
        self._event = ""
        self._retry = None
        return []

    def _field(self, raw: bytes) -> None:
        line = raw.decode("utf-8", "replace")
        if line[0] == ":":
            return  # a comment (keep-alive)
        name, colon, value = line.partition(":")
        if colon and value[:1] == " ":
            value = value[1:]
        if name == "data":
            self._data.append(value)
            self._data_size += len(raw)
            if self._data_size > self._max_event:
                raise self._too_big()
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\x00" not in value:
                self._last_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self._retry = int(value)
        # Any other field name is ignored, as the format requires.

    def _dispatch(self) -> ServerSentEvent:
        data = self._data
        self._data = []
        self._data_size = 0
        text = data[0] if len(data) == 1 else "\n".join(data)
        if not self._event and self._retry is None:
            return ServerSentEvent(data=text, id=self._last_id)  # the common case
        event = ServerSentEvent(
            data=text, event=self._event or "message", id=self._last_id, retry=self._retry
        )
        self._event = ""
        self._retry = None
        return event


def render_sse(events: Iterable[ServerSentEvent], *, newline: str = "\n") -> bytes:
    """Encode events as an event stream: the inverse of `SSEDecoder`, for fakes and tests.

    Each event is written as its ``event:`` (unless ``message``), ``id:`` and ``retry:``
    fields, one ``data:`` line per line of its data, and a blank line. A CR or CRLF inside
    data ends a line like LF does, so it comes back as LF.

    Args:
        events: the events to write.
        newline: the line ending, ``"\\n"``, ``"\\r\\n"`` or ``"\\r"``.

    Raises:
        ValueError: for another newline, or an event name or id containing a line break.
    """
    if newline not in _NEWLINES:
        raise ValueError(f"newline must be one of {_NEWLINES!r}, not {newline!r}")
    out: list[str] = []
    for event in events:
        if event.event != "message":
            if _ANY_NEWLINE.search(event.event):
                raise ValueError("an event name cannot contain a line break")
            out.append(f"event: {event.event}{newline}")
        if event.id is not None:
            if _ANY_NEWLINE.search(event.id):
                raise ValueError("an event id cannot contain a line break")
            out.append(f"id: {event.id}{newline}")
        if event.retry is not None:
            out.append(f"retry: {event.retry}{newline}")
        for line in _ANY_NEWLINE.split(event.data):
            out.append(f"data: {line}{newline}")
        out.append(newline)
    return "".join(out).encode("utf-8")
