"""``cw run`` as recorded traffic, a newcomer and an attacker found it (issue 8).

What a request asks for (``--no-stream`` sends a non-streaming request on every backend), a
reply cut off by the token limit (its tool call is never run), ``--json``'s whole-run usage,
input that is not UTF-8, and the usage errors a newcomer meets first (``--image``, ``--tool``).
The CLI runs for real (``main(argv)``); backends are played over loopback HTTP or
``httpx.MockTransport``.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from dependency_injector import providers

from adapters.container import build_container
from adapters.llm.fake import script_handler
from adapters.llm.openai_compatible import wire as openai_wire
from adapters.llm.testing.ollama_server import FakeOllamaServer
from adapters.llm.testing.scripted_server import ScriptedServer
from domain.messages import AIResponse, Usage
from tests.e2e.conftest import (
    HF_KEY,
    Router,
    chunk,
    hf_environ,
    lines,
    run_cw,
    serving,
    sse,
    text_reply,
    tool_reply,
)

OPENAI_KEY = "sk-proj-" + "LoopbackSecret" * 3
ANTHROPIC_KEY = "sk-ant-api03-" + "LoopbackSecret" * 3
ANSWER = AIResponse(
    content="Whole reply — ça marche.",
    model="m",
    usage=Usage(prompt_tokens=5, completion_tokens=6, total_tokens=11),
)


# --- --no-stream asks for a whole reply -------------------------------------------------------

_SCRIPTED: Mapping[str, tuple[str, str, dict[str, str]]] = {
    # backend: (wire, chat path, environment)
    "huggingface": ("openai", "/v1/chat/completions", {"HUGGINGFACE_API_KEY": HF_KEY}),
    "openai": ("openai", "/v1/chat/completions", {"OPENAI_API_KEY": OPENAI_KEY}),
    "claude": ("anthropic", "/v1/messages", {"ANTHROPIC_API_KEY": ANTHROPIC_KEY}),
    "vllm": ("openai", "/v1/chat/completions", {}),
}


@pytest.mark.parametrize("backend", ["huggingface", "openai", "claude", "vllm"])
def test_no_stream_sends_a_non_streaming_request(capsys: pytest.CaptureFixture[str], backend: str) -> None:
    wire, path, environ = _SCRIPTED[backend]
    server = ScriptedServer({path: script_handler([ANSWER], wire=wire)})
    with serving(server):
        code, out, err = run_cw(
            capsys,
            ["run", "hi", "--backend", backend, "--base-url", server.url + "/v1", "--no-stream"],
            environ={"CW_ENV": "production", **environ, f"{backend.upper()}_MAX_RETRIES": "0"},
        )
    assert code == 0, err
    assert out == "Whole reply — ça marche.\n"
    body = server.requests[0].json()
    assert not body.get("stream")  # false or absent: the server answers with one JSON body
    assert "stream_options" not in body


def test_no_stream_on_ollama_says_stream_false(capsys: pytest.CaptureFixture[str]) -> None:
    """Ollama streams unless told not to: the request says ``"stream": false``."""
    with serving(FakeOllamaServer(script=[ANSWER])) as ollama:
        code, out, err = run_cw(
            capsys,
            ["run", "hi", "--backend", "ollama", "--base-url", ollama.url, "--no-stream"],
            environ={"CW_ENV": "production"},
        )
    assert code == 0, err
    assert out == "Whole reply — ça marche.\n"
    chats = [request.json() for request in ollama.requests if request.path == "/api/chat"]
    assert [chat["stream"] for chat in chats] == [False]


def test_no_stream_on_the_fake_backend_and_streaming_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    container = build_container("test", environ={})
    container.fake_script.override(providers.Object([ANSWER, ANSWER]))
    code, out, err = run_cw(capsys, ["run", "hi", "--no-stream"], container=container)
    assert code == 0, err
    code, out_streamed, err = run_cw(capsys, ["run", "hi"], container=container)
    assert code == 0, err
    assert out == out_streamed == "Whole reply — ça marche.\n"
    first, second = container.fake_transport().requests
    assert first["stream"] is False
    assert second["stream"] is True


def test_no_stream_with_tools_reads_every_reply_whole(
    capsys: pytest.CaptureFixture[str], router: Router, tmp_path: Path
) -> None:
    (tmp_path / "a.txt").write_text("alpha\n", encoding="utf-8")
    call = {
        "id": "c1",
        "type": "function",
        "function": {"name": "read", "arguments": '{"file_path": "a.txt"}'},
    }
    router.json(
        {
            "id": "x",
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "", "tool_calls": [call]},
                    "finish_reason": "tool_calls",
                }
            ],
            "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
        }
    )
    router.json(openai_wire.render_completion(ANSWER))
    container = build_container(settings=_hf_settings())
    container.http_transport.override(providers.Object(router.transport()))
    code, out, err = run_cw(
        capsys,
        ["run", "read it", "--tool", "read", "--workspace", str(tmp_path), "--no-stream"],
        container=container,
    )
    assert code == 0, err
    assert out == "Whole reply — ça marche.\n"
    assert [body["stream"] for body in router.bodies()] == [False, False]


def _hf_settings() -> Any:
    from adapters.settings import Settings

    return Settings.load(hf_environ())


def _hf_container(router: Router) -> Any:
    container = build_container(settings=_hf_settings())
    container.http_transport.override(providers.Object(router.transport()))
    return container


# --- a reply cut off by the token limit ----------------------------------------------------------


def _cut_off_tool_call() -> bytes:
    """Text, then a ``read`` call whose arguments stop mid-string, then ``finish_reason: length``."""
    start = {"index": 0, "id": "call_t", "type": "function", "function": {"name": "read", "arguments": ""}}
    return sse(
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Let me read the file"}),
        chunk({"tool_calls": [start]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"file_path": "a.t'}}]}),
        chunk({}, "length", usage={"prompt_tokens": 9, "completion_tokens": 16, "total_tokens": 25}),
        "[DONE]",
    )


def test_a_tool_call_cut_off_by_the_token_limit_is_not_run(
    capsys: pytest.CaptureFixture[str], router: Router, tmp_path: Path
) -> None:
    (tmp_path / "a.txt").write_text("secret plans\n", encoding="utf-8")
    router.stream(_cut_off_tool_call())
    router.stream(text_reply("a second request must not be sent"))
    code, out, err = run_cw(
        capsys,
        ["run", "read a.txt", "--tool", "read", "--workspace", str(tmp_path), "--max-tokens", "16"],
        container=_hf_container(router),
    )
    assert code == 0, err
    assert out == "Let me read the file\n"
    assert len(router.requests) == 1  # no error result sent back in a second request
    assert "read(" not in err  # the call was never started
    assert len(lines(err)) == 1
    assert "--max-tokens" in err
    assert err.startswith("warning:")


def _run_read_json(
    capsys: pytest.CaptureFixture[str], router: Router, tmp_path: Path
) -> tuple[dict[str, Any], str]:
    """``cw run "read a.txt" --tool read --json`` on the Hugging Face router: its document and stderr."""
    code, out, err = run_cw(
        capsys,
        ["run", "read a.txt", "--tool", "read", "--workspace", str(tmp_path), "--json"],
        container=_hf_container(router),
    )
    assert code == 0, err
    return json.loads(out), err


def test_a_cut_off_run_in_json_says_length_with_the_text_so_far(
    capsys: pytest.CaptureFixture[str], router: Router, tmp_path: Path
) -> None:
    router.stream(_cut_off_tool_call())
    data, err = _run_read_json(capsys, router, tmp_path)
    assert data["finish_reason"] == "length"
    assert data["content"] == "Let me read the file"
    assert data["tool_calls"] == []
    assert [m["role"] for m in data["messages"]] == ["user", "assistant"]
    assert "--max-tokens" in err


def test_a_claude_tool_call_cut_off_at_max_tokens_is_not_run(
    capsys: pytest.CaptureFixture[str], router: Router, tmp_path: Path
) -> None:
    from adapters.llm.fake import wire_for
    from domain.messages import FinishReason, ToolCall

    cut = AIResponse(
        content="Let me read the file",
        tool_calls=(
            ToolCall(id="toolu_1", name="read", raw_arguments='{"file_path": "a.t', parse_error="cut"),
        ),
        finish_reason=FinishReason.LENGTH,  # rendered as Anthropic's stop_reason "max_tokens"
        usage=Usage(prompt_tokens=9, completion_tokens=16, total_tokens=25),
    )
    reply = wire_for("anthropic").render(cut, {"stream": True})
    assert b'"stop_reason": "max_tokens"' in b"".join(reply.chunks)
    router.stream(b"".join(reply.chunks))
    container = build_container(
        settings=_hf_settings_with(ANTHROPIC_API_KEY=ANTHROPIC_KEY, ANTHROPIC_MAX_RETRIES="0")
    )
    container.http_transport.override(providers.Object(router.transport()))
    code, out, err = run_cw(
        capsys,
        ["run", "read a.txt", "--backend", "claude", "--tool", "read", "--workspace", str(tmp_path)],
        container=container,
    )
    assert code == 0, err
    assert out == "Let me read the file\n"
    assert len(router.requests) == 1
    assert len(lines(err)) == 1
    assert "--max-tokens" in err


def test_an_ollama_tool_call_with_done_reason_length_is_not_run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from domain.messages import FinishReason, ToolCall

    cut = AIResponse(
        content="Let me read the file",
        tool_calls=(ToolCall(id="c1", name="read", arguments={"file_path": "a.txt"}),),
        finish_reason=FinishReason.LENGTH,  # rendered as Ollama's done_reason "length"
    )
    with serving(FakeOllamaServer(script=[cut])) as ollama:
        base = ["--backend", "ollama", "--base-url", ollama.url]
        code, out, err = run_cw(
            capsys,
            ["run", "read", *base, "--tool", "read", "--workspace", str(tmp_path)],
            environ={"CW_ENV": "production"},
        )
        chats = [request for request in ollama.requests if request.path == "/api/chat"]
    assert code == 0, err
    assert out == "Let me read the file\n"
    assert len(chats) == 1
    assert "--max-tokens" in err


def _hf_settings_with(**extra: str) -> Any:
    from adapters.settings import Settings

    return Settings.load(hf_environ(**extra))


# --- --json: the whole run's usage -------------------------------------------------------------


def test_json_total_usage_adds_up_every_model_call(
    capsys: pytest.CaptureFixture[str], router: Router, tmp_path: Path
) -> None:
    (tmp_path / "a.txt").write_text("alpha\n", encoding="utf-8")
    router.stream(tool_reply(("call_a", "read", {"file_path": "a.txt"})))  # 20 + 9 = 29
    router.stream(text_reply("done"))  # 11 + 7 = 18
    data, _ = _run_read_json(capsys, router, tmp_path)
    assert data["usage"] == {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
    assert data["total_usage"] == {"prompt_tokens": 31, "completion_tokens": 16, "total_tokens": 47}


# --- input that is not UTF-8 ---------------------------------------------------------------------


def _echo_container() -> Any:
    container = build_container("test", environ={})
    container.fake_script.override(providers.Object([AIResponse(content="ok")]))
    return container


def test_a_prompt_that_is_not_utf8_is_decoded_with_replacement_and_one_warning(
    capsys: pytest.CaptureFixture[str],
) -> None:
    container = _echo_container()
    # What Python makes of `cw run $'\xff abc'`: the undecodable byte as a lone surrogate.
    code, out, err = run_cw(capsys, ["run", "\udcff abc"], container=container)
    assert code == 0, err
    assert out == "ok\n"
    assert container.fake_transport().requests[0]["messages"][-1]["content"] == "\ufffd abc"
    assert len(lines(err)) == 1
    assert "UTF-8" in err
    assert "bug" not in err


def test_stdin_that_is_not_utf8_is_decoded_with_replacement(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    container = _echo_container()
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"caf\xe9 \xff ok\n"), encoding="utf-8"))
    code, _, err = run_cw(capsys, ["run", "-"], container=container)
    assert code == 0, err
    assert container.fake_transport().requests[0]["messages"][-1]["content"] == "caf\ufffd \ufffd ok\n"
    assert len(lines(err)) == 1
    assert "stdin" in err


# --- usage errors a newcomer meets ---------------------------------------------------------------


def test_an_image_that_is_not_an_image_is_a_usage_error_without_python_advice(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    makefile = tmp_path / "Makefile"
    makefile.write_text("all:\n\techo hi\n", encoding="utf-8")
    code, out, err = run_cw(capsys, ["run", "x", "--image", str(makefile)], container=_echo_container())
    assert code == 2
    assert out == ""
    assert len(lines(err)) == 1
    assert "media_type" not in err
    assert "not an image" in err
    assert "PNG" in err


def test_an_image_that_is_a_folder_says_so(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run_cw(capsys, ["run", "x", "--image", str(tmp_path)], container=_echo_container())
    assert code == 2
    assert len(lines(err)) == 1
    assert "folder" in err
    assert "no such" not in err


def test_an_unknown_tool_is_a_usage_error_listing_the_tools(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cw(capsys, ["run", "x", "--tool", "bogus"], container=_echo_container())
    assert code == 2
    assert out == ""
    assert len(lines(err)) == 1
    assert "'bogus'" in err
    for name in ("read", "glob", "grep"):
        assert name in err
    assert "--tool" in err


def test_arguments_that_are_not_json_are_shown_as_sent(
    capsys: pytest.CaptureFixture[str], router: Router, tmp_path: Path
) -> None:
    start = {"index": 0, "id": "call_j", "type": "function", "function": {"name": "read", "arguments": ""}}
    router.stream(
        sse(
            chunk({"role": "assistant", "content": ""}),
            chunk({"tool_calls": [start]}),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": "{'file_path': 'a.txt'}"}}]}),
            chunk({}, "tool_calls"),
            "[DONE]",
        )
    )
    router.stream(text_reply("sorry"))
    code, _, err = run_cw(
        capsys,
        ["run", "read", "--tool", "read", "--workspace", str(tmp_path)],
        container=_hf_container(router),
    )
    assert code == 0, err
    assert "read({'file_path': 'a.txt'})" in err
    assert "read({})" not in err


@pytest.mark.parametrize("command", ["run", "chat"])
def test_an_option_without_its_value_points_at_the_help(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    code, out, err = run_cw(capsys, [command, "--model"], environ={})
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert f"(see 'cw {command} --help')" in err


# --- a terminal that is not UTF-8 ----------------------------------------------------------------

REPO = Path(__file__).resolve().parents[2]
_CW = "import sys; from adapters.cli.main import main; sys.exit(main())"


def test_a_terminal_that_is_not_utf8_gets_replacement_characters_not_a_crash() -> None:
    import os
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", _CW, "demo"],
        env={**os.environ, "PYTHONIOENCODING": "latin-1", "CW_DEBUG": "1"},
        capture_output=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode("latin-1")
    assert b"Traceback" not in result.stderr
    assert b"?" in result.stdout  # the Chinese of the demo's poem, as the terminal can show it
    assert b"I'll read both files at the same time." in result.stdout


# --- the fake backend out of the box -------------------------------------------------------------


def _cw(*argv: str | bytes, **env: str) -> Any:
    import os
    import subprocess
    import sys

    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AI_", "CW_", "HUGGINGFACE_"))}
    return subprocess.run(
        [sys.executable, "-c", _CW, *argv],
        env={**clean, "PYTHONIOENCODING": "utf-8", **env},
        capture_output=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )


def test_the_listed_fake_backend_answers_from_the_cli(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cw(capsys, ["run", "--backend", "fake", "hello there"], environ={})
    assert code == 0, err
    assert out == "hello there\n"
    code, out, err = run_cw(capsys, ["run", "--backend", "fake", "--json", "how much?"], environ={})
    assert code == 0, err
    data = json.loads(out)
    assert data["content"] == "how much?"
    assert data["usage"]["completion_tokens"] > 0
    assert data["total_usage"] == data["usage"]


def test_chat_on_the_fake_backend_echoes_each_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("one\ntwo — ça va\n"))
    code, out, err = run_cw(capsys, ["chat", "--backend", "fake"], environ={})
    assert code == 0, err
    assert out == "one\ntwo — ça va\n"


def test_argv_bytes_that_are_not_utf8_reach_the_model_replaced() -> None:
    result = _cw("run", "--backend", "fake", b"\xff abc")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "\ufffd abc\n".encode()
    warnings = result.stderr.decode().splitlines()
    assert len(warnings) == 1
    assert "UTF-8" in warnings[0]
