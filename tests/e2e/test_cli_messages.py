"""Messages that misled (issue 8): each says what happened, on one line, and names what to change."""

from __future__ import annotations

import json
import socket
from typing import Any

import httpx
import pytest
from dependency_injector import providers

from adapters.cli.errors import EXIT_CODES
from adapters.container import build_container
from adapters.llm.testing.ollama_server import FakeOllamaServer
from adapters.llm.testing.scripted_server import RecordedRequest, ScriptedResponse, ScriptedServer
from adapters.settings import Settings
from domain.errors import ConfigError
from tests.e2e.conftest import Router, hf_environ, lines, run_cw, serving

ANTHROPIC_KEY = "sk-ant-api03-" + "LoopbackSecret" * 3


def _container(router: Router, **extra: str) -> Any:
    container = build_container(settings=Settings.load(hf_environ(**extra)))
    container.http_transport.override(providers.Object(router.transport()))
    return container


# --- a 400 is one line that ends once ------------------------------------------------------------


def test_a_router_400_never_points_above_a_one_line_message(
    capsys: pytest.CaptureFixture[str], router: Router
) -> None:
    router.json({"error": "max_tokens must be at most 8192."}, status=400)
    code, out, err = run_cw(capsys, ["run", "x"], container=_container(router))
    assert code == EXIT_CODES[type(_invalid())]
    assert out == ""
    assert len(lines(err)) == 1
    assert "above" not in err
    assert "max_tokens must be at most 8192" in err
    assert ".." not in err


def _invalid() -> Exception:
    from domain.errors import InvalidRequestError

    return InvalidRequestError("x")


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        ("invalid_request_error", 400),
        ("authentication_error", 401),
        ("permission_error", 403),
        ("not_found_error", 404),
        ("rate_limit_error", 429),
        ("overloaded_error", 529),
        ("api_error", 500),
    ],
)
def test_a_claude_error_ending_with_a_full_stop_is_not_doubled(
    capsys: pytest.CaptureFixture[str], router: Router, kind: str, status: int
) -> None:
    detail = "thinking.budget_tokens: Input should be less than max_tokens; use effort: medium."
    router.json({"type": "error", "error": {"type": kind, "message": detail}}, status=status)
    container = _container(router, ANTHROPIC_API_KEY=ANTHROPIC_KEY, ANTHROPIC_MAX_RETRIES="0")
    code, _, err = run_cw(capsys, ["run", "x", "--backend", "claude"], container=container)
    assert code != 0
    assert len(lines(err)) == 1
    assert "medium." in err
    assert ".." not in err


# --- a bad timeout names its variable ------------------------------------------------------------


@pytest.mark.parametrize("value", ["-5", "0", "nan", "inf"])
@pytest.mark.parametrize(
    ("backend", "variable", "environ"),
    [
        ("huggingface", "HUGGINGFACE_TIMEOUT", {}),
        ("openai", "OPENAI_TIMEOUT", {"OPENAI_API_KEY": "sk-proj-" + "x" * 40}),
        ("claude", "ANTHROPIC_TIMEOUT", {"ANTHROPIC_API_KEY": ANTHROPIC_KEY}),
        ("ollama", "OLLAMA_TIMEOUT", {}),
    ],
)
def test_a_timeout_that_is_not_positive_names_the_variable(
    capsys: pytest.CaptureFixture[str], backend: str, variable: str, environ: dict[str, str], value: str
) -> None:
    code, out, err = run_cw(
        capsys,
        ["run", "x", "--backend", backend],
        environ={**hf_environ(), **environ, variable: value},
    )
    assert code == EXIT_CODES[ConfigError]
    assert out == ""
    assert len(lines(err)) == 1
    assert variable in err


# --- cw backends does not call a server that is not running "ready" --------------------------------


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_backends_says_ollama_is_not_running_when_nothing_listens(capsys: pytest.CaptureFixture[str]) -> None:
    environ = {**hf_environ(), "OLLAMA_BASE_URL": f"http://127.0.0.1:{_closed_port()}"}
    code, out, err = run_cw(capsys, ["backends", "--json"], environ=environ)
    assert code == 0, err
    rows = {row["name"]: row for row in json.loads(out)["backends"]}
    assert rows["ollama"]["configured"] is True
    assert rows["ollama"]["reachable"] is False
    assert rows["ollama"]["problem"]
    assert rows["huggingface"]["reachable"] is None  # a hosted service is not called to list it
    code, out, err = run_cw(capsys, ["backends"], environ=environ)
    assert code == 0, err
    ollama_row = next(line for line in out.splitlines() if line.strip().startswith("ollama"))
    assert "not running" in ollama_row
    assert "ready" not in ollama_row


def test_backends_says_ollama_is_ready_when_its_server_answers(capsys: pytest.CaptureFixture[str]) -> None:
    with serving(FakeOllamaServer()) as ollama:
        environ = {**hf_environ(), "OLLAMA_BASE_URL": ollama.url}
        code, out, err = run_cw(capsys, ["backends", "--json"], environ=environ)
    assert code == 0, err
    rows = {row["name"]: row for row in json.loads(out)["backends"]}
    assert rows["ollama"]["reachable"] is True
    assert rows["ollama"]["problem"] is None


def test_backends_probe_goes_through_the_http_transport(
    capsys: pytest.CaptureFixture[str], router: Router
) -> None:
    answers = {"/api/ps": {"models": []}, "/v1/models": {"object": "list", "data": [{"id": "served"}]}}

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=answers[request.url.path])

    router.replies += [answer, answer]
    code, out, err = run_cw(capsys, ["backends", "--json"], container=_container(router))
    assert code == 0, err
    rows = {row["name"]: row for row in json.loads(out)["backends"]}
    assert rows["ollama"]["reachable"] is True
    assert rows["vllm"]["reachable"] is True
    # The self-hosted servers only: the configured Hugging Face router is not called.
    assert sorted(request.url.path for request in router.requests) == ["/api/ps", "/v1/models"]


def test_backends_says_vllm_is_not_running_when_nothing_listens(capsys: pytest.CaptureFixture[str]) -> None:
    environ = {
        **hf_environ(),
        "VLLM_BASE_URL": f"http://127.0.0.1:{_closed_port()}/v1",
        "VLLM_MAX_RETRIES": "0",
    }
    code, out, err = run_cw(capsys, ["backends", "--json"], environ=environ)
    assert code == 0, err
    rows = {row["name"]: row for row in json.loads(out)["backends"]}
    assert rows["vllm"]["configured"] is True
    assert rows["vllm"]["reachable"] is False
    assert "cannot reach" in rows["vllm"]["problem"]
    code, out, err = run_cw(capsys, ["backends"], environ=environ)
    assert code == 0, err
    vllm_row = next(line for line in out.splitlines() if line.strip().startswith("vllm"))
    assert "not running" in vllm_row
    assert "ready" not in vllm_row


def test_backends_says_vllm_is_ready_when_its_server_answers_and_never_calls_a_hosted_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def models(request: RecordedRequest) -> ScriptedResponse:
        return ScriptedResponse.json({"object": "list", "data": [{"id": "served", "max_model_len": 4096}]})

    with serving(ScriptedServer({"/v1/models": models})) as vllm, serving(ScriptedServer()) as hosted:
        environ = {
            **hf_environ(),
            "HUGGINGFACE_BASE_URL": f"{hosted.url}/v1",
            "ANTHROPIC_API_KEY": ANTHROPIC_KEY,
            "ANTHROPIC_BASE_URL": hosted.url,
            "VLLM_BASE_URL": f"{vllm.url}/v1",
        }
        code, out, err = run_cw(capsys, ["backends", "--json"], environ=environ)
        assert code == 0, err
        rows = {row["name"]: row for row in json.loads(out)["backends"]}
        assert (rows["vllm"]["reachable"], rows["vllm"]["problem"]) == (True, None)
        assert [(request.method, request.path) for request in vllm.requests] == [("GET", "/v1/models")]
        for name in ("huggingface", "claude"):
            assert (rows[name]["configured"], rows[name]["reachable"]) == (True, None), rows[name]
        assert hosted.requests == []  # listing a hosted service costs nothing
