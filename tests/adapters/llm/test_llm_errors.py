"""HTTP statuses and in-stream error objects become the same typed, actionable errors.

(Named test_llm_errors.py: tests/domain/test_errors.py already owns the module name.)
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.llm._errors import (
    MAX_DETAIL_CHARS,
    error_for_status,
    error_from_stream_payload,
    parse_retry_after,
    redact_secrets,
)
from domain.errors import (
    AuthenticationError,
    ContextLengthExceededError,
    InvalidRequestError,
    LLMError,
    ModelNotFoundError,
    OverloadedError,
    PermissionDeniedError,
    ProviderError,
    RateLimitError,
)


def error(status: int, body: object = b"", headers: dict[str, str] | None = None, **kwargs: Any) -> LLMError:
    return error_for_status(backend="huggingface", status=status, headers=headers or {}, body=body, **kwargs)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, InvalidRequestError),
        (401, AuthenticationError),
        (402, PermissionDeniedError),
        (403, PermissionDeniedError),
        (404, ModelNotFoundError),
        (405, InvalidRequestError),
        (408, ProviderError),
        (409, ProviderError),
        (413, InvalidRequestError),
        (422, InvalidRequestError),
        (429, RateLimitError),
        (500, ProviderError),
        (502, ProviderError),
        (503, OverloadedError),
        (504, ProviderError),
        (529, OverloadedError),
    ],
)
def test_status_table(status: int, cls: type[LLMError]) -> None:
    err = error(status, b'{"error": "nope"}')
    assert type(err) is cls
    assert err.status == status
    assert err.backend == "huggingface"
    assert "nope" in err.message


def test_retryable_follows_the_class() -> None:
    assert error(429).retryable
    assert error(500).retryable
    assert error(503).retryable
    assert error(408).retryable
    assert not error(400).retryable
    assert not error(401).retryable
    assert not error(404).retryable


@pytest.mark.parametrize(
    "body",
    [
        b'{"error": "Model X is not available for provider Y"}',
        b'{"error": {"message": "Model X is not available for provider Y", "type": "invalid"}}',
        {"error": {"message": "Model X is not available for provider Y", "code": "model_not_found"}},
        '{"detail": "Model X is not available for provider Y"}',
        b'{"message": "Model X is not available for provider Y"}',
        b"Model X is not available for provider Y",
    ],
)
def test_the_servers_message_is_in_the_error_whatever_the_shape(body: object) -> None:
    assert "Model X is not available for provider Y" in error(404, body).message


def test_validation_detail_lists_are_readable() -> None:
    body = {"detail": [{"loc": ["body", "temperature"], "msg": "must be <= 2"}, {"msg": "bad"}]}
    assert "body.temperature: must be <= 2; bad" in error(422, body).message


def test_model_provider_and_advice_are_in_the_message() -> None:
    err = error(
        403,
        b'{"error": "forbidden"}',
        model="meta-llama/Llama-3.1-8B-Instruct",
        provider="cerebras",
        advice={403: 'Give the token the "Make calls to Inference Providers" permission.'},
    )
    assert err.model == "meta-llama/Llama-3.1-8B-Instruct"
    assert err.provider == "cerebras"
    assert "'meta-llama/Llama-3.1-8B-Instruct'" in err.message
    assert "'cerebras'" in err.message
    assert err.message.endswith('Give the token the "Make calls to Inference Providers" permission.')


def test_generic_advice_when_the_backend_gives_none() -> None:
    assert "API key" in error(401).message
    assert "'m'" in error(404, model="m").message


@pytest.mark.parametrize(
    "body",
    [
        {"error": "This model's maximum context length is 8192 tokens. However, you requested 9000"},
        {"error": {"message": "too long", "code": "context_length_exceeded"}},
        {"error": "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096"},
        {"error": "prompt is too long: 210000 tokens > 200000 maximum"},
    ],
)
def test_context_length_is_recognised(body: object) -> None:
    err = error(400, body)
    assert isinstance(err, ContextLengthExceededError)
    assert isinstance(err, InvalidRequestError)


def test_overloaded_message_on_a_500_is_overloaded() -> None:
    assert type(error(500, {"error": "Model too busy, unable to get response"})) is OverloadedError


def test_long_and_html_bodies_are_collapsed_and_truncated() -> None:
    err = error(502, "<html>\n  <body>\n" + "x" * 5000 + "</body></html>")
    assert "\n" not in err.message
    assert len(err.message) < MAX_DETAIL_CHARS + 200
    assert "…" in err.message


def test_secrets_in_bodies_never_reach_the_message() -> None:
    body = json.dumps(
        {"error": "bad token hf_abcdefghijklmnop and sk-proj-abc123def456, Bearer hf_xyzxyzxyz"}
    )
    message = error(401, body).message
    assert "hf_abc" not in message
    assert "sk-proj" not in message
    assert "xyzxyz" not in message
    assert "[REDACTED]" in message
    assert redact_secrets("Authorization: Bearer abc.def") == "Authorization: [REDACTED]"


def test_retry_after_is_attached() -> None:
    assert error(429, headers={"Retry-After": "7"}).retry_after == 7.0
    assert error(503, headers={"retry-after-ms": "1500"}).retry_after == 1.5
    assert error(429).retry_after is None


NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"Retry-After": "3"}, 3.0),
        ({"retry-after": "2.5"}, 2.5),
        ({"RETRY-AFTER": " 10 "}, 10.0),
        ({"retry-after-ms": "250", "Retry-After": "9"}, 0.25),
        ({"retry-after-ms": "junk", "Retry-After": "9"}, 9.0),
        ({"Retry-After": "Thu, 01 Jan 2026 12:00:30 GMT"}, 30.0),
        ({"Retry-After": "Thu, 01 Jan 2026 11:00:00 GMT"}, 0.0),
        ({"Retry-After": "-5"}, None),
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": "nan"}, None),
        ({}, None),
    ],
)
def test_parse_retry_after(headers: dict[str, str], seconds: float | None) -> None:
    assert parse_retry_after(headers, now=NOW) == seconds


@pytest.mark.parametrize(
    ("payload", "cls"),
    [
        ({"error": "Model is overloaded", "error_type": "overloaded"}, OverloadedError),
        ({"error": {"message": "Overloaded", "type": "overloaded_error"}}, OverloadedError),
        ({"error": {"message": "busy", "code": 503}}, OverloadedError),
        ({"error": "Rate limit reached for requests"}, RateLimitError),
        ({"error": {"message": "slow down", "type": "rate_limit_exceeded"}}, RateLimitError),
        ({"error": {"message": "x", "code": "context_length_exceeded"}}, ContextLengthExceededError),
        ({"error": "Request failed during generation: CUDA out of memory"}, ProviderError),
        ({"error": {"message": "bad input", "code": 400}}, InvalidRequestError),
        ({"error": "Invalid credentials", "status": 401}, AuthenticationError),
        ({"error": {"message": "no permission", "code": 403}}, PermissionDeniedError),
        ({"error": "Model not found", "status_code": 404}, ModelNotFoundError),
        ({"error": "Bad gateway", "status": 502}, ProviderError),
        ({"error": {}}, ProviderError),
    ],
)
def test_errors_inside_a_stream(payload: dict[str, object], cls: type[LLMError]) -> None:
    err = error_from_stream_payload(payload, backend="huggingface", model="m", provider="nebius")
    assert type(err) is cls
    assert err.backend == "huggingface"
    assert err.model == "m"
    assert err.provider == "nebius"
    assert "mid-stream" in err.message


def test_stream_error_message_is_never_object_object() -> None:
    err = error_from_stream_payload({"error": {"message": "Input too long"}}, backend="huggingface")
    assert "Input too long" in err.message
    assert "[object" not in err.message
    assert "{'" not in err.message
