"""OllamaLLM against a loopback server speaking Ollama's API (and httpx.MockTransport).

The loopback server plays realistic NDJSON, split into network writes at awkward places,
so the adapter runs exactly as against a real ``ollama serve``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest

from adapters.llm._ndjson import render_ndjson
from adapters.llm.ollama import OllamaLLM, OllamaSettings, wire
from adapters.llm.ollama.llm import MAX_IMAGE_BYTES
from adapters.llm.testing.scripted_server import RecordedRequest, ScriptedResponse, ScriptedServer
from domain.errors import (
    ConfigError,
    InvalidRequestError,
    LLMTimeoutError,
    ModelNotFoundError,
    OverloadedError,
    ProviderError,
    TruncatedStreamError,
    UnreachableError,
)
from domain.events import ResponseCompleted, TextDelta, ThinkingDelta, ToolCallStarted
from domain.messages import AIResponse, ChatMessage, FinishReason, ImageInput, ToolCall, ToolDefinition
from domain.model_config import ModelPullProgress, NormalizedModelConfig

pytestmark = pytest.mark.anyio

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 24
HELLO = [ChatMessage.user("Say hello")]
CONFIG = NormalizedModelConfig(model="llama3.1", max_tokens=256, temperature=0.2)
WEATHER = ToolDefinition(
    name="get_weather", parameters={"type": "object", "properties": {"city": {"type": "string"}}}
)


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def reply(content: str = "Hello, wörld! 👋", **kwargs: Any) -> AIResponse:
    return AIResponse(content=content, model="llama3.1", **kwargs)


def ndjson(objects: list[dict[str, Any]], *, every: int = 7, **kwargs: Any) -> ScriptedResponse:
    """NDJSON split into network writes of ``every`` bytes (inside lines and characters)."""
    data = render_ndjson(objects)
    chunks = [data[i : i + every] for i in range(0, len(data), every)]
    return ScriptedResponse(headers={"content-type": "application/x-ndjson"}, chunks=chunks, **kwargs)


def chat_stream(response: AIResponse, **kwargs: Any) -> ScriptedResponse:
    return ndjson(wire.render_chat_stream(response, chunk_chars=3), **kwargs)


def error(status: int, text: str) -> ScriptedResponse:
    return ScriptedResponse.json({"error": text}, status=status)


def adapter(
    url: str, sleeps: Sleeps | None = None, config: NormalizedModelConfig = CONFIG, **settings: Any
) -> OllamaLLM:
    return OllamaLLM(
        config=config,
        settings=OllamaSettings(base_url=url, **settings),
        sleep=sleeps or Sleeps(),
        new_id=counter_ids(),
    )


def counter_ids() -> Callable[[], str]:
    count = iter(range(1, 10_000))
    return lambda: f"call_{next(count)}"


async def collect(llm: OllamaLLM, messages: list[ChatMessage] = HELLO, **kwargs: Any) -> list[Any]:
    return [event async for event in llm.stream(messages, **kwargs)]


# --------------------------------------------------------------------------- chat


async def test_streamed_text_arrives_as_deltas_and_ends_with_the_whole_reply() -> None:
    async with ScriptedServer() as server:
        server.enqueue(
            "/api/chat", chat_stream(reply(metadata={"eval_duration": 2_000_000_000}, usage=_usage(10, 20)))
        )
        llm = adapter(server.url, keep_alive="10m")
        events = await collect(llm)
        await llm.aclose()
    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    assert "".join(deltas) == "Hello, wörld! 👋"
    assert len(deltas) > 1
    final = events[-1]
    assert isinstance(final, ResponseCompleted)
    assert final.response.content == "Hello, wörld! 👋"
    assert final.response.usage.total_tokens == 30
    assert final.response.metadata["tokens_per_second"] == 10.0
    body = server.requests[0].json()
    assert body["stream"] is True
    assert body["options"] == {"temperature": 0.2, "num_predict": 256}
    assert body["keep_alive"] == "10m"
    assert server.requests[0].method == "POST"


def _usage(prompt: int, completion: int) -> Any:
    from domain.messages import Usage

    return Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion)


async def test_complete_sends_a_non_streaming_request_and_equals_the_streamed_reply() -> None:
    expected = reply(thinking="Let me think.", usage=_usage(5, 7))
    async with ScriptedServer() as server:
        server.enqueue(
            "/api/chat", ScriptedResponse.json(wire.render_chat_response(expected)), chat_stream(expected)
        )
        llm = adapter(server.url)
        completed = await llm.complete(HELLO)
        streamed = (await collect(llm))[-1].response
        await llm.aclose()
    assert server.requests[0].json()["stream"] is False
    assert completed.content == streamed.content == expected.content
    assert completed.thinking == streamed.thinking == "Let me think."
    assert completed.usage == streamed.usage == expected.usage


async def test_thinking_is_asked_for_and_streamed_separately() -> None:
    async with ScriptedServer() as server:
        server.enqueue("/api/chat", chat_stream(reply(content="42", thinking="6 times 7")))
        llm = adapter(server.url, config=attrs.evolve(CONFIG, reasoning=True))
        events = await collect(llm)
        await llm.aclose()
    assert server.requests[0].json()["think"] is True
    assert "".join(e.text for e in events if isinstance(e, ThinkingDelta)) == "6 times 7"
    assert events[-1].response.thinking == "6 times 7"


async def test_tool_call_ids_round_trip_through_two_tool_turns() -> None:
    first = reply(
        content="",
        tool_calls=(
            ToolCall(id="-", name="get_weather", arguments={"city": "Paris"}),
            ToolCall(id="-", name="get_weather", arguments={"city": "Rome"}),
        ),
        finish_reason=FinishReason.TOOL_CALLS,
    )
    second = reply(
        content="",
        tool_calls=(ToolCall(id="-", name="convert", arguments={"c": 22}),),
        finish_reason="tool_calls",
    )
    async with ScriptedServer() as server:
        server.enqueue("/api/chat", chat_stream(first), chat_stream(second), chat_stream(reply("Done: 72°F")))
        llm = OllamaLLM(config=CONFIG, settings=OllamaSettings(base_url=server.url))
        messages = [ChatMessage.user("weather?")]
        for _ in range(2):
            events = await collect(llm, messages, tools=[WEATHER])
            started = [e.id for e in events if isinstance(e, ToolCallStarted)]
            response = events[-1].response
            assert started == [call.id for call in response.tool_calls]
            messages += [
                response.to_message(),
                *(ChatMessage.tool(c, f"ok {c.id}") for c in response.tool_calls),
            ]
        final = (await collect(llm, messages, tools=[WEATHER]))[-1].response
        await llm.aclose()
    ids = [c.id for m in messages for c in m.tool_calls]
    assert len(set(ids)) == 3
    assert all(i.startswith("call_") and i != "-" for i in ids)
    answered = [m.tool_call_id for m in messages if m.tool_call_id]
    assert answered == ids
    last_body = server.requests[2].json()
    assert [m.get("tool_name") for m in last_body["messages"] if m["role"] == "tool"] == [
        "get_weather",
        "get_weather",
        "convert",
    ]
    assert last_body["messages"][1]["tool_calls"][0] == {
        "id": ids[0],
        "function": {"name": "get_weather", "arguments": {"city": "Paris"}},
    }
    assert [m["tool_call_id"] for m in last_body["messages"] if m["role"] == "tool"] == ids
    assert final.content == "Done: 72°F"


# --------------------------------------------------------------------------- errors


async def test_a_missing_model_suggests_cw_pull() -> None:
    async with ScriptedServer() as server:
        server.enqueue("/api/chat", error(404, 'model "llama3.1" not found, try pulling it first'))
        llm = adapter(server.url)
        with pytest.raises(ModelNotFoundError, match=r"cw pull llama3\.1") as caught:
            await collect(llm)
        await llm.aclose()
    assert caught.value.status == 404
    assert len(server.requests) == 1  # not retried


async def test_other_statuses_carry_ollamas_error_text() -> None:
    async with ScriptedServer() as server:
        server.enqueue("/api/chat", error(400, "registry.ollama.ai/library/gemma:2b does not support tools"))
        llm = adapter(server.url)
        with pytest.raises(InvalidRequestError, match="does not support tools"):
            await llm.complete(HELLO, tools=[WEATHER])
        await llm.aclose()


async def test_server_errors_are_retried_then_raised() -> None:
    sleeps = Sleeps()
    async with ScriptedServer() as server:
        for _ in range(3):
            server.enqueue("/api/chat", error(500, "llama runner process has terminated: signal: killed"))
        llm = adapter(server.url, sleeps, max_retries=2)
        with pytest.raises(ProviderError, match="runner process has terminated"):
            await collect(llm)
        await llm.aclose()
    assert len(server.requests) == 3
    assert len(sleeps.delays) == 2


async def test_a_busy_server_is_retried_and_the_retry_succeeds() -> None:
    async with ScriptedServer() as server:
        server.enqueue(
            "/api/chat", error(503, "server busy, please try again.  maximum pending requests exceeded")
        )
        server.enqueue("/api/chat", chat_stream(reply("after the wait")))
        llm = adapter(server.url)
        events = await collect(llm)
        await llm.aclose()
    assert events[-1].response.content == "after the wait"


async def test_an_error_line_mid_stream_fails_with_the_partial_reply_and_is_not_retried() -> None:
    objects = [
        *wire.render_chat_stream(reply("Partial answer"), chunk_chars=4)[:-1],
        {"error": "CUDA error: out of memory"},
    ]
    async with ScriptedServer() as server:
        server.enqueue("/api/chat", ndjson(objects), chat_stream(reply("never")))
        llm = adapter(server.url)
        seen: list[Any] = []

        async def consume() -> None:
            async for event in llm.stream(HELLO):
                seen.append(event)

        with pytest.raises(ProviderError, match="out of memory") as caught:
            await consume()
        await llm.aclose()
    assert "".join(e.text for e in seen) == "Partial answer"
    assert caught.value.partial is not None
    assert caught.value.partial.content == "Partial answer"
    assert len(server.requests) == 1


async def test_an_error_line_before_any_output_is_retried() -> None:
    async with ScriptedServer() as server:
        server.enqueue("/api/chat", ndjson([{"error": "an error was encountered while running the model"}]))
        server.enqueue("/api/chat", chat_stream(reply("second try")))
        llm = adapter(server.url)
        events = await collect(llm)
        await llm.aclose()
    assert events[-1].response.content == "second try"


async def test_a_stream_without_the_done_line_is_truncated_never_a_success() -> None:
    objects = wire.render_chat_stream(reply("cut short"), chunk_chars=3)[:-1]
    async with ScriptedServer() as server:
        server.enqueue("/api/chat", ndjson(objects))
        llm = adapter(server.url)
        with pytest.raises(TruncatedStreamError, match="done") as caught:
            await collect(llm)
        await llm.aclose()
    assert caught.value.partial is not None
    assert caught.value.partial.content == "cut short"


async def test_a_connection_dropped_mid_stream_is_truncated() -> None:
    async with ScriptedServer() as server:
        server.enqueue("/api/chat", chat_stream(reply("a longer answer that gets cut"), drop_after=40))
        llm = adapter(server.url)
        with pytest.raises(TruncatedStreamError) as caught:
            await collect(llm)
        await llm.aclose()
    assert caught.value.partial is not None
    assert caught.value.partial.content != ""


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_connection_refused_says_to_start_ollama_serve() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    sleeps = Sleeps()
    llm = adapter(url, sleeps)
    with pytest.raises(
        UnreachableError,
        match=r"Ollama is not reachable at http://127\.0\.0\.1:\d+ — is `ollama serve` running\?",
    ):
        await collect(llm)
    with pytest.raises(UnreachableError, match="ollama serve"):
        await llm.complete(HELLO)
    with pytest.raises(UnreachableError, match="ollama serve"):
        await llm.list_models()
    await llm.aclose()
    assert len(sleeps.delays) == 6  # retried like any connection failure


async def test_a_silent_server_hits_the_idle_clock() -> None:
    async with ScriptedServer() as server:
        server.enqueue("/api/chat", chat_stream(reply("slow"), stall_after=2))
        llm = adapter(server.url, idle_timeout=0.2)
        with pytest.raises(LLMTimeoutError) as caught:
            await collect(llm)
        await llm.aclose()
    assert caught.value.kind == "idle"


async def test_closing_the_stream_early_closes_the_connection() -> None:
    async with ScriptedServer() as server:
        server.enqueue("/api/chat", chat_stream(reply("x" * 60), stall_after=40))
        llm = adapter(server.url)
        events = llm.stream(HELLO)
        first = await events.__anext__()
        assert isinstance(first, TextDelta)
        await events.aclose()  # type: ignore[attr-defined]
        request: RecordedRequest = server.requests[0]
        await asyncio.wait_for(request.disconnected.wait(), 2)
        await llm.aclose()


# --------------------------------------------------------------------------- images


def image_server_routes(server: ScriptedServer) -> None:
    server.enqueue("/cat.png", ScriptedResponse(headers={"content-type": "image/png"}, chunks=(PNG,)))


async def test_images_from_files_bytes_data_uris_and_urls_are_sent_as_base64(tmp_path: Path) -> None:
    encoded = base64.b64encode(PNG).decode()
    path = tmp_path / "cat.png"
    path.write_bytes(PNG)
    async with ScriptedServer() as server:
        image_server_routes(server)
        server.enqueue("/api/chat", chat_stream(reply("A cat.")))
        images = (
            ImageInput(path=str(path)),
            ImageInput(data=PNG),
            ImageInput(url=f"data:image/png;base64,{encoded}"),
            ImageInput(url=server.url + "/cat.png"),
        )
        llm = adapter(server.url)
        await collect(llm, [ChatMessage.user("what is it?", images=images)])
        await llm.aclose()
    chat = next(r for r in server.requests if r.path == "/api/chat")
    assert chat.json()["messages"][0]["images"] == [encoded] * 4


@pytest.mark.parametrize(
    ("served", "phrase"),
    [
        (ScriptedResponse(status=404, chunks=(b"gone",)), "HTTP 404"),
        (
            ScriptedResponse(headers={"content-type": "text/html"}, chunks=(b"<html>nope</html>",)),
            "not a PNG",
        ),
        (ScriptedResponse(headers={"content-length": str(MAX_IMAGE_BYTES + 1)}, chunks=(PNG,)), "limit"),
    ],
)
async def test_an_image_url_that_cannot_be_used_fails_clearly(served: ScriptedResponse, phrase: str) -> None:
    async with ScriptedServer() as server:
        server.enqueue("/img", served)
        llm = adapter(server.url)
        with pytest.raises(ConfigError, match=phrase) as caught:
            await collect(llm, [ChatMessage.user("x", images=(ImageInput(url=server.url + "/img"),))])
        await llm.aclose()
    assert "file path instead" in str(caught.value)
    assert not any(r.path == "/api/chat" for r in server.requests)


async def test_a_failed_image_download_never_shows_the_urls_credentials_or_token() -> None:
    async with ScriptedServer() as server:
        url = server.url
        server.enqueue("/cat.png", ScriptedResponse(status=403, chunks=(b"denied",)))
        signed = server.url.replace("://", "://alice:hunter2@") + "/cat.png?X-Amz-Signature=s3cr3tsig"
        llm = adapter(server.url)
        with pytest.raises(ConfigError, match="HTTP 403") as caught:
            await collect(llm, [ChatMessage.user("x", images=(ImageInput(url=signed),))])
        await llm.aclose()
    message = str(caught.value)
    assert url + "/cat.png" in message  # which image: host and path
    assert "hunter2" not in message
    assert "s3cr3tsig" not in message


async def test_ollama_api_key_is_sent_as_a_bearer_token_to_ollama_only() -> None:
    # Ollama's hosted API and key-checking proxies take the key as ollama-python sends it.
    async with ScriptedServer() as server:
        image_server_routes(server)
        server.enqueue("/api/chat", chat_stream(reply("A cat.")))
        server.enqueue("/api/tags", ScriptedResponse.json({"models": []}))
        llm = adapter(server.url, api_key="ollama-key-1234")
        image = ImageInput(url=server.url + "/cat.png")
        await collect(llm, [ChatMessage.user("what is it?", images=(image,))])
        await llm.list_models()
        await llm.aclose()
    sent = {request.path: request.headers.get("authorization") for request in server.requests}
    assert sent == {
        "/cat.png": None,  # an image host never gets the key, even on the same machine
        "/api/chat": "Bearer ollama-key-1234",
        "/api/tags": "Bearer ollama-key-1234",
    }
    assert "ollama-key-1234" not in repr(llm) + repr(llm.settings)


async def test_a_missing_image_file_fails_before_any_request(tmp_path: Path) -> None:
    requests: list[httpx.Request] = []
    llm = OllamaLLM(
        config=CONFIG, transport=httpx.MockTransport(lambda r: requests.append(r) or httpx.Response(500))
    )
    with pytest.raises(ConfigError):
        await llm.complete([ChatMessage.user("x", images=(ImageInput(path=str(tmp_path / "none.png")),))])
    await llm.aclose()
    assert requests == []


# --------------------------------------------------------------------------- pull if missing, models


async def test_pull_if_missing_pulls_once_before_the_first_chat() -> None:
    progress: list[ModelPullProgress] = []
    async with ScriptedServer() as server:
        server.enqueue("/api/show", error(404, "model 'llama3.1' not found"))
        server.enqueue("/api/pull", ndjson(wire.render_pull_stream(steps=2), every=11))
        server.enqueue("/api/chat", chat_stream(reply("first")), chat_stream(reply("second")))
        llm = OllamaLLM(
            config=CONFIG,
            settings=OllamaSettings(base_url=server.url, pull_if_missing=True),
            on_pull_progress=progress.append,
        )
        await collect(llm)
        copy = llm.with_config(attrs.evolve(CONFIG, temperature=0.9))
        second = await collect(copy)
        await llm.aclose()
    assert [r.path for r in server.requests] == ["/api/show", "/api/pull", "/api/chat", "/api/chat"]
    assert server.requests[1].json() == {"model": "llama3.1", "stream": True}
    assert progress[0].status == "pulling manifest"
    assert progress[-1].status == "success"
    assert second[-1].response.content == "second"


async def test_pull_if_missing_without_a_progress_callback_warns_why_the_first_call_waits(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with ScriptedServer() as server:
        server.enqueue("/api/show", error(404, "model 'llama3.1' not found"))
        server.enqueue("/api/pull", ndjson(wire.render_pull_stream(steps=1)))
        server.enqueue("/api/chat", chat_stream(reply("hi")))
        llm = OllamaLLM(config=CONFIG, settings=OllamaSettings(base_url=server.url, pull_if_missing=True))
        with caplog.at_level(logging.WARNING):
            await collect(llm)
        await llm.aclose()
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1
    assert "llama3.1 is not installed yet; pulling it first" in warned[0]


async def test_pull_if_missing_does_not_pull_an_installed_model() -> None:
    async with ScriptedServer() as server:
        server.enqueue(
            "/api/show", ScriptedResponse.json({"details": {}, "model_info": {}, "capabilities": []})
        )
        server.enqueue("/api/chat", chat_stream(reply()))
        llm = adapter(server.url, pull_if_missing=True)
        await collect(llm)
        await llm.aclose()
    assert [r.path for r in server.requests] == ["/api/show", "/api/chat"]


async def test_list_models_detailed_adds_show_for_each_model() -> None:
    tags = {
        "models": [
            {
                "name": "llama3.1:latest",
                "size": 4920753328,
                "digest": "46e0c10c039e",
                "details": {"family": "llama"},
            },
            {
                "name": "qwen3:8b",
                "size": 5225388164,
                "digest": "500a1f067a9f",
                "details": {"family": "qwen3"},
            },
        ]
    }

    def show(request: RecordedRequest) -> ScriptedResponse:
        name = request.json()["model"]
        arch = name.split(":")[0].rstrip(".1")
        return ScriptedResponse.json(
            {
                "model_info": {
                    "general.architecture": arch,
                    f"{arch}.context_length": 131072 if "llama" in name else 40960,
                },
                "capabilities": ["completion", "tools"],
            }
        )

    async with ScriptedServer() as server:
        server.enqueue("/api/tags", ScriptedResponse.json(tags), ScriptedResponse.json(tags))
        server.handle("/api/show", show)
        llm = adapter(server.url)
        basic = await llm.list_models()
        detailed = await llm.list_models(detailed=True)
        await llm.aclose()
    assert [m.name for m in basic] == ["llama3.1:latest", "qwen3:8b"]
    assert all(m.context_length is None for m in basic)
    assert [m.context_length for m in detailed] == [131072, 40960]
    assert detailed[1].capabilities == ("completion", "tools")
    assert detailed[0].size == 4920753328


# --------------------------------------------------------------------------- the rest of the port


def test_capabilities_limits_and_token_estimate() -> None:
    llm = OllamaLLM(config=NormalizedModelConfig(model="qwen2.5:7b"))
    caps = llm.capabilities()
    assert (caps.streaming, caps.function_calling, caps.vision, caps.model_management) == (
        True,
        True,
        True,
        True,
    )
    assert llm.context_limit() == 32_768  # from the model-limits table, tag stripped
    assert (
        llm.with_config(NormalizedModelConfig(model="qwen2.5", context_length=8192)).context_limit() == 8192
    )
    assert llm.count_tokens("") == 0
    assert llm.count_tokens("abcde") == 2
    assert llm.name == "ollama"


async def test_with_config_leaves_the_original_bound_to_its_config() -> None:
    bodies: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(200, json=wire.render_chat_response(reply("ok")))

    llm = OllamaLLM(config=CONFIG, transport=httpx.MockTransport(handler))
    other = llm.with_config(NormalizedModelConfig(model="mistral", seed=3))
    await other.complete(HELLO)
    await llm.complete(HELLO)
    await llm.aclose()
    assert [b["model"] for b in bodies] == ["mistral", "llama3.1"]
    assert bodies[0]["options"] == {"seed": 3}
    assert llm.config is CONFIG


async def test_penalties_are_dropped_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    bodies: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(200, json=wire.render_chat_response(reply("ok")))

    config = NormalizedModelConfig(model="llama3.1", presence_penalty=0.6)
    llm = OllamaLLM(config=config, transport=httpx.MockTransport(handler))
    with caplog.at_level(logging.WARNING):
        await llm.complete(HELLO)
        await llm.complete(HELLO)
    await llm.aclose()
    assert "presence_penalty" not in json.dumps(bodies)
    assert [r.getMessage() for r in caplog.records].count(
        "ollama: presence_penalty=0.6 is not an Ollama chat option and was not sent"
    ) == 1


async def test_an_overloaded_server_that_stays_busy_fails_with_overloaded() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(
            503, json={"error": "server busy, please try again.  maximum pending requests exceeded"}
        )

    llm = OllamaLLM(
        config=CONFIG,
        settings=OllamaSettings(max_retries=1),
        transport=httpx.MockTransport(handler),
        sleep=Sleeps(),
    )
    with pytest.raises(OverloadedError, match="busy"):
        await llm.complete(HELLO)
    await llm.aclose()
    assert calls == 2
