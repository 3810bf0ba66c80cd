"""How a failure leaves the `cw` command: one exit code per error kind, one line on stderr.

Scripts branch on exit codes, people read the line. Both come from here, from one table, so
``cw run`` and ``cw pull`` can never disagree about what a 401 means. The line is the error's
own message (adapters write it to say what to do), flattened to a single line and scrubbed of
any secret value as a last line of defence.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from domain.errors import (
    AgentError,
    AuthenticationError,
    ConfigError,
    ContextLengthExceededError,
    DuplicateError,
    InvalidRequestError,
    LLMError,
    LLMTimeoutError,
    ModelNotFoundError,
    NotSupportedError,
    OverloadedError,
    PermissionDeniedError,
    ProviderError,
    QueueUnavailableError,
    RateLimitError,
    RunCancelledError,
    StorageError,
    StreamError,
    ToolError,
    TruncatedStreamError,
    UnknownBackendError,
    UnreachableError,
)

__all__ = [
    "EXIT_CODES",
    "EXIT_INTERRUPTED",
    "EXIT_MAX_TURNS",
    "EXIT_OK",
    "EXIT_UNEXPECTED",
    "EXIT_USAGE",
    "error_line",
    "exit_code_for",
    "scrub",
]

EXIT_OK = 0
EXIT_UNEXPECTED = 1
"""A bug: something raised that is not an `AgentError`."""
EXIT_USAGE = 2
"""Bad command-line usage (click's own convention)."""
EXIT_MAX_TURNS = 20
"""The agent used all its turns without a final answer."""
EXIT_INTERRUPTED = 130
"""Ctrl-C, as shells report SIGINT."""

EXIT_CODES: Mapping[type[AgentError], int] = {
    AgentError: 1,
    ConfigError: 3,
    UnknownBackendError: 3,
    NotSupportedError: 4,
    LLMError: 10,
    AuthenticationError: 11,
    PermissionDeniedError: 12,
    ModelNotFoundError: 13,
    InvalidRequestError: 14,
    ContextLengthExceededError: 15,
    RateLimitError: 16,
    ProviderError: 17,
    OverloadedError: 18,
    UnreachableError: 19,
    LLMTimeoutError: 21,
    StreamError: 22,
    TruncatedStreamError: 23,
    ToolError: 24,
    StorageError: 25,
    DuplicateError: 26,
    QueueUnavailableError: 27,
    RunCancelledError: EXIT_INTERRUPTED,
}
"""Every `AgentError` subclass → the exit code of ``cw``. A subclass not listed takes the
code of its nearest listed ancestor."""


def exit_code_for(error: BaseException) -> int:
    """The exit code for ``error``: the most specific entry of `EXIT_CODES` on its class chain."""
    for cls in type(error).__mro__:
        code = EXIT_CODES.get(cls)
        if code is not None:
            return code
    return EXIT_UNEXPECTED


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every secret value replaced by ``***``."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        if secret:
            text = text.replace(secret, "***")
    return text


def error_line(error: BaseException, secrets: Iterable[str] = ()) -> str:
    """The single stderr line for ``error``: ``cw: error: <what happened and what to do>``."""
    if isinstance(error, AgentError):
        message = error.message
        retry_after = getattr(error, "retry_after", None)
        if isinstance(error, RateLimitError) and retry_after and "retry" not in message.lower():
            message = f"{message} (retry after {retry_after:g} s)"
    else:
        message = f"unexpected {type(error).__name__}: {error}; please report this as a bug"
    flat = " ".join(message.split()) or type(error).__name__
    return "cw: error: " + scrub(flat, secrets)
