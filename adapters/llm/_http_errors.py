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
        return error_for_status(
            backend=self.backend,
            status=self.status,
            headers=self.headers,
            body=self.body,
            model=self.model,
            provider=provider,
            advice=advice,
        )


StatusErrorHook = Callable[[StatusFailure], LLMError]


def default_status_error(failure: StatusFailure) -> LLMError:
    """The error for a non-2xx reply, through the pure `error_for_status`."""
    return failure.error()


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
