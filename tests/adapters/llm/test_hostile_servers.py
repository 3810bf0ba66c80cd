"""A hostile or broken model server can neither exhaust memory, crash a run nor pull a key out (issue 9).

Bounds are counts and sizes: bytes the server had to send before we stopped, peak memory
(tracemalloc) while a bomb arrives; never elapsed time.
"""

from __future__ import annotations

import ssl
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import httpx
import pytest

from adapters.llm._http import Clocks, HTTPEngine, build_client, shared_ssl_context
from adapters.llm._limits import StreamLimits
from adapters.llm._settings import is_loopback_host
from adapters.llm.anthropic import AnthropicLLM, AnthropicSettings
from adapters.llm.huggingface import HuggingFaceLLM, HuggingFaceSettings
from adapters.llm.ollama import OllamaLLM, OllamaSettings
from adapters.llm.openai import OpenAILLM, OpenAISettings
from adapters.llm.openai_compatible.llm import OpenAICompatibleLLM
from adapters.llm.testing.scripted_server import ScriptedResponse, ScriptedServer
from domain.errors import ConfigError, LLMError, StreamError, TruncatedStreamError
from domain.messages import ChatMessage
from domain.model_config import NormalizedModelConfig

pytestmark = pytest.mark.anyio

HELLO = [ChatMessage.user("hi")]
KiB = 1024
MiB = 1024 * KiB
SMALL = StreamLimits(
    max_line_bytes=256 * KiB, max_event_bytes=256 * KiB, max_body_bytes=1 * MiB, max_error_body_bytes=64 * KiB
)


class Served:
    """Counts the body bytes a scripted server actually handed over."""

    def __init__(self) -> None:
        self.bytes = 0

    def body(self, chunks: Iterable[bytes]) -> AsyncIterator[bytes]:
        async def generate() -> AsyncIterator[bytes]:
            for chunk in chunks:
                self.bytes += len(chunk)
                yield chunk

        return generate()


def transport_of(reply: Callable[[httpx.Request], httpx.Response]) -> httpx.MockTransport:
    return httpx.MockTransport(reply)


def make(
    backend: str, transport: httpx.AsyncBaseTransport, limits: StreamLimits = SMALL, **extra: Any
) -> Any:
    if backend == "huggingface":
        settings: Any = HuggingFaceSettings(
            api_key="hf_hostile_token_1234", max_retries=0, limits=limits, **extra
        )
        return HuggingFaceLLM(
            settings=settings, config=NormalizedModelConfig(model="m/m", timeout=30), transport=transport
        )
    if backend == "openai":
        settings = OpenAISettings(api_key="SECRETSECRET123xyz", max_retries=0, limits=limits, **extra)
        return OpenAILLM(
            settings=settings, config=NormalizedModelConfig(model="gpt-4o", timeout=30), transport=transport
        )
    if backend == "claude":
        settings = AnthropicSettings(api_key="SECRETSECRET123xyz", max_retries=0, limits=limits, **extra)
        return AnthropicLLM(
            settings=settings, config=NormalizedModelConfig(model="claude-x", timeout=30), transport=transport
        )
    settings = OllamaSettings(max_retries=0, limits=limits, **extra)
    return OllamaLLM(
        settings=settings, config=NormalizedModelConfig(model="llama3.1", timeout=30), transport=transport
    )


async def drain(llm: Any) -> list[Any]:
    try:
        return [event async for event in llm.stream(HELLO)]
    finally:
        await llm.aclose()


SSE = {"content-type": "text/event-stream"}
NDJSON = {"content-type": "application/x-ndjson"}


# --- memory: lines, events, bodies, error bodies --------------------------------------------------


@pytest.mark.parametrize("backend", ["huggingface", "claude", "ollama"])
async def test_a_line_without_an_end_stops_at_the_line_cap(backend: str) -> None:
    served = Served()
    first = b"data: " if backend != "ollama" else b'{"message":'
    chunks = (first + b"x" * (64 * KiB) if i == 0 else b"x" * (64 * KiB) for i in range(1024))  # 64 MiB
    headers = NDJSON if backend == "ollama" else SSE
    llm = make(
        backend,
        transport_of(lambda request: httpx.Response(200, headers=headers, content=served.body(chunks))),
    )
    with pytest.raises(StreamError) as caught:
        await drain(llm)
    assert not isinstance(caught.value, TruncatedStreamError)
    assert "CW_MAX_LINE_BYTES" in caught.value.message
    assert served.bytes <= SMALL.max_line_bytes + 2 * 64 * KiB  # stopped at the cap, not at 64 MiB


@pytest.mark.parametrize("backend", ["openai", "claude"])
async def test_an_event_of_endless_data_lines_stops_at_the_event_cap(backend: str) -> None:
    served = Served()
    chunks = (b"data: " + b"y" * 1000 + b"\n" for _ in range(64 * KiB))  # 64 MiB, no blank line ever
    llm = make(
        backend, transport_of(lambda request: httpx.Response(200, headers=SSE, content=served.body(chunks)))
    )
    with pytest.raises(StreamError) as caught:
        await drain(llm)
    assert "CW_MAX_EVENT_BYTES" in caught.value.message
    assert served.bytes <= SMALL.max_event_bytes + 4 * KiB


def gzip_bomb(piece: bytes, total: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = piece * (MiB // len(piece))
    out = [compressor.compress(block) for _ in range(total // len(block))]
    return b"".join([*out, compressor.flush()])


@pytest.fixture(scope="module")
def sse_bomb() -> bytes:
    return gzip_bomb(b": keep-alive\n", 96 * MiB)  # valid SSE comments, never an event


@pytest.fixture(scope="module")
def json_bomb() -> bytes:
    return gzip_bomb(b"          ", 96 * MiB)  # whitespace: a JSON body that never ends


async def test_a_gzip_bomb_on_a_stream_stops_at_the_body_cap_without_inflating_it(sse_bomb: bytes) -> None:
    assert len(sse_bomb) < MiB  # small on the wire
    headers = {**SSE, "content-encoding": "gzip"}
    llm = make(
        "openai",
        transport_of(lambda request: httpx.Response(200, headers=headers, content=Served().body([sse_bomb]))),
    )
    tracemalloc.start()
    try:
        with pytest.raises(StreamError) as caught:
            await drain(llm)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "CW_MAX_BODY_BYTES" in caught.value.message
    assert peak < 16 * MiB  # httpx's own decoder inflated a whole read at once: ~96 MiB here


async def test_a_gzip_bomb_as_a_whole_reply_stops_at_the_body_cap(json_bomb: bytes) -> None:
    headers = {"content-type": "application/json", "content-encoding": "gzip"}
    llm = make(
        "claude",
        transport_of(
            lambda request: httpx.Response(200, headers=headers, content=Served().body([json_bomb]))
        ),
    )
    tracemalloc.start()
    try:
        with pytest.raises(StreamError) as caught:
            await llm.complete(HELLO)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        await llm.aclose()
    assert "CW_MAX_BODY_BYTES" in caught.value.message
    assert peak < 16 * MiB


@pytest.mark.parametrize("backend", ["huggingface", "claude", "ollama"])
async def test_a_huge_error_body_is_a_malformed_reply_naming_its_cap(backend: str) -> None:
    served = Served()
    chunks = (
        b'{"error": "' + b"z" * (64 * KiB) if i == 0 else b"z" * (64 * KiB) for i in range(256)
    )  # 16 MiB
    llm = make(backend, transport_of(lambda request: httpx.Response(500, content=served.body(chunks))))
    with pytest.raises(StreamError) as caught:
        await drain(llm)
    assert caught.value.status == 500
    assert "CW_MAX_ERROR_BODY_BYTES" in caught.value.message
    assert served.bytes <= SMALL.max_error_body_bytes + 2 * 64 * KiB


def test_stream_limits_are_settings_with_defaults() -> None:
    assert StreamLimits.from_env({}) == StreamLimits()
    assert OpenAISettings.from_env({"CW_MAX_LINE_BYTES": "4096"}).limits.max_line_bytes == 4096
    assert HuggingFaceSettings.from_env({"CW_MAX_BODY_BYTES": "1_000_000"}).limits.max_body_bytes == 1_000_000
    with pytest.raises(ConfigError, match="CW_MAX_ERROR_BODY_BYTES"):
        AnthropicSettings.from_env({"CW_MAX_ERROR_BODY_BYTES": "lots"})
    with pytest.raises(ConfigError, match="CW_MAX_EVENT_BYTES"):
        OllamaSettings.from_env({"CW_MAX_EVENT_BYTES": "0"})


# --- crashes and wrong codes -------------------------------------------------------------------


DEEP = "[" * 5000 + "]" * 5000


@pytest.mark.parametrize("backend", ["huggingface", "claude", "ollama"])
async def test_json_nested_thousands_deep_in_a_stream_event_is_a_malformed_reply(backend: str) -> None:
    if backend == "ollama":
        body, headers = (DEEP + "\n").encode(), NDJSON
    else:
        body, headers = f"data: {DEEP}\n\n".encode(), SSE
    llm = make(backend, transport_of(lambda request: httpx.Response(200, headers=headers, content=body)))
    with pytest.raises(StreamError) as caught:  # was a RecursionError: "an unexpected bug", exit 1
        await drain(llm)
    assert "nested too deeply" in caught.value.message


@pytest.mark.parametrize(
    ("backend", "body"),
    [
        ("openai", b'data: {"choices":[{"index":0,"delta":{"content":"hel'),
        ("claude", b'event: message_start\ndata: {"type":"message_start","mess'),
    ],
)
async def test_a_stream_cut_in_the_middle_of_a_line_is_a_truncation(backend: str, body: bytes) -> None:
    llm = make(backend, transport_of(lambda request: httpx.Response(200, headers=SSE, content=body)))
    with pytest.raises(TruncatedStreamError):  # was a StreamError: "may not speak the format" (22)
        await drain(llm)


# --- secrets ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["openai", "claude"])
async def test_a_key_of_any_shape_echoed_by_the_server_never_reaches_the_error(backend: str) -> None:
    def reply(request: httpx.Request) -> httpx.Response:
        echoed = "Incorrect API key provided: SECRETSECRET123xyz. Also saw OTHERSECRET456abc."
        return httpx.Response(401, json={"error": {"message": echoed, "type": "invalid_request_error"}})

    llm = make(backend, transport_of(reply), secrets=("OTHERSECRET456abc",))
    with pytest.raises(LLMError) as caught:
        await drain(llm)
    for text in (caught.value.message, str(caught.value), repr(caught.value), repr(caught.value.args)):
        assert "SECRETSECRET123xyz" not in text
        assert "OTHERSECRET456abc" not in text


def test_every_configured_secret_is_kept_for_scrubbing_but_never_shown() -> None:
    environ = {"OPENAI_API_KEY": "SECRETSECRET123xyz", "ANTHROPIC_API_KEY": "OTHERSECRET456abc"}
    settings = OpenAISettings.from_env(environ)
    assert set(settings.secrets) >= {"SECRETSECRET123xyz", "OTHERSECRET456abc"}
    assert "SECRET" not in repr(settings)


@pytest.mark.parametrize(
    ("parse", "variable"),
    [
        (lambda url: HuggingFaceSettings(api_key="hf_x", base_url=url).validate(), "HUGGINGFACE_BASE_URL"),
        (lambda url: OpenAISettings(api_key="sk-x", base_url=url).validate(), "OPENAI_BASE_URL"),
        (lambda url: AnthropicSettings(api_key="sk-x", base_url=url).validate(), "ANTHROPIC_BASE_URL"),
        (lambda url: OllamaSettings(base_url=url), "OLLAMA_BASE_URL"),
        (lambda url: build_client(base_url=url, clocks=Clocks()), "base URL"),
    ],
)
def test_userinfo_in_a_base_url_is_refused_without_echoing_it(
    parse: Callable[[str], Any], variable: str
) -> None:
    with pytest.raises(ConfigError, match=variable) as caught:
        parse("https://alice:pa55word@api.example.com/v1")
    assert "pa55word" not in str(caught.value)


BAD_KEYS = ["hf_abc\nX-Injected: 1", "hf_abc def", "hf_clé_secrète", "hf_abc\x00"]


@pytest.mark.parametrize("key", BAD_KEYS)
@pytest.mark.parametrize(
    ("load", "variable"),
    [
        (HuggingFaceSettings.from_env, "HUGGINGFACE_API_KEY"),
        (OpenAISettings.from_env, "OPENAI_API_KEY"),
        (AnthropicSettings.from_env, "ANTHROPIC_API_KEY"),
    ],
)
def test_a_key_that_cannot_be_a_header_is_refused_when_settings_load(
    load: Callable[[dict[str, str]], Any], variable: str, key: str
) -> None:
    with pytest.raises(ConfigError, match=variable) as caught:
        load({variable: key})
    assert "abc" not in str(caught.value)
    assert "clé" not in str(caught.value)


async def test_a_header_httpx_refuses_is_a_config_error_never_quoted_nor_retried() -> None:
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    async with ScriptedServer() as server:
        server.enqueue("/v1/chat/completions", ScriptedResponse(status=500))
        llm = OpenAICompatibleLLM(
            name="openai",
            config=NormalizedModelConfig(model="m", timeout=30),
            base_url=server.url + "/v1",
            api_key="SECRET\nleaked",  # past the settings check: the engine must hold too
            sleep=sleep,
        )
        with pytest.raises(ConfigError) as caught:
            await llm.complete(HELLO)
        await llm.aclose()
        assert server.requests == []
    assert sleeps == []  # not taken for "unreachable" and retried
    error = caught.value
    chain = [error, error.__cause__, error.__context__]
    for text in [str(item) for item in chain] + [repr(item) for item in chain]:
        assert "SECRET" not in text
        assert "leaked" not in text


def test_a_non_ascii_key_past_the_settings_is_a_config_error_not_a_crash() -> None:
    with pytest.raises(ConfigError) as caught:
        build_client(
            base_url="https://api.example.com", clocks=Clocks(), headers={"x-api-key": "clé-secrète"}
        )
    assert "secrète" not in str(caught.value)


# --- small items -------------------------------------------------------------------------------


async def test_a_query_in_the_base_url_stays_after_the_path() -> None:
    seen: list[str] = []

    def reply(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json={"data": []})

    client = build_client(
        base_url="https://gw.example.com/v1?api-version=2024-10",
        clocks=Clocks(),
        transport=transport_of(reply),
    )
    async with client:
        await client.post("/chat/completions")
        await client.get("/models?limit=5")
    assert seen == [
        "https://gw.example.com/v1/chat/completions?api-version=2024-10",
        "https://gw.example.com/v1/models?limit=5&api-version=2024-10",
    ]


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("127.0.0.1", True),
        ("[::1]", True),
        ("evil.localhost", False),
        ("localhost.evil", False),
    ],
)
def test_only_literal_loopback_addresses_and_localhost_count_as_this_machine(
    host: str, loopback: bool
) -> None:
    assert is_loopback_host(host) is loopback
    check = OpenAISettings(api_key="sk-x", base_url=f"http://{host}:8000/v1").validate
    if loopback:
        check()
    else:
        with pytest.raises(ConfigError, match="plain http"):
            check()


async def test_the_ssl_context_is_built_once_per_process_and_never_for_plain_http(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loads: list[object] = []
    real = ssl.SSLContext.load_verify_locations

    def counting(self: ssl.SSLContext, *args: Any, **kwargs: Any) -> None:
        loads.append(args)
        real(self, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", counting)
    shared_ssl_context.cache_clear()
    async with ScriptedServer() as server:
        for _ in range(10):
            server.enqueue("/v1/models", ScriptedResponse.json({"data": []}))
            client = build_client(base_url=server.url + "/v1", clocks=Clocks())
            async with client:
                assert (await client.get("/models")).status_code == 200
    assert loads == []  # plain http: no context at all (each client built one, ~33 ms each)
    for _ in range(5):
        client = build_client(base_url="https://127.0.0.1:9/v1", clocks=Clocks(connect=5))
        async with client:
            with pytest.raises(httpx.HTTPError):
                await client.get("/models")
    assert len(loads) == 1
    shared_ssl_context.cache_clear()


async def test_engine_errors_carry_no_configured_secret_even_from_status_hooks() -> None:
    def reply(request: httpx.Request) -> httpx.Response:
        return httpx.Response(418, text="I saw key my-odd-key-0000 in your request")

    engine = HTTPEngine(
        backend="x",
        client=build_client(
            base_url="https://api.example.com", clocks=Clocks(), transport=transport_of(reply)
        ),
        secrets=("my-odd-key-0000",),
    )
    with pytest.raises(LLMError) as caught:
        await engine.request("GET", "/")
    await engine.aclose()
    assert "my-odd-key-0000" not in repr(caught.value)
    assert "***" in caught.value.message


@pytest.mark.parametrize(
    ("backend", "variable"), [("openai", "OPENAI_API_KEY"), ("claude", "ANTHROPIC_API_KEY")]
)
def test_a_run_ended_by_an_echoed_key_carries_no_key(backend: str, variable: str) -> None:
    from dependency_injector import providers

    from adapters.container import build_container
    from domain.events import RunStatus
    from domain.model_config import Agent

    def reply(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            401, json={"error": {"message": "Incorrect API key provided: SECRETSECRET123xyz"}}
        )

    environ = {variable: "SECRETSECRET123xyz", "OPENAI_MAX_RETRIES": "0", "ANTHROPIC_MAX_RETRIES": "0"}
    container = build_container("production", environ=environ)
    container.http_transport.override(providers.Object(transport_of(reply)))
    ended = container.run_agent().run_sync(Agent(name="a", backend=backend), "hi")
    assert ended.status is RunStatus.FAILED
    for text in (ended.error.message, str(ended.error), repr(ended.error), repr(ended)):  # type: ignore[union-attr]
        assert "SECRETSECRET123xyz" not in text
