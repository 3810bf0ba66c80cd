"""Reading a reply: the sync stream decoders backends give the engine, and bodies read safely.

``StreamDecoder``
    What a backend implements for streams, synchronous as httpx's own decoders are:
    ``start(headers)``, then ``feed(bytes) -> events`` for every network read, then
    ``close(cut) -> events`` once the body ended (or ``done`` said the reply is whole);
    in-stream errors and truncation are raised as `LLMError`. ``partial()`` returns an
    `AIResponse` of what has arrived so far. The engine owns the only loop over the socket,
    so an event crosses one async frame here and one in the adapter on its way to the caller.

``StreamLimits`` (``adapters.llm._limits``)
    What one reply may make us hold: every body is read through one decoder that counts
    decoded bytes (gzip and deflate are inflated a bounded step at a time, so a bomb never
    lands in memory whole); a body over ``max_body_bytes`` or an error body over
    ``max_error_body_bytes`` is a `StreamError` naming the cap. Decoders cap lines and events.
"""

from __future__ import annotations

import asyncio
import copy
import zlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import httpx

from adapters.llm._limits import StreamLimits
from domain.errors import LLMError, StreamError
from domain.messages import AIResponse

if TYPE_CHECKING:
    from adapters.llm._http import HTTPEngine

__all__ = [
    "HeldError",
    "StreamDecoder",
    "Watchdog",
    "body_chunks",
    "decoded",
    "is_json_body",
    "over_cap",
    "read_body",
    "read_response",
    "shared_copy",
]

E_co = TypeVar("E_co", covariant=True)


class StreamDecoder(Protocol[E_co]):
    """Turns the bytes of one streamed reply into events, synchronously; one instance per attempt.

    The engine calls `start` once with the response headers, `feed` with each network read
    until the body ends or `done` turns true, then `close` once. Each may raise `LLMError`
    for an in-stream error or a truncated stream.
    """

    def start(self, headers: Mapping[str, str]) -> None:
        """The response headers (case-insensitive), e.g. the serving provider or a JSON body."""
        ...

    def feed(self, data: bytes) -> Sequence[E_co]:
        """The events the bytes of one network read complete (any split of the body)."""
        ...

    @property
    def done(self) -> bool:
        """Whether the reply is whole, so the engine reads no further (a proxy may keep the socket)."""
        ...

    def close(self, cut: LLMError | None = None) -> Sequence[E_co]:
        """The body ended: the last events, the final one included.

        Args:
            cut: the error that ended the body early (a dropped connection, a silent server),
                ``None`` when it ended normally or `done` was reached. The decoder raises it
                unless what arrived is already whole (a drop after the finish reason).
        """
        ...

    def partial(self) -> AIResponse | None:
        """What the model had produced so far, for an error raised mid-stream."""
        ...


A = TypeVar("A")


def shared_copy(adapter: A, config: Any) -> A:
    """``with_config`` of every HTTP adapter: a copy bound to ``config`` on the same connection pool.

    The pool belongs to the adapter that opened it: the copy's ``aclose()`` leaves it open,
    the original's closes it (for every copy) once. The original is unchanged.
    """
    clone = copy.copy(adapter)
    vars(clone).update(config=config, _owns_pool=False)
    return clone


class HeldError:
    """An error a decoder met in the middle of a network read, held until the events before it went out.

    The caller must see the text that preceded an in-stream error (and a failure after it is
    never retried), so `feed` returns those events and the decoder raises the error on its
    next call; its ``done`` turns true meanwhile, so the engine reads no further.
    """

    __slots__ = ("error",)

    def __init__(self) -> None:
        self.error: LLMError | None = None

    def hold(self, error: LLMError, events: Sequence[Any]) -> None:
        """Keep ``error`` for later when ``events`` came before it; else raise it now."""
        if not events:
            raise error
        self.error = error

    def release(self, cut: LLMError | None = None) -> None:
        """Raise the held error, if any; else ``cut`` (the engine's reason the body ended), if any."""
        if self.error is not None:
            raise self.error
        if cut is not None:
            raise cut


def is_json_body(headers: Mapping[str, str]) -> bool:
    """Whether a reply is one JSON document (``"stream": true`` ignored, or an error under a 200)."""
    return headers.get("content-type", "").lower().startswith("application/json")


DECODE_STEP = 256 * 1024
"""The most bytes one inflate step may produce: a gzip bomb arrives a step at a time."""


_IDENTITY = frozenset({"", "identity"})


def _encoding(response: httpx.Response) -> str:
    encoding: str = response.headers.get("content-encoding", "identity")
    return encoding.strip().lower()


async def decoded(response: httpx.Response, backend: str) -> AsyncGenerator[bytes, None]:
    """The body's bytes after content decoding; gzip and deflate a bounded step at a time.

    httpx's own decoders inflate a whole network read at once (a 64 KiB read of a bomb is
    64 MiB); here each step yields at most `DECODE_STEP` bytes, so the caller's byte count
    stops a bomb before it is in memory. Other encodings (br, zstd) go through httpx.
    """
    encoding = _encoding(response)
    if response.is_stream_consumed or encoding not in {*_IDENTITY, "gzip", "x-gzip", "deflate"}:
        async for chunk in response.aiter_bytes():
            yield chunk
        return
    if encoding in _IDENTITY:
        async for chunk in response.aiter_raw():
            yield chunk
        return
    wbits = 16 + zlib.MAX_WBITS if encoding in {"gzip", "x-gzip"} else zlib.MAX_WBITS
    inflater = zlib.decompressobj(wbits)
    first = True
    try:
        async for raw in response.aiter_raw():
            data = raw
            while data and not inflater.eof:
                try:
                    out = inflater.decompress(data, DECODE_STEP)
                except zlib.error:
                    if not (first and wbits == zlib.MAX_WBITS):
                        raise
                    # "deflate" sent raw, without the zlib header, as some servers do
                    wbits = -zlib.MAX_WBITS
                    inflater = zlib.decompressobj(wbits)
                    out = inflater.decompress(data, DECODE_STEP)
                first = False
                data = inflater.unconsumed_tail
                if out:
                    yield out
        tail = inflater.flush()
        if tail:
            yield tail
    except zlib.error as exc:
        raise StreamError(
            f"{backend}: the reply's {encoding} encoding could not be decoded ({exc})", backend=backend
        ) from exc


def _body_iterator(response: httpx.Response, backend: str) -> AsyncIterator[bytes]:
    """`decoded`, without its generator frame for the usual uncompressed stream (a frame per read)."""
    if not response.is_stream_consumed and _encoding(response) in _IDENTITY:
        return response.aiter_raw().__aiter__()
    return decoded(response, backend).__aiter__()


def read_response(response: httpx.Response, body: bytes) -> httpx.Response:
    """A response like ``response`` holding ``body``, already decoded, as its content."""
    headers = [
        (key, value)
        for key, value in response.headers.multi_items()
        if key.lower() not in {"content-encoding", "content-length", "transfer-encoding"}
    ]
    return httpx.Response(
        response.status_code,
        headers=headers,
        content=body,
        request=response.request,
        extensions=response.extensions,
    )


async def read_body(
    response: httpx.Response, *, backend: str, limits: StreamLimits, model: str | None, error_body: bool
) -> bytes:
    """The decoded body, read a bounded step at a time and refused past its cap."""
    cap = limits.max_error_body_bytes if error_body else limits.max_body_bytes
    parts: list[bytes] = []
    size = 0
    async for chunk in decoded(response, backend):
        size += len(chunk)
        if size > cap:
            raise over_cap(
                "max_error_body_bytes" if error_body else "max_body_bytes",
                backend=backend,
                limits=limits,
                model=model,
                status=response.status_code,
            )
        parts.append(chunk)
    return b"".join(parts)


def over_cap(
    field: str,
    *,
    backend: str,
    limits: StreamLimits,
    model: str | None,
    status: int | None = None,
    partial: AIResponse | None = None,
) -> StreamError:
    """The error for a body past the cap ``field`` of ``limits``, naming the variable that raises it."""
    cap = getattr(limits, field)
    what = "error body" if field == "max_error_body_bytes" else "reply body"
    status_text = f" (HTTP {status})" if status is not None else ""
    return StreamError(
        f"{backend}: the {what}{status_text} exceeded the {cap}-byte limit after "
        f"decompression; the server is broken or hostile (raise {StreamLimits.variable(field)} "
        "if it is neither)",
        backend=backend,
        status=status,
        model=model,
        partial=partial,
    )


class Watchdog:
    """One timer for a whole streamed body: cancels the read in progress at the deadline."""

    __slots__ = ("_handle", "expired", "interrupted", "reading", "task")

    def __init__(self, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        if task is None:  # pragma: no cover - streams always run inside a task
            raise RuntimeError("a stream must be read inside an asyncio task")
        self.task = task
        self.reading = False
        self.expired = False
        self.interrupted = False
        self._handle = loop.call_at(deadline, self._fire)

    def _fire(self) -> None:
        self.expired = True
        if self.reading:
            self.interrupted = True
            self.task.cancel()

    def disarm(self) -> None:
        self._handle.cancel()


async def body_chunks(
    engine: HTTPEngine,
    response: httpx.Response,
    deadline: float | None,
    model: str | None,
    partial: Callable[[], AIResponse | None],
) -> AsyncGenerator[bytes, None]:
    """The decoded body of ``response`` read by ``engine``: under its caps, its clocks and ``deadline``."""
    # Each read is bounded by the idle clock (httpx's read timeout) and by the rest of
    # the total deadline. The deadline is one timer for the whole body (a timer per read
    # would cost more than the parsing), and it only ever interrupts a read: when it
    # fires while the caller holds an event, the next read raises instead.
    # Raw reads skip httpx's decoder layer; decoded reads are needed for a compressed
    # body, or a body that was already read into memory.
    iterator = _body_iterator(response, engine.backend)
    cap = engine.limits.max_body_bytes
    size = 0

    def over_body_cap() -> StreamError:
        return over_cap(
            "max_body_bytes", backend=engine.backend, limits=engine.limits, model=model, partial=partial()
        )

    with engine._mapped(model, in_body=True, partial=partial):
        if deadline is None:
            async for chunk in iterator:
                size += len(chunk)
                if size > cap:
                    raise over_body_cap()
                yield chunk
            return
        watchdog = Watchdog(deadline)
        try:
            while True:
                if watchdog.expired:
                    raise TimeoutError  # even when the next bytes are already buffered
                watchdog.reading = True
                try:
                    chunk = await iterator.__anext__()
                except StopAsyncIteration:
                    return
                except asyncio.CancelledError:
                    if watchdog.interrupted and watchdog.task.uncancel() == 0:
                        raise TimeoutError from None
                    raise
                finally:
                    watchdog.reading = False
                size += len(chunk)
                if size > cap:
                    raise over_body_cap()
                yield chunk
        finally:
            watchdog.disarm()
