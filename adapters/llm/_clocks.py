"""The pure parts of every call's timing: the three clocks and the retry policy.

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
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

import attrs

from domain.errors import LLMError
from domain.model_config import NormalizedModelConfig

__all__ = ["Clocks", "RetryPolicy", "clocks_for", "parse_retry_after"]


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


def clocks_for(config: NormalizedModelConfig, default_total: float | None, base: Clocks) -> Clocks:
    """The clocks of a call: the config's ``timeout`` is the total deadline.

    The connect and idle clocks never exceed the deadline, so a short timeout is not
    outlived by a longer per-read wait.
    """
    total = config.timeout if config.timeout is not None else default_total
    if total is None:
        return attrs.evolve(base, total=None)
    return Clocks(connect=min(base.connect, total), idle=min(base.idle, total), total=total)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, candidate in headers.items():
        if key.lower() == lowered:
            return candidate
    return None


def parse_retry_after(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Seconds the server asked us to wait, from its headers; ``None`` when it did not say.

    Understands ``retry-after-ms`` (milliseconds, preferred when present), and ``Retry-After``
    as seconds or as an HTTP date (relative to ``now``, default the current time). Values
    that are negative or cannot be parsed give ``None``; a date in the past gives ``0``.
    """
    milliseconds = _header(headers, "retry-after-ms")
    if milliseconds is not None:
        try:
            value = float(milliseconds.strip())
        except ValueError:
            value = -1.0
        if value >= 0 and value == value and value != float("inf"):
            return value / 1000.0
    raw = _header(headers, "retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        seconds = float(raw)
    except ValueError:
        pass
    else:
        if seconds >= 0 and seconds == seconds and seconds != float("inf"):
            return seconds
        return None
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    reference = now if now is not None else datetime.fromtimestamp(time.time(), tz=UTC)
    if reference.tzinfo is None:
        reference = reference.replace(tzinfo=UTC)
    return max(0.0, (when - reference).total_seconds())
