"""The Hugging Face backend: settings, routing, headers, provider metadata, errors, models."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import attrs
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.llm._http import Clocks
from adapters.llm.fake import HTTPFailure, ScriptedTransport, script_handler
from adapters.llm.huggingface import CURATED_MODELS, HuggingFaceLLM, HuggingFaceSettings, route_model
from adapters.llm.openai_compatible import wire
from adapters.llm.testing.scripted_server import ScriptedResponse, ScriptedServer
from adapters.serialization import from_json_dict, to_json_dict
from domain.errors import (
    AuthenticationError,
    ConfigError,
    InvalidRequestError,
    LLMTimeoutError,
    ModelNotFoundError,
    OverloadedError,
    PermissionDeniedError,
    ProviderError,
    RateLimitError,
    StreamError,
    TruncatedStreamError,
)
from domain.events import ResponseCompleted, TextDelta
from domain.messages import AIResponse, ChatMessage, Usage
from domain.model_config import NormalizedModelConfig
from tests.strategies import wire_ai_responses

pytestmark = pytest.mark.anyio

KEY = "hf_SuperSecretToken1234567890"
HELLO = [ChatMessage.user("Hello")]
REPLY = AIResponse(
    content="Hi there, from the router!", usage=Usage(prompt_tokens=3, completion_tokens=6, total_tokens=9)
)
MODEL = "meta-llama/Llama-3.1-8B-Instruct"


def settings(**overrides: Any) -> HuggingFaceSettings:
    values: dict[str, Any] = {"api_key": KEY, "max_retries": 0}
    values.update(overrides)
    return HuggingFaceSettings(**values)


def hf(
    transport: httpx.AsyncBaseTransport | None,
    *,
    config: NormalizedModelConfig | None = None,
    **overrides: Any,
) -> HuggingFaceLLM:
    return HuggingFaceLLM(settings=settings(**overrides), config=config, transport=transport)


def router(
    handler: Callable[[httpx.Request], httpx.Response],
) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    return httpx.MockTransport(record), seen


def sse(
    response: AIResponse, *, provider: str | None = "together", quirks: wire.StreamQuirks | None = None
) -> httpx.Response:
    headers = {"content-type": "text/event-stream"}
    if provider:
        headers["x-inference-provider"] = provider
    return httpx.Response(200, headers=headers, content=wire.render_stream_bytes(response, quirks=quirks))


# --- settings ----------------------------------------------------------------------------------


def test_settings_from_the_environment() -> None:
    loaded = HuggingFaceSettings.from_env(
        {
            "HUGGINGFACE_API_KEY": KEY,
            "HUGGINGFACE_MODEL": "Qwen/Qwen2.5-72B-Instruct",
            "HUGGINGFACE_BASE_URL": "https://proxy.example.com/v1",
            "HUGGINGFACE_TIMEOUT": "45.5",
            "HUGGINGFACE_PROVIDER": "cerebras",
            "HUGGINGFACE_MAX_RETRIES": "4",
            "HUGGINGFACE_BILL_TO": "my-org",
        }
    )
    assert loaded == HuggingFaceSettings(
        api_key=KEY,
        model="Qwen/Qwen2.5-72B-Instruct",
        base_url="https://proxy.example.com/v1",
        timeout=45.5,
        provider="cerebras",
        max_retries=4,
        bill_to="my-org",
    )


def test_settings_defaults_and_empty_variables() -> None:
    loaded = HuggingFaceSettings.from_env({"HUGGINGFACE_PROVIDER": "  ", "HUGGINGFACE_MODEL": ""})
    assert loaded.model == MODEL
    assert loaded.base_url == "https://router.huggingface.co/v1"
    assert loaded.timeout == 120
    assert loaded.provider is None
    assert loaded.api_key is None


@pytest.mark.parametrize(
    ("name", "value"), [("HUGGINGFACE_TIMEOUT", "soon"), ("HUGGINGFACE_MAX_RETRIES", "2.5")]
)
def test_settings_refuse_numbers_that_are_not(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        HuggingFaceSettings.from_env({name: value})


def test_a_missing_key_says_where_to_create_one_and_which_permission() -> None:
    with pytest.raises(ConfigError) as caught:
        HuggingFaceSettings().validate()
    message = str(caught.value)
    assert "HUGGINGFACE_API_KEY" in message
    assert "https://huggingface.co/settings/tokens" in message
    assert "Make calls to Inference Providers" in message


def test_a_key_that_is_not_an_hf_token_is_refused_without_being_echoed() -> None:
    with pytest.raises(ConfigError, match="hf_") as caught:
        settings(api_key="sk-not-a-hugging-face-key").validate()
    assert "sk-not-a-hugging-face-key" not in str(caught.value)


@pytest.mark.parametrize(
    ("base_url", "fragment"),
    [
        ("ftp://router.huggingface.co/v1", "http(s)"),
        ("router.huggingface.co/v1", "http(s)"),
        ("http://router.huggingface.co/v1", "plain http"),
        ("http://192.168.1.20:8080/v1", "plain http"),
    ],
)
def test_bad_base_urls_are_refused_before_any_request(base_url: str, fragment: str) -> None:
    transport = ScriptedTransport([REPLY])
    with pytest.raises(ConfigError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        hf(transport, base_url=base_url)
    assert transport.calls == []


@pytest.mark.parametrize("base_url", ["http://127.0.0.1:8080/v1", "http://localhost/v1", "http://[::1]:9/v1"])
def test_plain_http_is_fine_on_loopback(base_url: str) -> None:
    settings(base_url=base_url).validate()


@pytest.mark.parametrize("timeout", [0.0, -1.0, float("nan"), float("inf")])
def test_a_timeout_that_is_not_a_positive_number_is_refused(timeout: float) -> None:
    with pytest.raises(ConfigError, match="HUGGINGFACE_TIMEOUT"):
        settings(timeout=timeout).validate()
    with pytest.raises(ConfigError, match="HUGGINGFACE_TIMEOUT"):
        HuggingFaceSettings.from_env(
            {"HUGGINGFACE_API_KEY": KEY, "HUGGINGFACE_TIMEOUT": str(timeout)}
        ).validate()


def test_an_invalid_provider_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="HUGGINGFACE_PROVIDER"):
        settings(provider="not a provider!").validate()


def test_the_key_never_shows_in_reprs() -> None:
    configured = settings(bill_to="org")
    llm = HuggingFaceLLM(settings=configured, transport=ScriptedTransport())
    for text in (repr(configured), repr(llm), str(configured), repr(llm.settings), repr(vars(llm))):
        assert KEY not in text
    assert "hf_***" in repr(configured)


def test_a_password_in_the_base_url_is_refused_and_never_shows() -> None:
    proxied = settings(base_url="https://bob:s3cretpw@proxy.example.com/v1")
    assert "s3cretpw" not in repr(proxied)
    assert "bob:***@proxy.example.com" in repr(proxied)
    # httpx would send user:pass as Basic auth instead of the token, and echo it (issue 9).
    with pytest.raises(ConfigError, match="HUGGINGFACE_BASE_URL") as refused:
        HuggingFaceLLM(settings=proxied, transport=ScriptedTransport())
    assert "s3cretpw" not in str(refused.value)
    for bad in ("ftp://bob:s3cretpw@proxy.example.com/v1", "http://bob:s3cretpw@example.com/v1"):
        with pytest.raises(ConfigError) as caught:
            settings(base_url=bad).validate()
        assert "s3cretpw" not in str(caught.value)


def test_a_malformed_base_url_is_a_config_error_not_a_crash() -> None:
    with pytest.raises(ConfigError, match="HUGGINGFACE_BASE_URL"):
        settings(base_url="http://[::1").validate()


# --- routing and headers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "provider", "sent"),
    [
        (MODEL, None, MODEL),
        (MODEL, "fastest", f"{MODEL}:fastest"),
        (MODEL, "cheapest", f"{MODEL}:cheapest"),
        (MODEL, ":together", f"{MODEL}:together"),
        (f"{MODEL}:cerebras", "together", f"{MODEL}:cerebras"),  # an explicit suffix wins
    ],
)
def test_route_model(model: str, provider: str | None, sent: str) -> None:
    assert route_model(model, provider) == sent


async def test_requests_carry_auth_bill_to_and_the_routed_model() -> None:
    transport = ScriptedTransport([REPLY, REPLY])
    llm = hf(transport, provider="fastest", bill_to="acme-org")
    await llm.complete(HELLO)
    await llm.complete(HELLO, config=NormalizedModelConfig(model=MODEL, provider="sambanova"))
    first, _second = transport.calls
    assert first.headers["authorization"] == f"Bearer {KEY}"
    assert first.headers["x-hf-bill-to"] == "acme-org"
    assert first.path == "/v1/chat/completions"
    assert transport.requests[0]["model"] == f"{MODEL}:fastest"
    assert transport.requests[1]["model"] == f"{MODEL}:sambanova"  # the agent's config wins
    await llm.aclose()


async def test_no_bill_to_header_unless_asked() -> None:
    transport = ScriptedTransport([REPLY])
    llm = hf(transport)
    await llm.complete(HELLO)
    assert "x-hf-bill-to" not in transport.calls[0].headers
    assert transport.requests[0]["model"] == MODEL
    await llm.aclose()


async def test_the_serving_provider_is_recorded_in_both_modes() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if json.loads(request.content)["stream"]:
            return sse(REPLY, provider="cerebras")
        return httpx.Response(
            200, json=wire.render_completion(REPLY), headers={"x-inference-provider": "nebius"}
        )

    transport, _ = router(handler)
    llm = hf(transport, provider="fastest")
    assert (await llm.complete(HELLO)).metadata["provider"] == "nebius"
    events = [event async for event in llm.stream(HELLO)]
    assert isinstance(events[-1], ResponseCompleted)
    assert events[-1].response.metadata["provider"] == "cerebras"
    await llm.aclose()


# --- errors ------------------------------------------------------------------------------------


async def failure(status: int, body: Any, *, headers: dict[str, str] | None = None, **overrides: Any) -> Any:
    transport = ScriptedTransport([HTTPFailure(status=status, body=body, headers=headers or {})])
    llm = hf(transport, **overrides)
    try:
        await llm.complete(HELLO)
    except Exception as error:  # returned for the test to inspect
        return error
    finally:
        await llm.aclose()
    raise AssertionError("the call should have failed")


async def test_401_says_to_check_the_key_and_never_shows_it() -> None:
    error = await failure(401, {"error": f"Invalid credentials in Authorization header: Bearer {KEY}"})
    assert isinstance(error, AuthenticationError)
    assert "HUGGINGFACE_API_KEY" in str(error)
    assert KEY not in str(error)
    assert KEY not in repr(error)


async def test_403_names_the_permission_the_token_needs() -> None:
    error = await failure(403, {"error": "This authentication method does not have sufficient permissions"})
    assert isinstance(error, PermissionDeniedError)
    assert "Make calls to Inference Providers" in str(error)
    assert "sufficient permissions" in str(error)


async def test_404_names_the_model_and_the_provider() -> None:
    body = {"error": f"Model {MODEL} is not available for provider nebius"}
    error = await failure(404, body, headers={"x-inference-provider": "nebius"}, provider="nebius")
    assert isinstance(error, ModelNotFoundError)
    assert f"{MODEL}:nebius" in str(error)
    assert "is not available for provider nebius" in str(error)
    assert error.provider == "nebius"
    assert error.model == f"{MODEL}:nebius"


@pytest.mark.parametrize("status", [400, 422])
async def test_validation_errors_carry_the_details(status: int) -> None:
    error = await failure(status, {"error": {"message": "temperature must be <= 2", "type": "validation"}})
    assert isinstance(error, InvalidRequestError)
    assert "temperature must be <= 2" in str(error)


async def test_429_carries_retry_after() -> None:
    error = await failure(429, {"error": "Rate limit reached"}, headers={"retry-after": "12"})
    assert isinstance(error, RateLimitError)
    assert error.retry_after == 12
    assert "Rate limit reached" in str(error)


@pytest.mark.parametrize(
    ("status", "error_type"), [(500, ProviderError), (502, ProviderError), (503, OverloadedError)]
)
async def test_5xx_suggests_another_provider(status: int, error_type: type[ProviderError]) -> None:
    error = await failure(status, "upstream exploded", headers={"x-inference-provider": "together"})
    assert isinstance(error, error_type)
    assert ":fastest" in str(error)
    assert error.provider == "together"


async def test_5xx_is_retried_per_max_retries() -> None:
    transport = ScriptedTransport([HTTPFailure(status=503, body={"error": "busy"}), REPLY])
    delays: list[float] = []

    async def no_wait(delay: float) -> None:
        delays.append(delay)

    llm = HuggingFaceLLM(settings=settings(max_retries=1), transport=transport, sleep=no_wait)
    assert (await llm.complete(HELLO)).content == REPLY.content
    assert len(transport.calls) == 2
    assert len(delays) == 1
    await llm.aclose()


# --- streams -----------------------------------------------------------------------------------


async def test_rejected_stream_options_are_dropped_once_and_remembered() -> None:
    transport = ScriptedTransport(
        [
            HTTPFailure(status=400, body={"error": "Unrecognized request argument: stream_options"}),
            REPLY,
            REPLY,
        ]
    )
    llm = hf(transport)
    first = [event async for event in llm.stream(HELLO)]
    second = [event async for event in llm.stream(HELLO)]
    assert isinstance(first[-1], ResponseCompleted)
    assert isinstance(second[-1], ResponseCompleted)
    sent = transport.requests
    assert sent[0]["stream_options"] == {"include_usage": True}
    assert "stream_options" not in sent[1]
    assert "stream_options" not in sent[2]
    await llm.aclose()


async def test_other_400s_are_not_retried_without_stream_options() -> None:
    transport = ScriptedTransport([HTTPFailure(status=400, body={"error": "messages must not be empty"})])
    llm = hf(transport)
    with pytest.raises(InvalidRequestError):
        _ = [event async for event in llm.stream(HELLO)]
    assert len(transport.calls) == 1
    await llm.aclose()


async def test_an_error_line_in_a_200_stream_is_a_typed_error_with_the_provider() -> None:
    body = (
        b'data: {"choices":[{"index":0,"delta":{"content":"Hel"}}]}\n\n'
        b'data: {"error":"Model too busy, unable to get response in less than 60 second(s)",'
        b'"error_type":"overloaded"}\n\n'
    )
    transport, _ = router(
        lambda _: httpx.Response(200, headers={"x-inference-provider": "hf-inference"}, content=body)
    )
    llm = hf(transport)
    with pytest.raises(OverloadedError) as caught:
        _ = [event async for event in llm.stream(HELLO)]
    assert caught.value.provider == "hf-inference"
    assert caught.value.partial is not None
    assert caught.value.partial.content == "Hel"
    assert "too busy" in str(caught.value)
    await llm.aclose()


@pytest.mark.parametrize(
    ("payload", "error_type", "advice"),
    [
        ({"error": "Invalid credentials", "status": 401}, AuthenticationError, "HUGGINGFACE_API_KEY"),
        ({"error": {"message": "forbidden", "code": 403}}, PermissionDeniedError, "Make calls to Inference"),
        ({"error": f"Model {MODEL} does not exist", "status": 404}, ModelNotFoundError, "was not found"),
        ({"error": {"message": "bad temperature", "status": 422}}, InvalidRequestError, "parameters"),
        ({"error": "upstream failed", "status": 502}, ProviderError, ":fastest"),
    ],
)
async def test_an_error_line_in_a_200_stream_is_the_same_kind_of_error_as_its_status(
    payload: dict[str, Any], error_type: type[Exception], advice: str
) -> None:
    def reply(request: httpx.Request) -> httpx.Response:
        if json.loads(request.content)["stream"]:
            return httpx.Response(200, content=f"data: {json.dumps(payload)}\n\n".encode())
        return httpx.Response(200, json=payload)

    transport, _ = router(reply)
    llm = hf(transport)
    with pytest.raises(error_type) as caught:
        _ = [event async for event in llm.stream(HELLO)]
    assert type(caught.value) is error_type
    assert advice in str(caught.value)
    with pytest.raises(error_type):  # a 200 non-streaming body with an error object too
        await llm.complete(HELLO)
    await llm.aclose()


async def test_a_json_body_answering_a_streamed_request_is_read_whole() -> None:
    body = {
        "id": "r1",
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "<think>hm</think>Hi"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
    }
    transport, _ = router(
        lambda _: httpx.Response(200, json=body, headers={"x-inference-provider": "nebius"})
    )
    llm = hf(transport)
    events = [event async for event in llm.stream(HELLO)]
    assert isinstance(events[-1], ResponseCompleted)
    reply = events[-1].response
    assert (reply.content, reply.thinking, reply.metadata["provider"]) == ("Hi", "hm", "nebius")
    assert reply.usage == Usage(prompt_tokens=1, completion_tokens=2, total_tokens=3)
    assert TextDelta(text="Hi") in events
    await llm.aclose()


async def test_a_json_error_body_under_a_200_stream_is_its_typed_error() -> None:
    transport, _ = router(lambda _: httpx.Response(200, json={"error": "Model not found", "status": 404}))
    llm = hf(transport)
    with pytest.raises(ModelNotFoundError, match="Model not found"):
        _ = [event async for event in llm.stream(HELLO)]
    transport, _ = router(lambda _: httpx.Response(200, json={"unexpected": True}))
    with pytest.raises(StreamError, match="not a completion"):
        _ = [event async for event in hf(transport).stream(HELLO)]
    await llm.aclose()


async def test_a_data_line_that_is_not_json_is_a_stream_error() -> None:
    transport, _ = router(lambda _: httpx.Response(200, content=b"data: <html>oops</html>\n\n"))
    llm = hf(transport)
    with pytest.raises(StreamError, match="not JSON"):
        _ = [event async for event in llm.stream(HELLO)]
    await llm.aclose()


async def test_padded_data_keepalives_and_comments_are_tolerated() -> None:
    body = (
        b": keep-alive comment\n\n"
        b"data:\n\n"
        b'data:   {"choices":[{"index":0,"delta":{"content":"Hi"}}]}  \n\n'
        b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
        b"data:  [DONE] \n\n"
    )
    transport, _ = router(lambda _: httpx.Response(200, content=body))
    llm = hf(transport)
    events = [event async for event in llm.stream(HELLO)]
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Hi"]
    assert isinstance(events[-1], ResponseCompleted)
    await llm.aclose()


async def test_json_followed_by_garbage_is_a_stream_error() -> None:
    body = b'data: {"choices":[{"index":0,"delta":{"content":"Hi"}}]} trailing\n\n'
    transport, _ = router(lambda _: httpx.Response(200, content=body))
    llm = hf(transport)
    with pytest.raises(StreamError, match="not JSON"):
        _ = [event async for event in llm.stream(HELLO)]
    await llm.aclose()


async def test_done_without_a_space_and_crlf_lines_are_understood() -> None:
    body = wire.render_stream_bytes(REPLY, newline="\r\n").replace(b"data: [DONE]", b"data:[DONE]")
    transport, _ = router(lambda _: httpx.Response(200, content=body))
    llm = hf(transport)
    events = [event async for event in llm.stream(HELLO)]
    assert isinstance(events[-1], ResponseCompleted)
    assert events[-1].response.content == REPLY.content
    await llm.aclose()


async def test_a_finish_reason_without_done_is_a_complete_reply() -> None:
    body = wire.render_stream_bytes(REPLY, quirks=wire.StreamQuirks(done=False))
    transport, _ = router(lambda _: httpx.Response(200, content=body))
    llm = hf(transport)
    events = [event async for event in llm.stream(HELLO)]
    assert isinstance(events[-1], ResponseCompleted)
    assert events[-1].response.usage == REPLY.usage
    await llm.aclose()


async def collect_into(llm: HuggingFaceLLM, into: list[Any]) -> None:
    async for event in llm.stream(HELLO):
        into.append(event)


# --- over real loopback HTTP -------------------------------------------------------------------


async def test_a_streamed_reply_over_loopback_http() -> None:
    async with ScriptedServer() as server:
        server.handle("/v1/chat/completions", script_handler([REPLY]))
        llm = hf(None, base_url=f"{server.url}/v1")
        events = [event async for event in llm.stream(HELLO)]
        await llm.aclose()
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == REPLY.content
    assert server.requests[0].headers["authorization"] == f"Bearer {KEY}"


async def test_closing_a_loopback_stream_closes_the_connection() -> None:
    events = [event + b"\n\n" for event in wire.render_stream_bytes(REPLY).split(b"\n\n")]
    stalled = ScriptedResponse(chunks=events[:3], stall_after=3)
    async with ScriptedServer() as server:
        server.enqueue("/v1/chat/completions", stalled)
        llm = hf(None, base_url=f"{server.url}/v1")
        stream = llm.stream(HELLO)
        async for _event in stream:
            break
        await stream.aclose()  # type: ignore[attr-defined]
        await asyncio.wait_for(server.requests[0].disconnected.wait(), 2)
        await llm.aclose()


async def test_a_dropped_connection_is_truncation_naming_the_provider() -> None:
    events = [event + b"\n\n" for event in wire.render_stream_bytes(REPLY).split(b"\n\n") if event]
    dropped = ScriptedResponse(headers={"x-inference-provider": "fireworks-ai"}, chunks=events, drop_after=3)
    async with ScriptedServer() as server:
        server.enqueue("/v1/chat/completions", dropped)
        llm = hf(None, base_url=f"{server.url}/v1")
        received: list[Any] = []
        with pytest.raises(TruncatedStreamError) as caught:
            await collect_into(llm, received)
        await llm.aclose()
    shown = "".join(e.text for e in received if isinstance(e, TextDelta))
    assert shown
    assert caught.value.partial is not None
    assert caught.value.partial.content == shown
    assert caught.value.provider == "fireworks-ai"
    assert len(server.requests) == 1


@pytest.mark.parametrize("end", ["dropped", "stalled"])
async def test_a_connection_lost_after_the_finish_reason_keeps_the_whole_reply(end: str) -> None:
    events = [event + b"\n\n" for event in wire.render_stream_bytes(REPLY).split(b"\n\n") if event]
    finish = next(n for n, event in enumerate(events) if b'"finish_reason":"stop"' in event)
    cut = {"drop_after": finish + 1} if end == "dropped" else {"stall_after": finish + 1}
    reply = ScriptedResponse(headers={"x-inference-provider": "groq"}, chunks=events, **cut)
    async with ScriptedServer() as server:
        server.enqueue("/v1/chat/completions", reply)
        llm = HuggingFaceLLM(
            settings=settings(base_url=f"{server.url}/v1"), clocks=Clocks(connect=5, idle=0.3, total=10)
        )
        received: list[Any] = []
        await collect_into(llm, received)  # no error: the model had said it finished
        await llm.aclose()
    assert isinstance(received[-1], ResponseCompleted)
    assert received[-1].response.content == REPLY.content
    assert received[-1].response.usage.estimated  # the usage chunk never came
    assert len(server.requests) == 1


async def test_the_timeout_setting_is_the_total_deadline() -> None:
    slow = ScriptedResponse(chunks=[b'data: {"choices":[{"delta":{"content":"x"}}]}\n\n'] * 40, delay=0.05)
    async with ScriptedServer() as server:
        server.enqueue("/v1/chat/completions", slow)
        llm = hf(None, base_url=f"{server.url}/v1", timeout=0.3)
        with pytest.raises(LLMTimeoutError) as caught:
            _ = [event async for event in llm.stream(HELLO)]
        await llm.aclose()
    assert caught.value.kind == "total"
    assert caught.value.partial is not None
    assert caught.value.partial.content.startswith("x")


# --- models and capabilities -------------------------------------------------------------------

ROUTER_MODELS = {
    "object": "list",
    "data": [
        {
            "id": "openai/gpt-oss-120b",
            "object": "model",
            "created": 1754000000,
            "owned_by": "openai",
            "providers": [
                {
                    "provider": "cerebras",
                    "status": "live",
                    "context_length": 131072,
                    "pricing": {"input": 0.25, "output": 0.69},
                    "supports_tools": True,
                    "supports_structured_output": True,
                },
                {
                    "provider": "novita",
                    "status": "staging",
                    "context_length": 200000,
                    "supports_tools": False,
                },
            ],
        },
        {"id": "google/gemma-2-2b-it", "owned_by": "google", "providers": []},
    ],
}


async def test_list_models_reads_the_router_list() -> None:
    transport, seen = router(lambda _: httpx.Response(200, json=ROUTER_MODELS))
    llm = hf(transport)
    models = await llm.list_models(detailed=True)
    assert seen[0].url.path == "/v1/models"
    gpt = models[0]
    assert gpt.name == "openai/gpt-oss-120b"
    assert gpt.owned_by == "openai"
    assert gpt.context_length == 131072  # the live provider's, not the staging one's
    assert "tools" in gpt.capabilities
    assert "structured_output" in gpt.capabilities
    assert gpt.details["source"] == "router"
    assert gpt.details["providers_available"] == ["cerebras"]
    assert gpt.details["providers"][0]["pricing"] == {"input": 0.25, "output": 0.69}
    assert models[1].context_length is None
    # per-provider facts do not need detailed=True: the router sends them in the one list
    brief = (await llm.list_models())[0]
    assert brief.details["providers"][1] == {
        "provider": "novita",
        "status": "staging",
        "context_length": 200000,
        "supports_tools": False,
    }
    await llm.aclose()


@pytest.mark.parametrize(
    "answer",
    [
        lambda _: httpx.Response(500, json={"error": "down"}),
        lambda _: httpx.Response(200, text="not json"),
        lambda request: (_ for _ in ()).throw(httpx.ConnectError("refused", request=request)),
    ],
    ids=["5xx", "not-json", "unreachable"],
)
async def test_list_models_falls_back_to_the_curated_list(
    answer: Callable[[httpx.Request], httpx.Response],
) -> None:
    transport, _ = router(answer)
    llm = hf(transport)
    models = await llm.list_models()
    assert models == CURATED_MODELS
    assert models[0].name == MODEL
    assert all(model.details["source"] == "curated" for model in models)
    await llm.aclose()


def test_capabilities_and_limits() -> None:
    llm = hf(ScriptedTransport())
    capabilities = llm.capabilities()
    assert capabilities.streaming
    assert capabilities.function_calling
    assert capabilities.vision
    assert not capabilities.model_management
    assert llm.context_limit() == 131072  # from the model-limits table
    routed = llm.with_config(NormalizedModelConfig(model=f"{MODEL}:cerebras"))
    assert routed.context_limit() == 131072  # the suffix does not hide the model
    assert llm.with_config(NormalizedModelConfig(model="someone/unknown")).context_limit() == 4096
    assert llm.count_tokens("abcdefgh") == 2


# --- properties --------------------------------------------------------------------------------


@given(reply=wire_ai_responses(), data=st.data())
def test_any_split_of_the_stream_into_reads_gives_the_same_reply(
    reply: AIResponse, data: st.DataObject
) -> None:
    body = wire.render_stream_bytes(reply, newline=data.draw(st.sampled_from(["\n", "\r\n", "\r"])))
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(body) - 1)), max_size=12)))
    pieces = [
        body[start:end] for start, end in zip([0, *cuts], [*cuts, len(body)], strict=True) if body[start:end]
    ]

    async def content() -> AsyncIterator[bytes]:
        for piece in pieces:
            yield piece

    transport, _ = router(
        lambda _: httpx.Response(200, headers={"x-inference-provider": "groq"}, content=content())
    )

    async def run() -> AIResponse:
        llm = hf(transport)
        try:
            events = [event async for event in llm.stream(HELLO)]
        finally:
            await llm.aclose()
        assert isinstance(events[-1], ResponseCompleted)
        return events[-1].response

    streamed = asyncio.run(run())
    expected = attrs.evolve(
        reply, model=reply.model or MODEL, metadata={**reply.metadata, "provider": "groq"}
    )
    assert streamed == expected


_quirks = st.builds(
    wire.StreamQuirks,
    index=st.sampled_from(["present", "null"]),
    think_tags=st.just(False),  # thinking in tags has limits of its own, covered in test_openai_wire
    reasoning_field=st.sampled_from(["reasoning_content", "reasoning"]),
)


@given(reply=wire_ai_responses(), quirks=_quirks)
def test_a_reply_kept_through_the_converter_and_sent_over_the_router_wire_comes_back_equal(
    reply: AIResponse, quirks: wire.StreamQuirks
) -> None:
    # domain -> JSON (cattrs) -> domain -> router wire (body and stream) -> domain
    stored = from_json_dict(AIResponse, json.loads(json.dumps(to_json_dict(reply))))
    assert stored == reply
    body = json.loads(json.dumps(wire.render_completion(stored)))
    assert wire.parse_completion(body) == reply
    state = wire.StreamState()
    for chunk in wire.render_stream(stored, quirks=quirks):
        state.feed(json.loads(json.dumps(chunk)))
    assert state.done
    assert state.finish() == reply
