"""Incremental decoding of newline-delimited JSON (NDJSON), as Ollama streams it.

Ollama answers ``/api/chat`` and ``/api/pull`` with one JSON object per line. The network
hands us arbitrary slices of that byte stream: a line may be split anywhere, including in
the middle of a multi-byte UTF-8 character, and one read may carry many lines. This module
turns those slices back into parsed values, in order, whatever the split.

Rules (see https://github.com/ndjson/ndjson-spec, made tolerant):

- a line ends at ``\\n``; a ``\\r`` before it is tolerated (CRLF);
- bytes are decoded as UTF-8 only once a line is complete, so a character split across
  reads is never damaged;
- blank (whitespace-only) lines are skipped;
- a line that is not JSON raises `StreamError` quoting the (truncated) line;
- at the end of the stream an unterminated last line is parsed too; if it is not valid
  JSON the connection was cut in the middle of an object, and `TruncatedStreamError` is
  raised.

The cost is linear in the bytes fed: each byte is scanned for a newline once and each
line is joined once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from adapters.llm._limits import StreamLimits
from domain.errors import StreamError, TruncatedStreamError

__all__ = ["DEFAULT_MAX_LINE_BYTES", "NDJSONDecoder", "render_ndjson"]

DEFAULT_MAX_LINE_BYTES = StreamLimits().max_line_bytes
"""A line longer than this without a newline is refused rather than buffered forever
(``CW_MAX_LINE_BYTES``, see `adapters.llm._limits`)."""

_QUOTE_LIMIT = 200

_loads = json.JSONDecoder().decode


def _quote(line: bytes) -> str:
    text = line.decode("utf-8", errors="replace").strip()
    if len(text) > _QUOTE_LIMIT:
        return repr(text[:_QUOTE_LIMIT]) + f"… ({len(text)} characters)"
    return repr(text)


class NDJSONDecoder:
    """Turns arbitrary reads of an NDJSON byte stream into parsed JSON values.

    Args:
        backend: the backend name put on the errors this raises.
        max_line_bytes: the longest line accepted.
    """

    __slots__ = ("_backend", "_max_line_bytes", "_pending", "_pending_size")

    def __init__(self, *, backend: str | None = None, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> None:
        self._backend = backend
        self._max_line_bytes = max_line_bytes
        self._pending: list[bytes] = []
        self._pending_size = 0

    def feed(self, chunk: bytes) -> list[Any]:
        """Take the next read of the stream and return the values of the lines it completed.

        Raises:
            StreamError: a completed line is not valid UTF-8 JSON, or a line is too long.
        """
        if not chunk:
            return []
        newline = chunk.find(b"\n")
        if newline < 0:
            self._hold(chunk)
            return []
        values: list[Any] = []
        if newline == len(chunk) - 1 and not self._pending:
            self._parse_into(chunk, values)  # the usual read: exactly one whole line
            return values
        if self._pending:
            self._pending.append(chunk[:newline])
            first = b"".join(self._pending)
            self._pending = []
            self._pending_size = 0
            self._parse_into(first, values)
            start = newline + 1
        else:
            start = 0
        lines = chunk[start:].split(b"\n")
        tail = lines.pop()
        for line in lines:
            self._parse_into(line, values)
        if tail:
            self._hold(tail)
        return values

    def close(self) -> list[Any]:
        """Signal the end of the stream; return the value of an unterminated last line.

        Raises:
            TruncatedStreamError: the last line is an incomplete JSON value.
        """
        if not self._pending:
            return []
        line = b"".join(self._pending)
        self._pending = []
        self._pending_size = 0
        values: list[Any] = []
        try:
            self._parse_into(line, values)
        except StreamError as exc:
            raise TruncatedStreamError(
                f"the stream ended in the middle of a JSON line: {_quote(line)}", backend=self._backend
            ) from exc
        return values

    def _hold(self, piece: bytes) -> None:
        self._pending.append(piece)
        self._pending_size += len(piece)
        if self._pending_size > self._max_line_bytes:
            self._pending = []
            self._pending_size = 0
            raise StreamError(
                f"a stream line exceeded {self._max_line_bytes} bytes without a newline; "
                f"the server is not sending NDJSON (the cap is {StreamLimits.variable('max_line_bytes')})",
                backend=self._backend,
            )

    def _parse_into(self, line: bytes, values: list[Any]) -> None:
        if not line:
            return
        try:
            values.append(_loads(line.decode("utf-8")))
        except UnicodeDecodeError as exc:
            raise StreamError(
                f"a stream line is not valid UTF-8: {_quote(line)}", backend=self._backend
            ) from exc
        except RecursionError:
            pass  # raised below, outside the handler: the deep traceback is of no use
        except ValueError as exc:
            if line.isspace():
                return
            raise StreamError(
                f"a stream line is not valid JSON ({exc.args[0] if exc.args else exc}): {_quote(line)}",
                backend=self._backend,
            ) from exc
        else:
            return
        raise StreamError(
            "a stream line holds JSON nested too deeply to read; the server is broken or hostile",
            backend=self._backend,
        )


def render_ndjson(values: Iterable[Any], *, newline: str = "\n") -> bytes:
    """Encode values as NDJSON: compact JSON, one value per line, UTF-8 (the inverse of the decoder)."""
    end = newline.encode("ascii")
    return b"".join(
        json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + end for value in values
    )
