"""Every failure the runtime reports, as a tree of typed errors carrying data.

```
AgentError
├── ConfigError                    missing or invalid settings
│   └── UnknownBackendError        a backend name nobody registered (lists the valid names)
├── NotSupportedError              the backend does not offer this (e.g. model management)
├── LLMError                       anything between us and a model; backend, status, provider…
│   ├── AuthenticationError        401: the key is missing, wrong or revoked
│   ├── PermissionDeniedError      403: the key lacks a permission
│   ├── ModelNotFoundError         404: no such model (on that provider)
│   ├── InvalidRequestError        400 / 422: the request was refused as invalid
│   │   └── ContextLengthExceededError   the conversation does not fit the model
│   ├── RateLimitError             429: carries retry_after
│   ├── ProviderError              5xx: the provider failed
│   │   └── OverloadedError        503 / 529 / "overloaded": try again later
│   ├── UnreachableError           connection refused, DNS, TLS
│   ├── LLMTimeoutError            connect, idle (between chunks) or total deadline
│   └── StreamError                a 2xx reply we could not understand
│       └── TruncatedStreamError   the stream ended before the model finished
├── ToolError                      a tool could not be registered or run
├── StorageError                   the conversation store failed
└── RunCancelledError              the caller cancelled a run
```

Adapters let only these escape, chained with ``from exc``; programming mistakes stay
`TypeError` or `ValueError`. Messages say what happened and what to do, and never contain
a secret.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from domain.messages import AIResponse

__all__ = [
    "AgentError",
    "AuthenticationError",
    "ConfigError",
    "ContextLengthExceededError",
    "DuplicateError",
    "InvalidRequestError",
    "LLMError",
    "LLMTimeoutError",
    "ModelNotFoundError",
    "NotSupportedError",
    "OverloadedError",
    "PermissionDeniedError",
    "ProviderError",
    "QueueUnavailableError",
    "RateLimitError",
    "RunCancelledError",
    "StorageError",
    "StreamError",
    "ToolError",
    "TruncatedStreamError",
    "UnknownBackendError",
    "UnreachableError",
]

TimeoutKind = Literal["connect", "idle", "total"]


class AgentError(Exception):
    """Base of every error the runtime raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(AgentError):
    """Settings are missing or invalid. Raised before any request is sent."""


class UnknownBackendError(ConfigError):
    """A backend name that is not registered."""

    def __init__(self, name: str, valid: Sequence[str]) -> None:
        self.name = name
        self.valid = tuple(valid)
        super().__init__(f"unknown backend {name!r}; valid backends: {', '.join(self.valid) or '(none)'}")


class NotSupportedError(AgentError):
    """The backend does not offer what was asked (model management on a serverless router…)."""

    def __init__(self, message: str, *, backend: str | None = None) -> None:
        super().__init__(message)
        self.backend = backend


class LLMError(AgentError):
    """Anything between us and a model.

    Attributes:
        backend: the backend name (``huggingface``, ``ollama``…).
        status: the HTTP status, when there was one (in-stream errors have none).
        retry_after: seconds the server asked us to wait, when it said.
        provider: the provider that served or refused the call (HF router).
        model: the model id of the request.
        partial: what the model had already produced when a stream failed, so nothing is lost.
        retryable: whether trying again later may succeed.
    """

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        backend: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
        provider: str | None = None,
        model: str | None = None,
        partial: AIResponse | None = None,
    ) -> None:
        super().__init__(message)
        self.backend = backend
        self.status = status
        self.retry_after = retry_after
        self.provider = provider
        self.model = model
        self.partial = partial


class AuthenticationError(LLMError):
    """401: the API key is missing, malformed, wrong or revoked."""


class PermissionDeniedError(LLMError):
    """403: the key is valid but lacks a permission (or billing) the call needs."""


class ModelNotFoundError(LLMError):
    """404: the model does not exist, or not on the chosen provider."""


class InvalidRequestError(LLMError):
    """400 / 422: the request was refused as invalid; the message carries the details."""


class ContextLengthExceededError(InvalidRequestError):
    """The conversation is longer than the model's context window."""


class RateLimitError(LLMError):
    """429: too many requests; ``retry_after`` says how long to wait when known."""

    retryable = True


class ProviderError(LLMError):
    """5xx: the provider (or the router in front of it) failed."""

    retryable = True


class OverloadedError(ProviderError):
    """The provider is overloaded (503, 529 or an ``overloaded`` error event)."""


class UnreachableError(LLMError):
    """No connection could be made: refused, DNS failure, TLS failure, reset before a reply."""

    retryable = True


class LLMTimeoutError(LLMError):
    """A clock ran out: ``kind`` is ``connect``, ``idle`` (between chunks) or ``total``."""

    def __init__(
        self,
        message: str,
        *,
        kind: TimeoutKind,
        seconds: float | None = None,
        backend: str | None = None,
        provider: str | None = None,
        model: str | None = None,
        partial: AIResponse | None = None,
    ) -> None:
        super().__init__(message, backend=backend, provider=provider, model=model, partial=partial)
        self.kind: TimeoutKind = kind
        self.seconds = seconds
        # Only a connect timeout is safe to retry blindly: nothing reached the server.
        self.retryable = kind == "connect"


class StreamError(LLMError):
    """The server answered 2xx but sent something we could not understand."""


class TruncatedStreamError(StreamError):
    """The stream ended before the model said it had finished; ``partial`` keeps what came."""


class ToolError(AgentError):
    """A tool could not be registered, or a tool runner failed outside a tool's own code."""


class StorageError(AgentError):
    """The conversation store failed to load or save."""


class RunCancelledError(AgentError):
    """The caller cancelled a run; the history saved so far is intact."""


class DuplicateError(StorageError):
    """A record with the same unique key (an email, say) already exists."""


class QueueUnavailableError(AgentError):
    """The run queue cannot accept jobs now (its broker is down); try again shortly."""
