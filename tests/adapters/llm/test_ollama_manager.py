"""OllamaModelManager against a loopback server: pull with progress, delete, show, ps, list."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from adapters.llm._ndjson import render_ndjson
from adapters.llm.ollama import OllamaModelManager, OllamaSettings, wire
from adapters.llm.testing.scripted_server import ScriptedResponse, ScriptedServer
from domain.errors import ModelNotFoundError, ProviderError, TruncatedStreamError, UnreachableError
from domain.model_config import ModelPullProgress
from domain.ports import ModelManagementPort

pytestmark = pytest.mark.anyio


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def ndjson(objects: list[dict[str, Any]], *, every: int = 5, **kwargs: Any) -> ScriptedResponse:
    data = render_ndjson(objects)
    chunks = [data[i : i + every] for i in range(0, len(data), every)]
    return ScriptedResponse(headers={"content-type": "application/x-ndjson"}, chunks=chunks, **kwargs)


def manager(url: str, **settings: Any) -> OllamaModelManager:
    return OllamaModelManager(OllamaSettings(base_url=url, **settings), sleep=Sleeps())


def test_the_manager_is_a_model_management_port() -> None:
    assert isinstance(OllamaModelManager(), ModelManagementPort)
    assert "11434" in repr(OllamaModelManager())


async def test_pull_reports_every_progress_line_and_ends_at_success() -> None:
    lines = wire.render_pull_stream(steps=3)
    progress: list[ModelPullProgress] = []
    async with ScriptedServer() as server:
        server.enqueue("/api/pull", ndjson(lines))
        async with manager(server.url) as ollama:
            await ollama.pull("llama3.2:1b", on_progress=progress.append)
    assert server.requests[0].json() == {"model": "llama3.2:1b", "stream": True}
    assert progress == [wire.parse_pull_progress(line, model="x") for line in lines]
    layer = [p for p in progress if p.digest == progress[1].digest and p.completed is not None]
    assert [p.percentage for p in layer][-1] == 100.0


async def test_pull_has_no_total_deadline() -> None:
    lines = wire.render_pull_stream(steps=4)
    async with ScriptedServer() as server:
        # 0.03 s before each of ~13 writes: far longer than the 0.2 s total timeout of chats
        server.enqueue("/api/pull", ndjson(lines, every=200, delay=0.03))
        async with manager(server.url, timeout=0.2) as ollama:
            await ollama.pull("llama3.1")


@pytest.mark.parametrize(
    ("text", "error", "phrase"),
    [
        ("pull model manifest: file does not exist", ModelNotFoundError, "ollama.com/library"),
        ("max retries exceeded: no space left on device", ProviderError, "no space left"),
    ],
)
async def test_an_error_line_fails_the_pull(text: str, error: type[Exception], phrase: str) -> None:
    progress: list[ModelPullProgress] = []
    async with ScriptedServer() as server:
        server.enqueue("/api/pull", ndjson([{"status": "pulling manifest"}, {"error": text}]))
        async with manager(server.url) as ollama:
            with pytest.raises(error, match=phrase):
                await ollama.pull("nosuch", on_progress=progress.append)
    assert [p.status for p in progress] == ["pulling manifest"]
    assert len(server.requests) == 1  # progress had been reported: never retried


async def test_a_pull_that_stops_before_success_is_truncated_and_says_how_to_resume() -> None:
    async with ScriptedServer() as server:
        server.enqueue("/api/pull", ndjson(wire.render_pull_stream()[:5]))
        async with manager(server.url) as ollama:
            with pytest.raises(TruncatedStreamError, match=r"cw pull llama3\.1"):
                await ollama.pull("llama3.1")


async def test_a_pull_refused_with_a_status_names_the_model() -> None:
    async with ScriptedServer() as server:
        server.enqueue(
            "/api/pull",
            ScriptedResponse.json({"error": "pull model manifest: file does not exist"}, status=500),
        )
        async with manager(server.url) as ollama:
            with pytest.raises(ModelNotFoundError, match="'nosuch'") as caught:
                await ollama.pull("nosuch")
    assert caught.value.status == 500


async def test_delete_sends_the_model_in_a_delete_request() -> None:
    async with ScriptedServer() as server:
        server.enqueue("/api/delete", ScriptedResponse(status=200))
        async with manager(server.url) as ollama:
            await ollama.delete("llama3:13b")
    request = server.requests[0]
    assert (request.method, request.json()) == ("DELETE", {"model": "llama3:13b"})


async def test_model_management_sends_ollama_api_key_as_a_bearer_token() -> None:
    async with ScriptedServer() as server:
        server.enqueue("/api/delete", ScriptedResponse(status=200))
        async with manager(server.url, api_key="ollama-key-1234") as ollama:
            await ollama.delete("llama3:13b")
        assert "ollama-key-1234" not in repr(ollama)
    assert server.requests[0].headers.get("authorization") == "Bearer ollama-key-1234"


async def test_deleting_or_showing_a_model_that_is_not_installed_is_model_not_found() -> None:
    async with ScriptedServer() as server:
        server.enqueue("/api/delete", ScriptedResponse.json({"error": "model 'gone' not found"}, status=404))
        server.enqueue("/api/show", ScriptedResponse.json({"error": "model 'gone' not found"}, status=404))
        async with manager(server.url) as ollama:
            with pytest.raises(ModelNotFoundError, match=r"no model 'gone' to delete.*cw models"):
                await ollama.delete("gone")
            with pytest.raises(ModelNotFoundError, match="no model 'gone' to show"):
                await ollama.show("gone")
            assert not await ollama.has_model("gone")  # 404 again: no scripted reply left


async def test_show_and_running_models() -> None:
    show = {
        "parameters": "num_ctx 4096",
        "template": "{{ .Prompt }}",
        "details": {"family": "qwen3", "parameter_size": "8.2B", "quantization_level": "Q4_K_M"},
        "model_info": {"general.architecture": "qwen3", "qwen3.context_length": 40960},
        "capabilities": ["completion", "tools", "thinking"],
    }
    ps = {
        "models": [
            {
                "name": "qwen3:8b",
                "model": "qwen3:8b",
                "size": 6654289920,
                "digest": "500a1f067a9f",
                "details": {"family": "qwen3", "parameter_size": "8.2B", "quantization_level": "Q4_K_M"},
                "expires_at": "2026-11-25T09:00:00Z",
                "size_vram": 6654289920,
                "context_length": 4096,
            }
        ]
    }
    async with ScriptedServer() as server:
        server.enqueue("/api/show", ScriptedResponse.json(show))
        server.enqueue("/api/ps", ScriptedResponse.json(ps))
        server.enqueue("/api/tags", ScriptedResponse.json({"models": ps["models"]}))
        async with manager(server.url) as ollama:
            shown = await ollama.show("qwen3:8b")
            running = await ollama.running()
            listed = await ollama.list_models()
    assert server.requests[0].json() == {"model": "qwen3:8b"}
    assert (shown.name, shown.context_length, shown.capabilities) == (
        "qwen3:8b",
        40960,
        ("completion", "tools", "thinking"),
    )
    assert shown.details["template"] == "{{ .Prompt }}"
    assert [(m.name, m.context_length, m.details["size_vram"]) for m in running] == [
        ("qwen3:8b", 4096, 6654289920)
    ]
    assert [m.name for m in listed] == ["qwen3:8b"]


async def test_an_unreachable_server_says_to_start_ollama() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with manager(f"http://127.0.0.1:{port}", max_retries=0) as ollama:
        for call in (ollama.pull("x"), ollama.delete("x"), ollama.show("x"), ollama.running()):
            with pytest.raises(UnreachableError, match="ollama serve"):
                await call


async def test_against_the_fake_ollama_a_pull_installs_what_list_show_and_delete_then_see() -> None:
    from adapters.llm.testing.ollama_server import FakeOllamaServer

    async with FakeOllamaServer() as server:
        seen: list[ModelPullProgress] = []
        async with manager(server.url) as ollama:
            await ollama.pull("qwen3:8b", on_progress=seen.append)
            assert [m.name for m in await ollama.list_models()] == ["llama3.1:latest", "qwen3:8b"]
            assert (await ollama.show("qwen3:8b")).context_length == 131072
            await ollama.delete("qwen3:8b")
            assert not await ollama.has_model("qwen3:8b")
            with pytest.raises(ModelNotFoundError, match="missing-one"):
                await ollama.pull("missing-one")
    layers = {p.digest for p in seen if p.digest}
    assert len(layers) == 4
    assert all(any(p.percentage == 100.0 for p in seen if p.digest == digest) for digest in layers)
    assert (seen[0].status, seen[-1].status) == ("pulling manifest", "success")


@pytest.mark.parametrize("action", ["pull", "delete", "show"])
async def test_an_empty_model_name_is_refused_before_any_request(action: str) -> None:
    async with ScriptedServer() as server:
        async with manager(server.url) as ollama:
            with pytest.raises(ValueError, match="model name is required"):
                await getattr(ollama, action)("  ")
        assert server.requests == []
