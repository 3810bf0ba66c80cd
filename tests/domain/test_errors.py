"""The error tree carries data, and says which failures are worth retrying."""

from __future__ import annotations

import pytest

from domain.errors import (
    AgentError,
    AuthenticationError,
    ConfigError,
    ContextLengthExceededError,
    InvalidRequestError,
    LLMError,
    LLMTimeoutError,
    OverloadedError,
    ProviderError,
    RateLimitError,
    TruncatedStreamError,
    UnknownBackendError,
    UnreachableError,
)
from domain.messages import AIResponse


def test_unknown_backend_lists_the_valid_names() -> None:
    error = UnknownBackendError("hugginface", ["fake", "huggingface"])
    assert isinstance(error, ConfigError)
    assert "fake, huggingface" in str(error)
    assert error.valid == ("fake", "huggingface")


def test_llm_errors_carry_their_data() -> None:
    partial = AIResponse(content="half an ans")
    error = RateLimitError(
        "slow down", backend="huggingface", status=429, retry_after=3.0, provider="together", partial=partial
    )
    assert (error.backend, error.status, error.retry_after, error.provider) == (
        "huggingface",
        429,
        3.0,
        "together",
    )
    assert error.partial is partial
    assert str(error) == "slow down"


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        (RateLimitError("x"), True),
        (ProviderError("x"), True),
        (OverloadedError("x"), True),
        (UnreachableError("x"), True),
        (LLMTimeoutError("x", kind="connect"), True),
        (LLMTimeoutError("x", kind="idle"), False),
        (LLMTimeoutError("x", kind="total"), False),
        (AuthenticationError("x"), False),
        (InvalidRequestError("x"), False),
        (TruncatedStreamError("x"), False),
    ],
)
def test_retryable_flags(error: LLMError, retryable: bool) -> None:
    assert error.retryable is retryable


def test_hierarchy() -> None:
    assert issubclass(ContextLengthExceededError, InvalidRequestError)
    assert issubclass(OverloadedError, ProviderError)
    assert issubclass(LLMError, AgentError)
