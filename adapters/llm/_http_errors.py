"""Where ``httpx`` exceptions and non-2xx replies become `LLMError` values, and only here.

``map_http_errors(backend, ...)`` is a context manager translating ``httpx`` exceptions (and
the total-deadline ``TimeoutError``) into the matching `LLMError`, chained with ``from exc``.
A non-2xx status becomes an error through a ``status_error(failure)`` hook, which receives a
`StatusFailure` (backend, status, headers, body, model); the default is the pure
`error_for_status` of ``adapters.llm._errors``. Backends wrap it to add advice or the serving
provider.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import attrs
import httpx

from adapters.llm._client import _bad_header_error, _hide_header_value
from adapters.llm._clocks import Clocks
from adapters.llm._errors import error_for_status
from domain.errors import (
    ConfigError,
    LLMError,
    LLMTimeoutError,
    StreamError,
    TimeoutKind,
    TruncatedStreamError,
    UnreachableError,
)
from domain.messages import AIResponse

__all__ = ["StatusErrorHook", "StatusFailure", "default_status_error", "map_http_errors"]


@attrs.frozen(kw_only=True)
class StatusFailure:
    """A non-2xx reply, handed to a backend's ``status_error`` hook."""

    backend: str
    status: int
    headers: httpx.Headers
    body: bytes
    model: str | None = None

    def error(self, *, advice: Mapping[int, str] | None = None, provider: str | None = None) -> LLMError:
        """The error the pure `error_for_status` makes of this reply, with per-status ``advice``."""
        # The fields are `error_for_status`'s arguments by name.
        return error_for_status(**attrs.asdict(self, recurse=False), provider=provider, advice=advice)


StatusErrorHook = Callable[[StatusFailure], LLMError]


def default_status_error(failure: StatusFailure) -> LLMError:
    """The error for a non-2xx reply, through the pure `error_for_status`."""
    return failure.error()


def _host(exc: Exception) -> str:
    if not isinstance(exc, httpx.HTTPError):
        return "the server"
    try:
        url = exc.request.url
    except RuntimeError:  # an exception raised before a request existed
        return "the server"
    port = f":{url.port}" if url.port else ""
    return f"{url.host}{port}"


def _timeout_seconds(exc: Exception, clocks: Clocks | None, key: str) -> float | None:
    value = None
    if isinstance(exc, httpx.HTTPError):
        try:
            value = exc.request.extensions.get("timeout", {}).get(key)
        except RuntimeError:
            value = None
    if value is not None:
        return float(value)
    if clocks is None:
        return None
    if key == "total":
        return clocks.total
    return clocks.connect if key in {"connect", "pool"} else clocks.idle


@attrs.frozen(kw_only=True)
class _Call:
    """What the error builders know about the call that failed."""

    backend: str
    extra: dict[str, Any]
    clocks: Clocks | None
    in_body: bool
    partial: Callable[[], AIResponse | None] | None

    def arrived(self) -> AIResponse | None:
        return self.partial() if self.partial else None

    def timed_out(self, message: str, *, kind: TimeoutKind, seconds: float | None) -> LLMTimeoutError:
        """The timeout error of this call; a connect timeout never has a partial reply."""
        partial = None if kind == "connect" else self.arrived()
        return LLMTimeoutError(
            f"{self.backend}: {message}", kind=kind, seconds=seconds, partial=partial, **self.extra
        )


_Builder = Callable[[Exception, _Call], Exception]


def _timed_out(clock: str, kind: TimeoutKind, message: str) -> _Builder:
    """The builder for a run-out ``clock`` (an httpx timeout key, or ``total``).

    ``message`` may name ``{host}`` and ``{seconds}``.
    """

    def build(exc: Exception, call: _Call) -> Exception:
        seconds = _timeout_seconds(exc, call.clocks, clock)
        return call.timed_out(message.format(host=_host(exc), seconds=seconds), kind=kind, seconds=seconds)

    return build


def _unusable_url(exc: Exception, call: _Call) -> Exception:
    return ConfigError(f"{call.backend}: the base URL cannot be used ({exc}); use an http(s) URL")


def _undecodable(exc: Exception, call: _Call) -> Exception:
    return StreamError(
        f"{call.backend}: the reply from {_host(exc)} could not be decoded ({exc})",
        partial=call.arrived(),
        **call.extra,
    )


def _dropped(exc: Exception, call: _Call) -> Exception:
    if not call.in_body:
        return UnreachableError(
            f"{call.backend}: {_host(exc)} closed the connection before replying ({type(exc).__name__}); "
            "check the base URL, or try again",
            **call.extra,
        )
    dropped = TruncatedStreamError(
        f"{call.backend}: the connection to {_host(exc)} was dropped in the middle of the reply "
        f"({type(exc).__name__}); what arrived is kept in the error — try again",
        partial=call.arrived(),
        **call.extra,
    )
    dropped.retryable = True  # a connection error: the engine retries it while nothing reached the caller
    return dropped


def _redirects(exc: Exception, call: _Call) -> Exception:
    return UnreachableError(
        f"{call.backend}: too many redirects from {_host(exc)}; check the base URL", **call.extra
    )


def _unreachable(exc: Exception, call: _Call) -> Exception:  # ConnectError, ProxyError, NetworkError…
    detail = str(exc) or type(exc).__name__
    return UnreachableError(
        f"{call.backend}: cannot reach {_host(exc)} ({detail}); check the base URL, that the "
        "server is running, and your network",
        **call.extra,
    )


def _http_failure(exc: Exception, call: _Call) -> Exception:
    return UnreachableError(f"{call.backend}: HTTP failure talking to {_host(exc)} ({exc})", **call.extra)


_ERROR_MAP: tuple[tuple[type[Exception] | tuple[type[Exception], ...], _Builder], ...] = (
    (
        httpx.ConnectTimeout,
        _timed_out(
            "connect",
            "connect",
            "could not connect to {host} within {seconds}s; "
            "check the base URL and your network, or raise the connect timeout",
        ),
    ),
    (
        httpx.PoolTimeout,
        _timed_out(
            "pool", "connect", "no free connection to {host} within {seconds}s; too many calls at once"
        ),
    ),
    (
        (httpx.ReadTimeout, httpx.WriteTimeout),
        _timed_out(
            "read",
            "idle",
            "{host} sent nothing for {seconds}s; the provider may be stuck "
            "or overloaded — try again, or raise the idle timeout",
        ),
    ),
    (
        TimeoutError,  # the engine's total deadline (asyncio.timeout)
        _timed_out(
            "total",
            "total",
            "the call did not finish within its {seconds}s deadline; "
            "raise the timeout setting or ask for a shorter answer",
        ),
    ),
    ((httpx.UnsupportedProtocol, httpx.InvalidURL), _unusable_url),
    (httpx.DecodingError, _undecodable),
    ((httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError), _dropped),
    (httpx.TooManyRedirects, _redirects),
    (httpx.TransportError, _unreachable),
    (httpx.HTTPError, _http_failure),
)
"""Exception → the builder of its error, first match wins (so the more specific come first),
as ``httpx`` maps ``httpcore``'s exceptions (``HTTPCORE_EXC_MAP``)."""


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
    """Translate ``httpx`` exceptions raised inside the block into `LLMError` values (`_ERROR_MAP`).

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
        ConfigError: the URL is not usable (bad scheme, malformed), or a header value (the
            key) cannot be sent; that message never quotes it.
    """
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
    except (httpx.HTTPError, TimeoutError) as exc:
        call = _Call(
            backend=backend,
            extra={"backend": backend, "model": model, "provider": provider},
            clocks=clocks,
            in_body=in_body,
            partial=partial,
        )
        for kinds, build in _ERROR_MAP:
            if isinstance(exc, kinds):
                raise build(exc, call) from exc
        raise
    if bad_header:
        raise _bad_header_error(backend)


def _attach_partial(error: LLMError, partial: AIResponse | None) -> None:
    if error.partial is None and partial is not None:
        error.partial = partial
