"""Model management over the API, on a loopback Ollama (`FakeOllamaServer`): pull with its SSE
progress, show, delete, and the JSON errors of each."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from adapters.llm.testing.ollama_server import FakeOllamaServer
from adapters.llm.testing.scripted_server import RecordedRequest, ScriptedResponse, ScriptedServer
from tests.adapters.http_api.conftest import make_api
from tests.adapters.http_api.sse import parse_sse

pytestmark = pytest.mark.anyio


async def test_pull_streams_progress_then_show_and_delete(tmp_path: Path) -> None:
    async with FakeOllamaServer() as ollama:
        async for api in make_api(tmp_path, {"OLLAMA_BASE_URL": ollama.url}):
            api.token = await api.register()
            started = await api.request(
                "POST", "/ai-backends/ollama/models/pull", json={"model": "qwen3:0.6b"}
            )
            assert started.status_code == 202, started.text
            body = started.json()
            assert set(body) == {"pull_id", "model", "backend", "status", "stream_url"}
            assert (body["model"], body["backend"], body["status"]) == ("qwen3:0.6b", "ollama", "queued")
            stream = await api.client.get(body["stream_url"], headers=api.auth())
            events = parse_sse(stream.text)
            assert events[0].type == "started"
            assert events[-1].type == "completed"
            progress = [e.data for e in events if e.type == "progress"]
            assert progress
            assert set(progress[0]) == {"status", "digest", "total", "completed", "percentage"}
            percentages = [p["percentage"] for p in progress if p["percentage"] is not None]
            assert percentages
            assert all(p == round(p, 2) for p in percentages)  # two decimals, as the original gives
            other = await api.register(email="eve@example.com", name="Eve")
            assert (await api.client.get(body["stream_url"], headers=api.auth(other))).status_code == 404

            shown = await api.request("GET", "/ai-backends/ollama/models/qwen3:0.6b")
            assert shown.status_code == 200, shown.text
            assert shown.json()["name"].startswith("qwen3:0.6b")
            listed = await api.request("GET", "/ai-backends/ollama/models")
            assert any(m["name"].startswith("qwen3:0.6b") for m in listed.json()["models"])
            assert (await api.request("DELETE", "/ai-backends/ollama/models/qwen3:0.6b")).status_code == 204
            missing = await api.request("GET", "/ai-backends/ollama/models/qwen3:0.6b")
            assert missing.status_code == 404
            assert missing.json()["message"]
            failed = await api.request(
                "POST", "/ai-backends/ollama/models/pull", json={"model": "missing-model:1"}
            )
            events = parse_sse((await api.client.get(failed.json()["stream_url"], headers=api.auth())).text)
            assert events[-1].type == "failed"
            assert events[-1].data["error"]
            bad = await api.request("POST", "/ai-backends/ollama/models/pull", json={"model": "no spaces"})
            assert bad.status_code == 422


async def test_listing_models_of_an_unreachable_backend_is_502_with_advice(tmp_path: Path) -> None:
    async for api in make_api(tmp_path, {"OLLAMA_BASE_URL": "http://127.0.0.1:9"}):
        api.token = await api.register()
        response = await api.request("GET", "/ai-backends/ollama/models")
        assert response.status_code == 502
        message = response.json()["message"]
        assert "\n" not in message
        assert "ollama" in message.lower()


async def test_a_model_name_with_slash_colon_and_dot_is_one_path(tmp_path: Path) -> None:
    async with FakeOllamaServer() as ollama:
        async for api in make_api(tmp_path, {"OLLAMA_BASE_URL": ollama.url}):
            api.token = await api.register()
            model = "library/qwen2.5:0.5b"
            started = await api.request("POST", "/ai-backends/ollama/models/pull", json={"model": model})
            events = parse_sse((await api.client.get(started.json()["stream_url"], headers=api.auth())).text)
            assert events[-1].type == "completed", events[-1]
            shown = await api.request("GET", f"/ai-backends/ollama/models/{model}")
            assert shown.status_code == 200, shown.text
            assert shown.json()["name"] == model
            assert (await api.request("DELETE", f"/ai-backends/ollama/models/{model}")).status_code == 204
            assert (await api.request("GET", f"/ai-backends/ollama/models/{model}")).status_code == 404
            assert (await api.request("DELETE", f"/ai-backends/ollama/models/{model}")).status_code == 404


async def test_a_self_hosted_backend_whose_server_is_down_is_not_connected(tmp_path: Path) -> None:
    async for api in make_api(tmp_path, {"OLLAMA_BASE_URL": "http://127.0.0.1:9"}):
        api.token = await api.register()
        listed = (await api.request("GET", "/ai-backends")).json()["backends"]
        ollama = next(backend for backend in listed if backend["name"] == "ollama")
        assert ollama["status"] == "error"
        assert "not reachable" in ollama["error"]
        one = (await api.request("GET", "/ai-backends/ollama")).json()
        assert (one["status"], one["error"]) == ("error", ollama["error"])
    (tmp_path / "up").mkdir()
    async with FakeOllamaServer() as server:
        async for api in make_api(tmp_path / "up", {"OLLAMA_BASE_URL": server.url}):
            api.token = await api.register()
            one = (await api.request("GET", "/ai-backends/ollama")).json()
            assert (one["status"], one.get("error")) == ("connected", None)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _hosted_at(url: str) -> dict[str, str]:
    """The hosted services, configured (with keys) to a loopback server that records any call."""
    return {
        "HUGGINGFACE_API_KEY": "hf_" + "LoopbackToken" * 3,
        "HUGGINGFACE_BASE_URL": f"{url}/v1",
        "OPENAI_API_KEY": "sk-" + "LoopbackKey" * 4,
        "OPENAI_BASE_URL": f"{url}/v1",
        "ANTHROPIC_API_KEY": "sk-ant-api03-" + "LoopbackKey" * 4,
        "ANTHROPIC_BASE_URL": url,
    }


async def test_a_vllm_server_that_is_down_is_not_connected_and_hosted_services_are_not_called(
    tmp_path: Path,
) -> None:
    async with ScriptedServer() as hosted:
        environ = {
            **_hosted_at(hosted.url),
            "VLLM_BASE_URL": f"http://127.0.0.1:{_closed_port()}/v1",
            "VLLM_MAX_RETRIES": "0",
        }
        async for api in make_api(tmp_path, environ):
            api.token = await api.register()
            listed = {b["name"]: b for b in (await api.request("GET", "/ai-backends")).json()["backends"]}
            assert listed["vllm"]["status"] == "error"
            assert "cannot reach" in listed["vllm"]["error"]
            one = (await api.request("GET", "/ai-backends/vllm")).json()
            assert (one["status"], one["error"]) == ("error", listed["vllm"]["error"])
            for name in ("huggingface", "openai", "claude"):
                assert listed[name]["status"] == "connected", listed[name]
                assert (await api.request("GET", f"/ai-backends/{name}")).json()["status"] == "connected"
        assert hosted.requests == []  # listing a hosted service costs nothing


async def test_a_vllm_server_that_answers_its_model_list_is_connected(tmp_path: Path) -> None:
    def models(request: RecordedRequest) -> ScriptedResponse:
        return ScriptedResponse.json({"object": "list", "data": [{"id": "served", "max_model_len": 4096}]})

    async with ScriptedServer({"/v1/models": models}) as vllm:
        async for api in make_api(tmp_path, {"VLLM_BASE_URL": f"{vllm.url}/v1"}):
            api.token = await api.register()
            one = (await api.request("GET", "/ai-backends/vllm")).json()
            assert (one["status"], one.get("error")) == ("connected", None)
        assert [(request.method, request.path) for request in vllm.requests] == [("GET", "/v1/models")]
