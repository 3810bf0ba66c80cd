"""The HTTP engine every LLM adapter sends its requests through.

Why one engine: timeouts, retries, cancellation and the translation of ``httpx`` exceptions
are the same problem for every backend, and they are easy to get subtly wrong (a retry that
repeats output the caller already showed, a stream that hangs forever, a cancelled stream
that keeps its socket open). This module is the only place ``httpx`` exceptions become
`domain.errors.LLMError` values.

The pieces, and how a backend uses them:

``Clocks(connect, idle, total)``
    Three clocks. ``connect`` bounds making a connection; ``idle`` bounds the wait for each
    read of a stream (between streamed chunks, httpx's read timeout; a non-streaming reply,
    which arrives all at once, waits up to the deadline instead); ``total`` is a deadline for the
    whole call, retries and back-off sleeps included (``None``: no deadline). Running out
    raises `LLMTimeoutError` with ``kind`` ``connect``, ``idle`` or ``total``.

``RetryPolicy(max_retries, base_delay, max_delay, max_retry_after)``
    Exponential back-off with full jitter (a random delay in ``[0, min(max_delay,
    base_delay * 2**attempt))``). A server's ``Retry-After`` (already parsed into
    ``LLMError.retry_after`` by `error_for_status`) is honoured when it is at most
    ``max_retry_after``; when the server asks for longer, the error is raised at once with
    ``retry_after`` set so the caller can decide. Retried: `RateLimitError`,
    `ProviderError` (and `OverloadedError`), `UnreachableError` and connect timeouts, i.e.
    every error whose ``retryable`` is true.

``build_client(base_url=..., clocks=..., transport=None, headers=None)``
    An ``httpx.AsyncClient`` whose default timeouts are the connect and idle clocks. Tests
    pass ``transport=httpx.MockTransport(...)``. The engine sends its own clocks with every
    request (``httpx_timeout(clocks)``), so engines that share a client (copies bound to
    another timeout) each keep their own clocks.

``map_http_errors(backend, ...)``
    A context manager translating ``httpx`` exceptions (and the total-deadline
    ``TimeoutError``) into the matching `LLMError`, chained with ``from exc``.

``HTTPEngine(backend=..., client=..., clocks=..., retry=..., status_error=...)``
    ``await engine.request(method, url, json=..., headers=..., model=...)`` sends a
    non-streaming request with retries under the total deadline and returns the 2xx
    ``httpx.Response`` with its body read; ``engine.request_json(...)`` also parses the JSON
    (a body that is not JSON is a `StreamError`). ``engine.stream(method, url,
    decoder=factory, ...)`` is an async generator: it opens a streamed response, hands its
    bytes to a fresh `StreamDecoder` from ``factory()`` and yields what the decoder yields.
    Failures before the first event reached the caller (a connection dropped in the body
    included) are retried like any request;
    after that the error is raised with ``partial`` set to ``decoder.partial()`` and is
    never retried, so output is never duplicated. Closing the generator (``aclose()``,
    ``break`` followed by garbage collection, task cancellation) closes the response, and
    with it the connection, at once. Prefer ``contextlib.aclosing(engine.stream(...))``.

    A non-2xx status becomes an error through ``status_error(failure)``, which receives a
    `StatusFailure` (backend, status, headers, body, model); the default is the pure
    `error_for_status` of ``adapters.llm._errors``. Backends wrap it to add advice or the
    serving provider. A retryable error without ``retry_after`` gets it from the headers.
    The total deadline is one timer per streamed body and only ever interrupts a read, so
    it never cancels the caller's own code; when it passes while the caller holds an
    event, the next read raises.

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

Secrets: an engine is given the secrets it must never repeat (its API key, and every secret
configured); every `LLMError` it raises is scrubbed of them, whatever a server echoed. A
header value ``httpx`` refuses (a key with a control character or non-ASCII) is a
`ConfigError` that never quotes the value, and never retried. A base URL with ``user:pass@``
is refused (httpx would swap the key for Basic auth and echo it).

TLS: without a test transport, `build_client` gives a client whose SSL context is built
once per process, on the first https request; a plain-http client never builds one.

The sleep function and the random source are injectable so tests never wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import random
import ssl
import zlib
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from typing import Any, Protocol, TypeVar

import attrs
import httpx

from adapters.llm._errors import error_for_status, parse_retry_after, scrub_error
from adapters.llm._limits import StreamLimits
from domain.errors import (
    ConfigError,
    LLMError,
    LLMTimeoutError,
    StreamError,
    TruncatedStreamError,
    UnreachableError,
)
from domain.messages import AIResponse

__all__ = [
    "Clocks",
    "HTTPEngine",
    "HeldError",
    "RetryPolicy",
    "StatusFailure",
    "StreamDecoder",
    "StreamLimits",
    "build_client",
    "default_status_error",
    "error_for_status",
    "httpx_timeout",
    "is_json_body",
    "map_http_errors",
    "parse_retry_after",
    "shared_copy",
]

E = TypeVar("E")
E_co = TypeVar("E_co", covariant=True)


@attrs.frozen(kw_only=True)
class Clocks:
    """The three clocks of a call, in seconds.

    Attributes:
        connect: the longest wait for a connection (TCP + TLS) to be made.
        idle: the longest wait for any single read, i.e. between two streamed chunks.
        total: the deadline for the whole call, retries included; ``None`` for none.
    """

    connect: float = attrs.field(default=10.0)
    idle: float = attrs.field(default=60.0)
    total: float | None = attrs.field(default=120.0)

    @connect.validator
    @idle.validator
    def _positive(self, attribute: attrs.Attribute[float], value: float) -> None:
        if value <= 0:
            raise ValueError(f"the {attribute.name} clock must be positive, not {value}")

    @total.validator
    def _positive_or_none(self, attribute: object, value: float | None) -> None:
        if value is not None and value <= 0:
            raise ValueError(f"the total clock must be positive or None, not {value}")


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """When and how long to wait before trying a failed call again.

    Attributes:
        max_retries: retries after the first attempt (0 disables retrying).
        base_delay: the back-off ceiling of the first retry; it doubles each retry.
        max_delay: the largest back-off ceiling.
        max_retry_after: the longest ``Retry-After`` we are willing to wait; a server that
            asks for longer gets its error raised at once.
    """

    max_retries: int = attrs.field(default=2)
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 60.0

    @max_retries.validator
    def _not_negative(self, attribute: object, value: int) -> None:
        if value < 0:
            raise ValueError(f"max_retries must be 0 or more, not {value}")

    def backoff(self, attempt: int, rand: Callable[[], float]) -> float:
        """The delay before retry number ``attempt`` (0-based): full jitter."""
        ceiling = min(self.max_delay, self.base_delay * (2.0**attempt))
        return rand() * ceiling

    def delay_for(self, error: LLMError, attempt: int, rand: Callable[[], float]) -> float | None:
        """Seconds to wait before retrying after ``error``, or ``None`` to give up now."""
        if attempt >= self.max_retries or not error.retryable:
            return None
        if error.retry_after is not None:
            if error.retry_after > self.max_retry_after:
                return None
            return max(0.0, error.retry_after)
        return self.backoff(attempt, rand)


@attrs.frozen(kw_only=True)
class StatusFailure:
    """A non-2xx reply, handed to a backend's ``status_error`` hook."""

    backend: str
    status: int
    headers: httpx.Headers
    body: bytes
    model: str | None = None


StatusErrorHook = Callable[[StatusFailure], LLMError]


def default_status_error(failure: StatusFailure) -> LLMError:
    """The error for a non-2xx reply, through the pure `error_for_status`."""
    return error_for_status(
        backend=failure.backend,
        status=failure.status,
        headers=failure.headers,
        body=failure.body,
        model=failure.model,
        provider=None,
    )


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

    def release(self) -> None:
        """Raise the held error, if any."""
        if self.error is not None:
            raise self.error


def is_json_body(headers: Mapping[str, str]) -> bool:
    """Whether a reply is one JSON document (``"stream": true`` ignored, or an error under a 200)."""
    return headers.get("content-type", "").lower().startswith("application/json")


def build_client(
    *,
    base_url: str,
    clocks: Clocks,
    transport: httpx.AsyncBaseTransport | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` whose timeouts are the connect and idle clocks.

    The read timeout is the idle clock: httpx applies it to every read, so on a stream it
    bounds the silence between two chunks rather than the whole reply. Without a
    ``transport``, the network one shares one SSL context per process, built on first use.

    Raises:
        ConfigError: the base URL carries a user name or password, or a header value cannot
            be sent (a control character or non-ASCII in a key); the message never quotes it.
    """
    refuse_userinfo(base_url)
    # A query in the base URL (``?api-version=…``) is sent with every request, after the
    # path: httpx would otherwise append ``/chat/completions`` to the query string.
    root, params = _split_query(base_url)
    hooks: dict[str, list[Callable[[httpx.Request], Awaitable[None]]]] = {}
    if params is not None:

        async def add_base_query(request: httpx.Request) -> None:
            request.url = request.url.copy_merge_params(params)

        hooks["request"] = [add_base_query]
    try:
        return httpx.AsyncClient(
            base_url=root,
            timeout=httpx_timeout(clocks),
            transport=transport if transport is not None else _LazyTLSTransport(),
            headers=dict(headers or {}),
            follow_redirects=False,
            event_hooks=hooks,
        )
    except (UnicodeEncodeError, httpx.LocalProtocolError) as exc:
        _hide_header_value(exc)
    raise _bad_header_error(None)


def _split_query(base_url: str) -> tuple[str, httpx.QueryParams | None]:
    try:
        url = httpx.URL(base_url)
    except (httpx.InvalidURL, TypeError, ValueError):
        return base_url, None  # left for httpx to explain on the first request
    if not url.query and not url.fragment:
        return base_url, None
    return str(url.copy_with(query=None, fragment=None)), url.params


def refuse_userinfo(base_url: str, *, variable: str | None = None) -> None:
    """Refuse a base URL with ``user:pass@``: httpx would send Basic auth instead of the key.

    Raises:
        ConfigError: the URL carries a user name or password (never quoted).
    """
    try:
        userinfo = httpx.URL(base_url).userinfo
    except (httpx.InvalidURL, TypeError, ValueError):
        return  # left to the URL checks that explain a malformed URL
    if userinfo:
        where = variable or "the base URL"
        raise ConfigError(
            f"{where} must not contain a user name or password (user:pass@host); "
            "remove them and set the API key variable instead"
        )


def _hide_header_value(exc: BaseException) -> None:
    """Blank what an httpx header error quotes (the header value, usually the key)."""
    if isinstance(exc, UnicodeEncodeError):
        exc.object = "?" * len(exc.object)
    else:
        exc.args = ("a request header value was refused (not shown: it may hold a key)",)


def _bad_header_error(backend: str | None) -> ConfigError:
    prefix = f"{backend}: " if backend else ""
    return ConfigError(
        f"{prefix}a request header could not be sent: a value (usually the API key) holds a "
        "control character, a space or non-ASCII text; set the key again exactly as issued"
    )


@functools.cache
def shared_ssl_context() -> ssl.SSLContext:
    """The process's one verifying SSL context (certifi's roots, as httpx builds it), built once.

    Loading the roots blocks for tens of milliseconds: once per process, not per run.
    """
    return httpx.create_ssl_context()


@functools.cache
def _no_tls_context() -> ssl.SSLContext:
    """A context for clients that only speak plain http: cheap, and it trusts nothing."""
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


class _LazyTLSTransport(httpx.AsyncBaseTransport):
    """The network transport, with the shared SSL context taken only for an https request."""

    def __init__(self) -> None:
        self._plain: httpx.AsyncHTTPTransport | None = None
        self._tls: httpx.AsyncHTTPTransport | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme == "https":
            if self._tls is None:
                self._tls = httpx.AsyncHTTPTransport(verify=shared_ssl_context())
            return await self._tls.handle_async_request(request)
        if self._plain is None:
            self._plain = httpx.AsyncHTTPTransport(verify=_no_tls_context())
        return await self._plain.handle_async_request(request)

    async def aclose(self) -> None:
        for transport in (self._plain, self._tls):
            if transport is not None:
                await transport.aclose()


def httpx_timeout(clocks: Clocks) -> httpx.Timeout:
    """The connect and idle clocks as ``httpx`` timeouts (the read timeout is the idle clock)."""
    return httpx.Timeout(connect=clocks.connect, read=clocks.idle, write=clocks.idle, pool=clocks.connect)


def _host(exc: httpx.HTTPError) -> str:
    try:
        url = exc.request.url
    except RuntimeError:  # an exception raised before a request existed
        return "the server"
    port = f":{url.port}" if url.port else ""
    return f"{url.host}{port}"


def _timeout_seconds(exc: httpx.TimeoutException, clocks: Clocks | None, key: str) -> float | None:
    try:
        value = exc.request.extensions.get("timeout", {}).get(key)
    except RuntimeError:
        value = None
    if value is not None:
        return float(value)
    if clocks is None:
        return None
    return clocks.connect if key in {"connect", "pool"} else clocks.idle


@contextlib.contextmanager
def map_http_errors(
    backend: str,
    *,
    model: str | None = None,
    provider: str | None = None,
    clocks: Clocks | None = None,
    in_body: bool = False,
    partial: Callable[[], AIResponse | None] | None = None,
) -> Iterator[None]:
    """Translate ``httpx`` exceptions raised inside the block into `LLMError` values.

    Args:
        backend: the backend name the errors carry.
        model: the model id of the request, for messages.
        provider: the provider, when already known.
        clocks: the clocks in force, for the seconds a timeout message names.
        in_body: ``True`` while reading a reply body: a connection dropped then is a
            truncated stream, not an unreachable server.
        partial: called for the ``partial`` of errors raised mid-stream.

    Raises:
        LLMTimeoutError: a connect, idle or total clock ran out.
        UnreachableError: no connection, or it was dropped before a reply began.
        TruncatedStreamError: the connection was dropped in the middle of a reply.
        StreamError: the reply could not be decoded.
        ConfigError: the URL is not usable (bad scheme, malformed).
    """
    extra: dict[str, Any] = {"backend": backend, "model": model, "provider": provider}
    bad_header = False
    try:
        yield
    except LLMError:
        raise
    except (httpx.LocalProtocolError, UnicodeEncodeError) as exc:
        # httpx quotes the offending header (the key) in its message: never let it travel,
        # not even as the context of our error (a ``with`` block keeps it there).
        _hide_header_value(exc)
        bad_header = True
    except httpx.ConnectTimeout as exc:
        seconds = _timeout_seconds(exc, clocks, "connect")
        raise LLMTimeoutError(
            f"{backend}: could not connect to {_host(exc)} within {seconds}s; "
            "check the base URL and your network, or raise the connect timeout",
            kind="connect",
            seconds=seconds,
            **extra,
        ) from exc
    except httpx.PoolTimeout as exc:
        seconds = _timeout_seconds(exc, clocks, "pool")
        raise LLMTimeoutError(
            f"{backend}: no free connection to {_host(exc)} within {seconds}s; too many calls at once",
            kind="connect",
            seconds=seconds,
            **extra,
        ) from exc
    except (httpx.ReadTimeout, httpx.WriteTimeout) as exc:
        seconds = _timeout_seconds(exc, clocks, "read")
        raise LLMTimeoutError(
            f"{backend}: {_host(exc)} sent nothing for {seconds}s; the provider may be stuck "
            "or overloaded — try again, or raise the idle timeout",
            kind="idle",
            seconds=seconds,
            partial=partial() if partial else None,
            **extra,
        ) from exc
    except TimeoutError as exc:
        seconds = clocks.total if clocks else None
        raise LLMTimeoutError(
            f"{backend}: the call did not finish within its {seconds}s deadline; "
            "raise the timeout setting or ask for a shorter answer",
            kind="total",
            seconds=seconds,
            partial=partial() if partial else None,
            **extra,
        ) from exc
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        raise ConfigError(f"{backend}: the base URL cannot be used ({exc}); use an http(s) URL") from exc
    except httpx.DecodingError as exc:
        raise StreamError(
            f"{backend}: the reply from {_host(exc)} could not be decoded ({exc})",
            partial=partial() if partial else None,
            **extra,
        ) from exc
    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
        if in_body:
            dropped = TruncatedStreamError(
                f"{backend}: the connection to {_host(exc)} was dropped in the middle of the reply "
                f"({type(exc).__name__}); what arrived is kept in the error — try again",
                partial=partial() if partial else None,
                **extra,
            )
            # A connection error: the engine retries it while nothing reached the caller.
            dropped.retryable = True
            raise dropped from exc
        raise UnreachableError(
            f"{backend}: {_host(exc)} closed the connection before replying ({type(exc).__name__}); "
            "check the base URL, or try again",
            **extra,
        ) from exc
    except httpx.TooManyRedirects as exc:
        raise UnreachableError(
            f"{backend}: too many redirects from {_host(exc)}; check the base URL", **extra
        ) from exc
    except httpx.TransportError as exc:  # ConnectError, ProxyError, NetworkError…
        detail = str(exc) or type(exc).__name__
        raise UnreachableError(
            f"{backend}: cannot reach {_host(exc)} ({detail}); check the base URL, that the "
            "server is running, and your network",
            **extra,
        ) from exc
    except httpx.HTTPError as exc:
        raise UnreachableError(f"{backend}: HTTP failure talking to {_host(exc)} ({exc})", **extra) from exc
    if bad_header:
        raise _bad_header_error(backend)


def _attach_partial(error: LLMError, partial: AIResponse | None) -> None:
    if error.partial is None and partial is not None:
        error.partial = partial


def _as_secrets(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(value for value in values if value)


@attrs.define(kw_only=True)
class HTTPEngine:
    """Sends requests with the three clocks, retries and error mapping (see the module docs).

    Attributes:
        backend: the backend name errors carry.
        client: the HTTP client (from `build_client`); the engine closes it in `aclose`.
        clocks: the clocks; ``connect``/``idle`` should match the client's timeouts.
        retry: the retry policy.
        status_error: builds the error for a non-2xx reply.
        sleep: awaited for back-off delays (tests inject a recorder).
        rand: the jitter source, returning a float in ``[0, 1)``.
        limits: the caps on bodies (and, through the decoders, lines and events).
        secrets: values no error may repeat (the API key, every configured secret).
    """

    backend: str
    client: httpx.AsyncClient
    clocks: Clocks = attrs.field(factory=Clocks)
    retry: RetryPolicy = attrs.field(factory=RetryPolicy)
    status_error: StatusErrorHook = default_status_error
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    rand: Callable[[], float] = random.random
    limits: StreamLimits = attrs.field(factory=StreamLimits)
    secrets: tuple[str, ...] = attrs.field(default=(), repr=False, converter=_as_secrets)

    @classmethod
    def open(
        cls,
        *,
        backend: str,
        base_url: str,
        clocks: Clocks,
        retry: RetryPolicy,
        status_error: StatusErrorHook = default_status_error,
        transport: httpx.AsyncBaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
        limits: StreamLimits | None = None,
        secrets: Iterable[str] = (),
        sleep: Callable[[float], Awaitable[None]] | None = None,
        rand: Callable[[], float] | None = None,
    ) -> HTTPEngine:
        """An engine with its own connection pool to ``base_url``: the one way adapters build one.

        ``sleep`` and ``rand`` default to the real back-off sleep and jitter when ``None``.

        Raises:
            ConfigError: the base URL or a header cannot be used (see `build_client`).
        """
        client = build_client(base_url=base_url, clocks=clocks, transport=transport, headers=headers)
        return cls(
            backend=backend,
            client=client,
            clocks=clocks,
            retry=retry,
            status_error=status_error,
            sleep=sleep or asyncio.sleep,
            rand=rand or random.random,
            limits=limits or StreamLimits(),
            secrets=secrets,
        )

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def _deadline(self) -> float | None:
        return None if self.clocks.total is None else self._now() + self.clocks.total

    def _remaining(self, deadline: float | None) -> float | None:
        return None if deadline is None else deadline - self._now()

    def _timeout(self, deadline: float | None) -> asyncio.Timeout:
        remaining = self._remaining(deadline)
        if remaining is None:
            return asyncio.timeout(None)
        return asyncio.timeout(max(remaining, 0.0))

    def _whole_reply_timeout(self) -> httpx.Timeout:
        """The httpx timeouts of a non-streaming call.

        Such a reply has no chunks to be idle between: a server computes the whole answer
        before it sends a byte, so the wait is bounded by the total deadline (which the
        engine enforces as well), not by the idle clock.
        """
        timeout = httpx_timeout(self.clocks)
        if self.clocks.total is None or self.clocks.total <= self.clocks.idle:
            return timeout
        return httpx.Timeout(
            connect=timeout.connect, read=self.clocks.total, write=timeout.write, pool=timeout.pool
        )

    async def _pause(self, error: LLMError, attempt: int, deadline: float | None) -> bool:
        """Sleep before a retry; ``False`` when the error should be raised instead."""
        delay = self.retry.delay_for(error, attempt, self.rand)
        if delay is None:
            return False
        remaining = self._remaining(deadline)
        if remaining is not None and delay >= remaining:
            return False  # waiting would only trade this clear error for a deadline error
        await self.sleep(delay)
        return True

    def _mapped(self, model: str | None, **kwargs: Any) -> contextlib.AbstractContextManager[None]:
        return map_http_errors(self.backend, model=model, clocks=self.clocks, **kwargs)

    async def _read_body(self, response: httpx.Response, model: str | None, *, error_body: bool) -> bytes:
        """The decoded body, read a bounded step at a time and refused past its cap."""
        cap = self.limits.max_error_body_bytes if error_body else self.limits.max_body_bytes
        parts: list[bytes] = []
        size = 0
        async for chunk in _decoded(response, self.backend):
            size += len(chunk)
            if size > cap:
                raise self._over_cap(
                    "max_error_body_bytes" if error_body else "max_body_bytes",
                    model,
                    status=response.status_code,
                )
            parts.append(chunk)
        return b"".join(parts)

    def _over_cap(
        self,
        field: str,
        model: str | None,
        *,
        status: int | None = None,
        partial: AIResponse | None = None,
    ) -> StreamError:
        cap = getattr(self.limits, field)
        what = "error body" if field == "max_error_body_bytes" else "reply body"
        status_text = f" (HTTP {status})" if status is not None else ""
        return StreamError(
            f"{self.backend}: the {what}{status_text} exceeded the {cap}-byte limit after "
            f"decompression; the server is broken or hostile (raise {StreamLimits.variable(field)} "
            "if it is neither)",
            backend=self.backend,
            status=status,
            model=model,
            partial=partial,
        )

    def _scrubbed(self, error: LLMError) -> LLMError:
        return scrub_error(error, self.secrets)

    async def _raise_for_status(self, response: httpx.Response, model: str | None) -> None:
        if response.status_code < 400:
            return
        body = await self._read_body(response, model, error_body=True)
        error = self.status_error(
            StatusFailure(
                backend=self.backend,
                status=response.status_code,
                headers=response.headers,
                body=body,
                model=model,
            )
        )
        if error.retry_after is None and error.retryable:
            # e.g. a 503 that says when to come back
            error.retry_after = parse_retry_after(response.headers)
        raise error

    async def request(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        model: str | None = None,
    ) -> httpx.Response:
        """Send one non-streaming request, retrying as the policy allows.

        Returns:
            The 2xx response, its body already read.

        Raises:
            LLMError: the mapped failure of the last attempt.
        """
        deadline = self._deadline()
        attempt = 0
        while True:
            try:
                with self._mapped(model):
                    async with self._timeout(deadline):
                        request = self.client.build_request(
                            method, url, json=json, headers=headers, timeout=self._whole_reply_timeout()
                        )
                        response = await self.client.send(request, stream=True)
                        try:
                            await self._raise_for_status(response, model)
                            body = await self._read_body(response, model, error_body=False)
                        finally:
                            await response.aclose()
                return _read_response(response, body)
            except LLMError as error:
                if not await self._pause(error, attempt, deadline):
                    raise self._scrubbed(error) from error.__cause__
                attempt += 1

    async def request_json(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        model: str | None = None,
    ) -> tuple[Any, httpx.Response]:
        """Like `request`, and parse the body as JSON.

        Raises:
            StreamError: the 2xx body is not JSON.
        """
        response = await self.request(method, url, json=json, headers=headers, model=model)
        try:
            return response.json(), response
        except RecursionError:
            pass  # raised below, outside the handler, without the deep traceback
        except ValueError as exc:
            snippet = response.text[:200]
            raise self._scrubbed(
                StreamError(
                    f"{self.backend}: the server answered {response.status_code} with a body that is "
                    f"not JSON: {snippet!r}; check the base URL points at the API",
                    backend=self.backend,
                    status=response.status_code,
                    model=model,
                )
            ) from exc
        raise StreamError(
            f"{self.backend}: the server answered {response.status_code} with JSON nested too deeply "
            "to read; the server is broken or hostile",
            backend=self.backend,
            status=response.status_code,
            model=model,
        )

    async def _chunks(
        self,
        response: httpx.Response,
        deadline: float | None,
        model: str | None,
        partial: Callable[[], AIResponse | None],
    ) -> AsyncGenerator[bytes, None]:
        # Each read is bounded by the idle clock (httpx's read timeout) and by the rest of
        # the total deadline. The deadline is one timer for the whole body (a timer per read
        # would cost more than the parsing), and it only ever interrupts a read: when it
        # fires while the caller holds an event, the next read raises instead.
        # Raw reads skip httpx's decoder layer; decoded reads are needed for a compressed
        # body, or a body that was already read into memory.
        iterator = _decoded(response, self.backend).__aiter__()
        cap = self.limits.max_body_bytes
        size = 0
        with self._mapped(model, in_body=True, partial=partial):
            if deadline is None:
                async for chunk in iterator:
                    size += len(chunk)
                    if size > cap:
                        raise self._over_cap("max_body_bytes", model, partial=partial())
                    yield chunk
                return
            watchdog = _Watchdog(deadline)
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
                        raise self._over_cap("max_body_bytes", model, partial=partial())
                    yield chunk
            finally:
                watchdog.disarm()

    async def stream(
        self,
        method: str,
        url: str,
        *,
        decoder: Callable[[], StreamDecoder[E]],
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        model: str | None = None,
    ) -> AsyncGenerator[E, None]:
        """Open a streamed reply and yield its decoded events (see the module docs).

        Args:
            decoder: makes a fresh `StreamDecoder` for each attempt.

        Raises:
            LLMError: the failure; with ``partial`` set when events had been yielded.
        """
        deadline = self._deadline()
        attempt = 0
        yielded = False
        while True:
            current = decoder()
            try:
                request = self.client.build_request(
                    method, url, json=json, headers=headers, timeout=httpx_timeout(self.clocks)
                )
                with self._mapped(model):
                    async with self._timeout(deadline):
                        response = await self.client.send(request, stream=True)
                try:
                    with self._mapped(model, in_body=True, partial=current.partial):
                        async with self._timeout(deadline):
                            await self._raise_for_status(response, model)
                    current.start(response.headers)
                    chunks = self._chunks(response, deadline, model, current.partial)
                    cut: LLMError | None = None
                    try:
                        async for chunk in chunks:
                            for event in current.feed(chunk):
                                yielded = True
                                yield event
                            if current.done:
                                break
                    except (TruncatedStreamError, LLMTimeoutError) as error:
                        cut = error  # the decoder says whether the reply was whole already
                    finally:
                        await _aclose(chunks)
                    for event in current.close(cut):
                        yielded = True
                        yield event
                finally:
                    await response.aclose()
                return
            except LLMError as error:
                if yielded:
                    _attach_partial(error, current.partial())
                    raise self._scrubbed(error) from error.__cause__
                if not await self._pause(error, attempt, deadline):
                    raise self._scrubbed(error) from error.__cause__
                attempt += 1

    async def aclose(self) -> None:
        """Close the HTTP client and its connections."""
        await self.client.aclose()


class _Watchdog:
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


_DECODE_STEP = 256 * 1024
"""The most bytes one inflate step may produce: a gzip bomb arrives a step at a time."""


async def _decoded(response: httpx.Response, backend: str) -> AsyncGenerator[bytes, None]:
    """The body's bytes after content decoding; gzip and deflate a bounded step at a time.

    httpx's own decoders inflate a whole network read at once (a 64 KiB read of a bomb is
    64 MiB); here each step yields at most `_DECODE_STEP` bytes, so the caller's byte count
    stops a bomb before it is in memory. Other encodings (br, zstd) go through httpx.
    """
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if response.is_stream_consumed or encoding not in {"", "identity", "gzip", "x-gzip", "deflate"}:
        async for chunk in response.aiter_bytes():
            yield chunk
        return
    if encoding in {"", "identity"}:
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
                    out = inflater.decompress(data, _DECODE_STEP)
                except zlib.error:
                    if not (first and wbits == zlib.MAX_WBITS):
                        raise
                    # "deflate" sent raw, without the zlib header, as some servers do
                    wbits = -zlib.MAX_WBITS
                    inflater = zlib.decompressobj(wbits)
                    out = inflater.decompress(data, _DECODE_STEP)
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


def _read_response(response: httpx.Response, body: bytes) -> httpx.Response:
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


async def _aclose(iterator: AsyncIterator[Any]) -> None:
    close = getattr(iterator, "aclose", None)
    if close is not None:
        await close()
