"""``cw`` against a loopback Ollama, as a user runs it: ``--backend ollama --base-url URL``.

The server is `ScriptedServer` (real HTTP on 127.0.0.1) in a thread of its own, since
``main`` runs its own event loop; it answers with Ollama's real payload shapes.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from typing import Any

import pytest

from adapters.cli.errors import EXIT_CODES
from adapters.cli.main import main
from adapters.llm.fake import HTTPFailure
from adapters.llm.testing.ollama_server import FakeOllamaServer
from adapters.llm.testing.scripted_server import RecordedRequest, ScriptedResponse, ScriptedServer
from domain.errors import ModelNotFoundError, UnreachableError
from domain.messages import AIResponse, FinishReason, ToolCall, Usage
from tests.e2e.conftest import serving

NDJSON = {"content-type": "application/x-ndjson"}
BIG = "sha256:" + "6a" * 32
SMALL = "sha256:" + "4f" * 32
LONG_NAME = "hf.co/bartowski/Llama-3.2-3B-Instruct-GGUF:Q4_K_M"


def ndjson(*objects: dict[str, Any]) -> tuple[bytes, ...]:
    return tuple(json.dumps(obj, ensure_ascii=False).encode() + b"\n" for obj in objects)


@pytest.fixture
def ollama() -> Iterator[ScriptedServer]:
    """A loopback server running in its own thread and event loop."""
    with serving(ScriptedServer()) as server:
        yield server


def cw(capsys: pytest.CaptureFixture[str], server: ScriptedServer | None, *argv: str) -> tuple[int, str, str]:
    base = ["--backend", "ollama", "--base-url", server.url if server else "http://127.0.0.1:9"]
    code = main([*argv, *base], environ={"OLLAMA_MAX_RETRIES": "0"})
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_pull_shows_each_step_in_order_and_one_bar_per_layer(
    capsys: pytest.CaptureFixture[str], ollama: ScriptedServer
) -> None:
    lines: list[dict[str, Any]] = [{"status": "pulling manifest"}]
    for digest, total in ((BIG, 2_000_000), (SMALL, 1_481)):
        status = f"pulling {digest[7:19]}"
        lines.append({"status": status, "digest": digest, "total": total})
        lines += [
            {"status": status, "digest": digest, "total": total, "completed": total * i // 4} for i in (1, 4)
        ]
    lines += [{"status": "verifying sha256 digest"}, {"status": "writing manifest"}, {"status": "success"}]
    ollama.enqueue("/api/pull", ScriptedResponse(headers=NDJSON, chunks=ndjson(*lines)))

    code, out, err = cw(capsys, ollama, "pull", "llama3.2")

    assert code == 0, err
    assert out == "pulled llama3.2\n"
    assert ollama.requests[0].json() == {"model": "llama3.2", "stream": True}
    shown = [line.strip() for line in err.splitlines() if line.strip()]
    order = [
        "pulling manifest",
        f"pulling {BIG[7:19]}",
        f"pulling {SMALL[7:19]}",
        "verifying",
        "writing",
        "success",
    ]
    positions = [next(i for i, line in enumerate(shown) if line.startswith(step)) for step in order]
    assert positions == sorted(positions), shown
    big = next(line for line in shown if line.startswith(f"pulling {BIG[7:19]}"))
    assert "100%" in big
    assert "2.0/2.0 MB" in big
    for step in ("pulling manifest", "verifying sha256 digest", "writing manifest", "success"):
        assert step in shown, shown  # a step line is its text alone: no empty bar, no "0/? bytes"


def test_a_pull_that_fails_before_any_progress_prints_only_the_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = cw(capsys, None, "pull", "llama3.2")

    assert code == EXIT_CODES[UnreachableError]
    assert out == ""
    assert err.splitlines() == [err.strip()]  # one line, no blank line left by an empty display
    assert "ollama serve" in err


def test_a_failed_pull_ends_with_one_clean_error_line(
    capsys: pytest.CaptureFixture[str], ollama: ScriptedServer
) -> None:
    ollama.enqueue(
        "/api/pull",
        ScriptedResponse(
            headers=NDJSON,
            chunks=ndjson(
                {"status": "pulling manifest"}, {"error": "pull model manifest: file does not exist"}
            ),
        ),
    )

    code, out, err = cw(capsys, ollama, "pull", "no-such-model")

    assert code != 0
    assert out == ""
    last = err.strip().splitlines()[-1]
    assert last.startswith("cw: error:")
    assert "no-such-model" in last
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "argv",
    [["pull", "llama3.1"], ["show", "llama3.1"], ["rm", "llama3.1"], ["run", "hi"], ["models"], ["ps"]],
)
def test_a_base_url_that_is_not_an_ollama_root_says_so_not_model_missing(
    capsys: pytest.CaptureFixture[str], ollama: ScriptedServer, argv: list[str]
) -> None:
    def page_not_found(request: RecordedRequest) -> ScriptedResponse:
        return ScriptedResponse(
            status=404, headers={"content-type": "text/plain"}, chunks=(b"404 page not found",)
        )

    for path in ("/api/pull", "/api/show", "/api/delete", "/api/chat", "/api/tags", "/api/ps"):
        ollama.handle("/ui" + path, page_not_found)  # what a server mounted elsewhere answers
    code = main(
        [*argv, "--backend", "ollama", "--base-url", ollama.url + "/ui"], environ={"OLLAMA_MAX_RETRIES": "0"}
    )
    err = capsys.readouterr().err

    assert code != 0
    assert "OLLAMA_BASE_URL" in err
    assert "cw pull" not in err
    assert "no model" not in err


def test_ps_table_shows_memory_use_and_unload_time(
    capsys: pytest.CaptureFixture[str], ollama: ScriptedServer
) -> None:
    running = {
        "name": "llama3.1:latest",
        "model": "llama3.1:latest",
        "size": 6_654_289_920,
        "digest": "42182419e950",
        "details": {"family": "llama", "parameter_size": "8.0B", "quantization_level": "Q4_K_M"},
        "expires_at": "2026-11-25T10:04:31.123456789Z",
        "size_vram": 5_333_539_264,
        "context_length": 8192,
    }
    ollama.enqueue("/api/ps", ScriptedResponse.json({"models": [running]}))

    code, out, err = cw(capsys, ollama, "ps")

    assert code == 0, err
    row = next(line for line in out.splitlines() if "llama3.1:latest" in line)
    assert "6.7 GB" in row
    assert "5.3 GB" in row  # VRAM
    assert "8192" in row
    assert "2026-11-25 10:04" in row  # when it unloads


def test_models_table_lists_whole_names_with_parameters_quantization_and_date(
    capsys: pytest.CaptureFixture[str], ollama: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "60")  # a narrow terminal
    entry = {
        "name": LONG_NAME,
        "model": LONG_NAME,
        "modified_at": "2026-01-02T03:04:05.123456789+01:00",
        "size": 2_019_377_376,
        "digest": "a80c4f17acd5",
        "details": {
            "format": "gguf",
            "family": "llama",
            "parameter_size": "3.2B",
            "quantization_level": "Q4_K_M",
        },
    }
    ollama.enqueue("/api/tags", ScriptedResponse.json({"models": [entry]}))

    code, out, err = cw(capsys, ollama, "models")

    assert code == 0, err
    assert LONG_NAME in out  # never cut: the name is typed back into `cw run -m`
    for value in ("3.2B", "Q4_K_M", "2026-01-02", "2.0 GB"):
        assert value in out


def test_run_json_on_a_loopback_ollama_matches_the_other_backends(
    capsys: pytest.CaptureFixture[str], ollama: ScriptedServer
) -> None:
    body = b"".join(
        ndjson(
            {"model": "llama3.1", "message": {"role": "assistant", "content": "Grüße "}, "done": False},
            {"model": "llama3.1", "message": {"role": "assistant", "content": "☀"}, "done": False},
            {
                "model": "llama3.1",
                "message": {"role": "assistant", "content": ""},
                "done": True,
                "done_reason": "stop",
                "prompt_eval_count": 9,
                "eval_count": 2,
                "eval_duration": 100_000_000,
            },
        )
    )
    chunks = tuple(body[i : i + 5] for i in range(0, len(body), 5))  # splits inside characters too
    ollama.enqueue("/api/chat", ScriptedResponse(headers=NDJSON, chunks=chunks))

    code, out, err = cw(capsys, ollama, "run", "hi", "--json", "--max-tokens", "64")

    assert code == 0, err
    data = json.loads(out)
    assert set(data) >= {"content", "thinking", "finish_reason", "usage", "model", "tool_calls", "messages"}
    assert data["content"] == "Grüße ☀"
    assert data["finish_reason"] == "stop"
    assert data["usage"] == {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}
    sent = ollama.requests[0].json()
    assert ollama.requests[0].path == "/api/chat"
    assert sent["options"]["num_predict"] == 64


def test_the_advice_for_a_missing_model_works_as_written_when_ollama_is_not_the_default(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # AI_BACKEND is unset (huggingface): a bare `cw pull qwen3` would go to the wrong backend.
    with serving(FakeOllamaServer(script=[AIResponse(content="hi")])) as server:
        environ = {"OLLAMA_BASE_URL": server.url}
        code = main(["run", "hi", "-m", "qwen3", "--backend", "ollama"], environ=environ)
        err = capsys.readouterr().err
        assert code == EXIT_CODES[ModelNotFoundError]
        advice = re.search(r"`(cw pull [^`]+)`", err)
        assert advice is not None, err

        code = main(shlex.split(advice.group(1))[1:], environ=environ)
        captured = capsys.readouterr()
        assert code == 0, captured.err
        code = main(["run", "hi", "-m", "qwen3", "--backend", "ollama"], environ=environ)
        assert (code, capsys.readouterr().out.strip()) == (0, "hi")


def test_a_whole_session_pull_list_show_run_ps_rm(capsys: pytest.CaptureFixture[str]) -> None:
    answer = AIResponse(
        content="Bonjour ☀", usage=Usage(prompt_tokens=5, completion_tokens=3, total_tokens=8)
    )
    with serving(FakeOllamaServer(script=[answer])) as server:

        def run(*argv: str) -> tuple[int, str, str]:
            code = main([*argv, "--backend", "ollama", "--base-url", server.url], environ={})
            captured = capsys.readouterr()
            return code, captured.out, captured.err

        code, out, err = run("run", "hi", "-m", "qwen3")
        assert code == EXIT_CODES[ModelNotFoundError]
        assert "cw pull qwen3" in err

        code, out, err = run("pull", "qwen3")
        assert (code, out) == (0, "pulled qwen3\n"), err
        assert "verifying sha256 digest" in err

        code, out, err = run("models", "--json")
        assert [m["name"] for m in json.loads(out)] == ["llama3.1:latest", "qwen3:latest"]

        code, out, err = run("show", "qwen3", "--json")
        shown = json.loads(out)
        assert (shown["context_length"], shown["capabilities"]) == (131072, ["completion", "tools"])

        code, out, err = run("run", "hi", "-m", "qwen3", "--json")
        assert code == 0, err
        assert json.loads(out)["content"] == "Bonjour ☀"

        code, out, err = run("ps", "--json")
        assert [m["name"] for m in json.loads(out)] == ["qwen3:latest"]

        code, out, err = run("rm", "qwen3")
        assert (code, out) == (0, "deleted qwen3\n")
        code, out, err = run("show", "qwen3")
        assert code == EXIT_CODES[ModelNotFoundError]

        code, out, err = run("pull", "missing-model")
        assert code == EXIT_CODES[ModelNotFoundError]
        assert err.strip().splitlines()[-1].startswith("cw: error: there is no model 'missing-model'")


def test_a_tool_turn_with_ollamas_id_less_calls_answers_each_call_by_id_and_name(
    capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    (tmp_path / "notes.txt").write_text("the answer is 42\n", encoding="utf-8")
    calls = AIResponse(
        tool_calls=(ToolCall(id="unsent", name="read", arguments={"file_path": "notes.txt"}),),
        finish_reason=FinishReason.TOOL_CALLS,
    )
    with serving(FakeOllamaServer(script=[calls, AIResponse(content="42")])) as server:
        ask = ["run", "what is the answer?", "--tool", "read", "--workspace", str(tmp_path), "--json"]
        code = main([*ask, "--backend", "ollama", "--base-url", server.url], environ={})
        out, err = capsys.readouterr()
        chats = [r.json() for r in server.requests if r.path == "/api/chat"]

    assert code == 0, err
    assert json.loads(out)["content"] == "42"
    sent = chats[1]["messages"]
    assistant = next(m for m in sent if m["role"] == "assistant")
    tool = next(m for m in sent if m["role"] == "tool")
    call_id = assistant["tool_calls"][0]["id"]
    assert call_id.startswith("call_")  # made up for Ollama's id-less call, then kept
    assert (tool["tool_call_id"], tool["tool_name"]) == (call_id, "read")
    assert "the answer is 42" in tool["content"]


def test_pull_if_missing_downloads_the_model_before_the_first_chat(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with serving(FakeOllamaServer(script=[AIResponse(content="hi")])) as server:
        code = main(
            ["run", "hi", "-m", "gemma3", "--backend", "ollama", "--base-url", server.url],
            environ={"OLLAMA_PULL_IF_MISSING": "true"},
        )
        out, err = capsys.readouterr()
        paths = [r.path for r in server.requests]

    assert code == 0, err
    assert out.strip() == "hi"
    assert paths == ["/api/show", "/api/pull", "/api/chat"]


def test_pull_if_missing_shows_the_download_on_stderr_like_cw_pull(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with serving(FakeOllamaServer(script=[AIResponse(content="hi")])) as server:
        code = main(
            ["run", "hi", "-m", "gemma3", "--json", "--backend", "ollama", "--base-url", server.url],
            environ={"OLLAMA_PULL_IF_MISSING": "true"},
        )
        out, err = capsys.readouterr()

    assert code == 0, err
    assert json.loads(out)["content"] == "hi"  # stdout stays the one JSON object
    shown = [line.strip() for line in err.splitlines() if line.strip()]
    assert "gemma3 is not installed yet; pulling it first" in shown[0]
    assert "pulling manifest" in shown
    assert any(line.startswith("pulling ") and "100%" in line for line in shown), shown  # a layer's bar
    assert "success" in shown


def test_pull_if_missing_that_fails_ends_the_display_before_one_error_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with serving(FakeOllamaServer(script=[AIResponse(content="hi")])) as server:
        code = main(
            ["run", "hi", "-m", "missing-model", "--backend", "ollama", "--base-url", server.url],
            environ={"OLLAMA_PULL_IF_MISSING": "true"},
        )
        out, err = capsys.readouterr()

    assert code == EXIT_CODES[ModelNotFoundError]
    assert out == ""
    shown = [line.strip() for line in err.splitlines() if line.strip()]
    assert "pulling manifest" in shown
    assert shown[-1].startswith("cw: error: ")
    assert "missing-model" in shown[-1]
    assert sum(line.startswith("cw: error") for line in shown) == 1


def test_a_chat_step_failing_mid_stream_is_one_line_with_a_non_zero_exit(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with serving(
        FakeOllamaServer(script=[HTTPFailure(status=500, message="llama runner crashed")])
    ) as server:
        code = main(
            ["run", "hi", "--backend", "ollama", "--base-url", server.url],
            environ={"OLLAMA_MAX_RETRIES": "0"},
        )
        _, err = capsys.readouterr()

    assert code != 0
    assert err.strip().splitlines() == ["cw: error: Ollama failed (500): llama runner crashed"]


@pytest.mark.parametrize("command", ["pull", "show", "rm"])
def test_an_empty_model_name_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], ollama: ScriptedServer, command: str
) -> None:
    code, out, err = cw(capsys, ollama, command, " ")

    assert code == 2
    assert out == ""
    assert "model name" in err
    assert ollama.requests == []


def test_a_model_name_is_used_without_surrounding_blanks(
    capsys: pytest.CaptureFixture[str], ollama: ScriptedServer
) -> None:
    ollama.enqueue("/api/delete", ScriptedResponse(status=200))

    code, out, err = cw(capsys, ollama, "rm", " llama3.1 ")

    assert (code, out) == (0, "deleted llama3.1\n"), err
    assert ollama.requests[0].json() == {"model": "llama3.1"}
