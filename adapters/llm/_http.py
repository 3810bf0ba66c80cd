"""The HTTP engine every LLM adapter sends its requests through.

Why one engine: timeouts, retries, cancellation and the translation of ``httpx`` exceptions
are the same problem for every backend, and they are easy to get subtly wrong (a retry that
repeats output the caller already showed, a stream that hangs forever, a cancelled stream
that keeps its socket open). The pieces live beside it: the clocks and retry policy
(`adapters.llm._clocks`), the client (`adapters.llm._client`), the error mapping
(`adapters.llm._http_errors`, the only place ``httpx`` exceptions become `LLMError`), and the
decoders' protocol and body reading (`adapters.llm._decoding`); this module re-exports them.

``HTTPEngine(backend=..., client=..., clocks=..., retry=..., status_error=...)``
    ``await engine.request(method, url, json=..., headers=..., model=...)`` sends a
    non-streaming request with retries under the total deadline and returns the 2xx
    ``httpx.Response`` with its body read; ``engine.request_json(...)`` also parses the JSON
    (a body that is not JSON is a `StreamError`). ``engine.stream(method, url,
    decoder=factory, ...)`` is an async generator: it opens a streamed response, hands its
    bytes to a fresh `StreamDecoder` from ``factory()`` and yields what the decoder yields.
    Failures before the first event reached the caller are retried like any request;
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

Secrets: an engine is given the secrets it must never repeat (its API key, and every secret
configured); every `LLMError` it raises is scrubbed of them, whatever a server echoed. A
header value ``httpx`` refuses (a key with a control character or non-ASCII) is a
`ConfigError` that never quotes the value, and never retried. A base URL with ``user:pass@``
is refused (httpx would swap the key for Basic auth and echo it).

The sleep function and the random source are injectable so tests never wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import Any, TypedDict, TypeVar, Unpack

import attrs
import httpx

from adapters.llm._client import (
    build_client,
    httpx_timeout,
    shared_ssl_context,
    whole_reply_timeout,
)
from adapters.llm._clocks import Clocks, RetryPolicy
from adapters.llm._decoding import (
    HeldError,
    StreamDecoder,
    body_chunks,
    is_json_body,
    read_body,
    read_response,
)
from adapters.llm._errors import parse_retry_after, scrub_error
from adapters.llm._http_errors import (
    StatusErrorHook,
    StatusFailure,
    _attach_partial,
    default_status_error,
    map_http_errors,
)
from adapters.llm._limits import StreamLimits
from adapters.llm._settings import as_secrets
from domain.errors import LLMError, LLMTimeoutError, StreamError, TruncatedStreamError

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
    "httpx_timeout",
    "is_json_body",
    "map_http_errors",
    "parse_retry_after",
    "shared_ssl_context",
]

E = TypeVar("E")


class RequestOptions(TypedDict, total=False):
    """The keyword options of `HTTPEngine.request` (and `request_json`)."""

    json: Any
    """The body, sent as JSON."""
    headers: Mapping[str, str] | None
    """Headers added to the client's own."""
    model: str | None
    """The model asked for, named by the errors."""


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
    secrets: tuple[str, ...] = attrs.field(default=(), repr=False, converter=as_secrets)

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

    def _scrubbed(self, error: LLMError) -> LLMError:
        return scrub_error(error, self.secrets)

    async def _raise_for_status(self, response: httpx.Response, model: str | None) -> None:
        if response.status_code < 400:
            return
        body = await read_body(
            response, backend=self.backend, limits=self.limits, model=model, error_body=True
        )
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
                            method, url, json=json, headers=headers, timeout=whole_reply_timeout(self.clocks)
                        )
                        response = await self.client.send(request, stream=True)
                        try:
                            await self._raise_for_status(response, model)
                            body = await read_body(
                                response,
                                backend=self.backend,
                                limits=self.limits,
                                model=model,
                                error_body=False,
                            )
                        finally:
                            await response.aclose()
                return read_response(response, body)
            except LLMError as error:
                if not await self._pause(error, attempt, deadline):
                    raise self._scrubbed(error) from error.__cause__
                attempt += 1

    async def request_json(
        self, method: str, url: str, **options: Unpack[RequestOptions]
    ) -> tuple[Any, httpx.Response]:
        """Like `request` (with the same options), and parse the body as JSON.

        Raises:
            StreamError: the 2xx body is not JSON.
        """
        response = await self.request(method, url, **options)
        model = options.get("model")
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
                    chunks = body_chunks(self, response, deadline, model, current.partial)
                    cut: LLMError | None = None
                    feed = current.feed
                    try:
                        async for chunk in chunks:
                            for event in feed(chunk):
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


async def _aclose(iterator: AsyncIterator[Any]) -> None:
    close = getattr(iterator, "aclose", None)
    if close is not None:
        await close()
