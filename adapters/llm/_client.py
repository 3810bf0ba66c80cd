"""The ``httpx`` client every engine uses: clocks as timeouts, a safe base URL, TLS built once.

``build_client(base_url=..., clocks=..., transport=None, headers=None)``
    An ``httpx.AsyncClient`` whose default timeouts are the connect and idle clocks. Tests
    pass ``transport=httpx.MockTransport(...)``. The engine sends its own clocks with every
    request (``httpx_timeout(clocks)``), so engines that share a client (copies bound to
    another timeout) each keep their own clocks.

TLS: without a test transport, `build_client` gives a client whose SSL context is built
once per process, on the first https request; a plain-http client never builds one.
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import Awaitable, Callable, Mapping

import httpx

from adapters.llm._clocks import Clocks
from adapters.llm._settings import refuse_userinfo
from domain.errors import ConfigError

__all__ = [
    "build_client",
    "httpx_timeout",
    "shared_ssl_context",
    "whole_reply_timeout",
]


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
    refuse_userinfo(base_url, "the base URL")  # a last guard: the settings refuse it first
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


def whole_reply_timeout(clocks: Clocks) -> httpx.Timeout:
    """The httpx timeouts of a non-streaming call.

    Such a reply has no chunks to be idle between: a server computes the whole answer
    before it sends a byte, so the wait is bounded by the total deadline (which the
    engine enforces as well), not by the idle clock.
    """
    timeout = httpx_timeout(clocks)
    if clocks.total is None or clocks.total <= clocks.idle:
        return timeout
    return httpx.Timeout(connect=timeout.connect, read=clocks.total, write=timeout.write, pool=timeout.pool)
