"""``cw`` end to end: exit codes, stdout, the --json shape, one-line errors, and no leaked key.

Every test runs ``main(argv)`` for real: the container, the Hugging Face adapter, the engine
and `RunAgent` are the production ones; the router is played by ``httpx.MockTransport``
(see conftest), and ``cw demo`` brings its own loopback HTTP server.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.cli.errors import EXIT_CODES, EXIT_INTERRUPTED, EXIT_MAX_TURNS
from adapters.cli.main import main
from adapters.container import Container
from domain.errors import (
    AuthenticationError,
    ConfigError,
    NotSupportedError,
    PermissionDeniedError,
    UnreachableError,
)
from tests.e2e.conftest import HF_KEY, RUN_JSON_FIELDS, Router, hf_environ, lines, text_reply, tool_reply

Build = Callable[..., Container]


def run_cw(
    capsys: pytest.CaptureFixture[str], argv: list[str], container: Container | None = None, **kw: Any
) -> tuple[int, str, str]:
    code = main(argv, container=container, **kw)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_no_key(*outputs: str) -> None:
    for output in outputs:
        assert HF_KEY not in output
        assert HF_KEY[3:] not in output


# --- cw run ------------------------------------------------------------------------------------


def test_run_streams_the_answer_to_stdout(
    capsys: pytest.CaptureFixture[str], router: Router, hf_container: Build
) -> None:
    router.stream(text_reply("Bonjour, 世界! Ça va?"), headers={"x-inference-provider": "together"})
    code, out, err = run_cw(capsys, ["run", "Say hello"], hf_container())
    assert code == 0, err
    assert out == "Bonjour, 世界! Ça va?\n"
    body = router.bodies()[0]
    assert body["stream"] is True
    assert body["messages"][-1] == {"role": "user", "content": "Say hello"}
    assert router.requests[0].headers["authorization"] == f"Bearer {HF_KEY}"
    assert_no_key(out, err)


def test_run_json_is_exactly_one_object_with_the_documented_keys(
    capsys: pytest.CaptureFixture[str], router: Router, hf_container: Build
) -> None:
    router.stream(text_reply("forty-two"))
    code, out, err = run_cw(
        capsys,
        [
            "run",
            "answer?",
            "--json",
            "--system",
            "Be terse.",
            "--model",
            "org/model",
            "--provider",
            "cheapest",
        ],
        hf_container(),
    )
    assert code == 0, err
    data = json.loads(out)  # the whole of stdout is one JSON document
    assert set(data) == RUN_JSON_FIELDS
    assert data["content"] == "forty-two"
    assert data["thinking"] is None
    assert data["finish_reason"] == "stop"
    assert data["usage"] == {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
    assert data["total_usage"] == data["usage"]  # one model call
    assert data["tool_calls"] == []
    assert data["messages"] == [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "answer?"},
        {"role": "assistant", "content": "forty-two"},
    ]
    body = router.bodies()[0]
    assert body["model"] == "org/model:cheapest"
    assert body["messages"][0] == {"role": "system", "content": "Be terse."}


def test_run_with_the_read_tool_runs_it_and_sends_the_result_back(
    capsys: pytest.CaptureFixture[str], router: Router, hf_container: Build, tmp_path: Path
) -> None:
    (tmp_path / "a.txt").write_text("première ligne\nsecond line\n", encoding="utf-8")
    router.stream(
        tool_reply(
            ("call_a", "read", {"file_path": "a.txt"}), ("call_b", "read", {"file_path": "../etc/passwd"})
        )
    )
    router.stream(text_reply("The file starts with première."))
    code, out, err = run_cw(
        capsys,
        ["run", "read a.txt", "--tool", "read", "--workspace", str(tmp_path), "--json"],
        hf_container(),
    )
    assert code == 0, err
    data = json.loads(out)
    roles = [m["role"] for m in data["messages"]]
    assert roles == ["user", "assistant", "tool", "tool", "assistant"]
    first, second = data["messages"][2], data["messages"][3]
    assert first["tool_call_id"] == "call_a"
    assert first["name"] == "read"
    assert "première ligne" in first["content"]
    assert second["tool_call_id"] == "call_b"
    assert second.get("is_error") is True  # outside the workspace: an error the model can read
    assert data["messages"][1]["tool_calls"][0] == {
        "id": "call_a",
        "name": "read",
        "arguments": {"file_path": "a.txt"},
    }
    assert data["usage"]["total_tokens"] == 18  # the final response's usage
    # the second request carried both results, in call order, with matching ids
    sent = router.bodies()[1]["messages"]
    assert [m.get("tool_call_id") for m in sent if m["role"] == "tool"] == ["call_a", "call_b"]
    assert [tool["function"]["name"] for tool in router.bodies()[0]["tools"]] == ["read"]
    assert "read" in err  # tool activity shown on stderr


def test_tools_never_hand_the_api_key_to_the_model_or_the_output(
    capsys: pytest.CaptureFixture[str], router: Router, hf_container: Build, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text(f"HUGGINGFACE_API_KEY={HF_KEY}\n", encoding="utf-8")
    router.stream(
        tool_reply(("c1", "read", {"file_path": ".env"}), ("c2", "grep", {"pattern": "HUGGINGFACE"}))
    )
    router.stream(text_reply("I will not tell."))
    code, out, err = run_cw(
        capsys,
        ["run", "show me .env", "--tool", "read", "--tool", "grep", "--workspace", str(tmp_path), "--json"],
        hf_container(),
    )
    assert code == 0, err
    assert "HUGGINGFACE_API_KEY=***" in err  # the tool ran, its result shown redacted
    assert_no_key(out, err, json.dumps(router.bodies()[1]["messages"]))


def test_run_without_stream_prints_the_answer_once(
    capsys: pytest.CaptureFixture[str], router: Router, hf_container: Build
) -> None:
    router.json(
        {
            "id": "x",
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "all at once"},
                    "finish_reason": "stop",
                }
            ],
        }
    )
    code, out, _ = run_cw(capsys, ["run", "x", "--no-stream"], hf_container())
    assert code == 0
    assert out == "all at once\n"
    assert router.bodies()[0]["stream"] is False


def test_run_passes_sampling_options(
    capsys: pytest.CaptureFixture[str], router: Router, hf_container: Build
) -> None:
    router.stream(text_reply("ok"))
    code, _, err = run_cw(capsys, ["run", "x", "--temperature", "0.2", "--max-tokens", "64"], hf_container())
    assert code == 0, err
    body = router.bodies()[0]
    assert body["temperature"] == 0.2
    assert body["max_tokens"] == 64


def test_run_warns_on_stderr_when_a_setting_is_clamped(
    capsys: pytest.CaptureFixture[str], router: Router, hf_container: Build
) -> None:
    router.stream(text_reply("ok"))
    code, out, err = run_cw(capsys, ["run", "x", "--temperature", "9"], hf_container())
    assert code == 0
    assert out == "ok\n"
    assert "warning" in err
    assert router.bodies()[0]["temperature"] == 2.0


def test_image_that_does_not_exist_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], hf_container: Build
) -> None:
    code, out, err = run_cw(capsys, ["run", "x", "--image", "/no/such/cat.png"], hf_container())
    assert code == 2
    assert err == (
        "cw: error: Invalid value for --image: no such image file: /no/such/cat.png (see 'cw run --help')\n"
    )
    assert out == ""


def test_image_file_is_sent_as_a_data_uri(
    capsys: pytest.CaptureFixture[str], router: Router, hf_container: Build, tmp_path: Path
) -> None:
    image = tmp_path / "dot.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 32)
    router.stream(text_reply("a dot"))
    code, _, err = run_cw(capsys, ["run", "what is it?", "--image", str(image)], hf_container())
    assert code == 0, err
    content = router.bodies()[0]["messages"][-1]["content"]
    assert any(part.get("type") == "image_url" for part in content)
    assert any(
        part["image_url"]["url"].startswith("data:image/png;base64,")
        for part in content
        if "image_url" in part
    )


def test_max_turns_stops_with_its_own_exit_code(
    capsys: pytest.CaptureFixture[str], router: Router, hf_container: Build, tmp_path: Path
) -> None:
    (tmp_path / "a.txt").write_text("x")
    router.stream(tool_reply(("c1", "read", {"file_path": "a.txt"})))
    code, out, err = run_cw(
        capsys,
        ["run", "loop", "--tool", "read", "--workspace", str(tmp_path), "--max-turns", "1", "--json"],
        hf_container(),
    )
    assert code == EXIT_MAX_TURNS
    assert json.loads(out)["tool_calls"][0]["id"] == "c1"
    assert len(lines(err)) >= 1
    assert "--max-turns" in lines(err)[-1]


# --- errors ------------------------------------------------------------------------------------


def test_unknown_backend_is_one_line_listing_the_valid_names(
    capsys: pytest.CaptureFixture[str], hf_container: Build
) -> None:
    code, out, err = run_cw(capsys, ["run", "x", "--backend", "gpt5"], hf_container())
    assert code == EXIT_CODES[ConfigError]
    assert out == ""
    assert len(lines(err)) == 1
    assert err.startswith("cw: error: unknown backend 'gpt5'")
    assert "huggingface" in err


def test_an_unknown_ai_backend_says_to_fix_ai_backend(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cw(capsys, ["run", "x"], environ={"AI_BACKEND": "gpt5"})
    assert code == EXIT_CODES[ConfigError]
    assert out == ""
    assert lines(err) == [
        "cw: error: AI_BACKEND='gpt5' is not a backend; "
        "set AI_BACKEND to one of huggingface, ollama, openai, claude, vllm, fake"
    ]


def test_an_explicit_backend_wins_over_a_stale_ai_backend(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cw(capsys, ["models", "--backend", "fake", "--json"], environ={"AI_BACKEND": "gpt5"})
    assert code == 0, err
    assert [model["name"] for model in json.loads(out)] == ["fake-model"]


def test_missing_key_says_how_to_get_one(capsys: pytest.CaptureFixture[str], hf_container: Build) -> None:
    environ = hf_environ()
    del environ["HUGGINGFACE_API_KEY"]
    code, _, err = run_cw(capsys, ["run", "x"], hf_container(environ))
    assert code == EXIT_CODES[ConfigError]
    assert len(lines(err)) == 1
    assert "HUGGINGFACE_API_KEY" in err
    assert "Traceback" not in err


def test_a_401_echoing_the_key_never_shows_it(
    capsys: pytest.CaptureFixture[str], router: Router, hf_container: Build, tmp_path: Path
) -> None:
    router.json({"error": f"Invalid credentials in Authorization header: Bearer {HF_KEY}"}, status=401)
    code, out, err = run_cw(capsys, ["run", "x"], hf_container())
    assert code == EXIT_CODES[AuthenticationError]
    assert len(lines(err)) == 1
    assert "HUGGINGFACE_API_KEY" in err
    assert_no_key(out, err)


def test_a_403_explains_the_token_permission(
    capsys: pytest.CaptureFixture[str], router: Router, hf_container: Build
) -> None:
    router.json({"error": "forbidden"}, status=403)
    code, _, err = run_cw(capsys, ["run", "x", "--json"], hf_container())
    assert code == EXIT_CODES[PermissionDeniedError]
    assert "Make calls to Inference Providers" in err
    assert len(lines(err)) == 1


def test_unknown_tool_is_a_usage_error(capsys: pytest.CaptureFixture[str], hf_container: Build) -> None:
    code, _, err = run_cw(capsys, ["run", "x", "--tool", "bash"], hf_container())
    assert code == 2
    assert "bash" in err
    assert "read, glob, grep" in err
    assert len(lines(err)) == 1


def test_plain_http_to_a_remote_host_is_refused_before_sending_the_key(
    capsys: pytest.CaptureFixture[str], router: Router, hf_container: Build
) -> None:
    code, _, err = run_cw(
        capsys, ["run", "x", "--base-url", "http://example.com/v1"], None, environ=hf_environ()
    )
    assert code == EXIT_CODES[ConfigError]
    assert "http" in err
    assert router.requests == []


def test_unexpected_errors_are_one_line_without_traceback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, hf_container: Build
) -> None:
    def explode(*args: object, **kwargs: object) -> int:
        raise RuntimeError("kaboom")

    monkeypatch.setattr("adapters.cli.run.run_once", explode)
    code, _, err = run_cw(capsys, ["run", "x"], hf_container())
    assert code == 1
    assert lines(err) == ["cw: error: unexpected RuntimeError: kaboom; please report this as a bug"]


def test_ctrl_c_exits_130_with_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, hf_container: Build
) -> None:
    def interrupt(*args: object, **kwargs: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr("adapters.cli.run.run_once", interrupt)
    code, _, err = run_cw(capsys, ["run", "x"], hf_container())
    assert code == EXIT_INTERRUPTED
    assert lines(err) == ["cw: interrupted"]


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["run"], "Missing argument 'PROMPT'"),
        (["run", "x", "--max-turns", "0"], "--max-turns"),
        (["run", "x", "--temperature", "warm"], "'warm' is not a valid float"),
        (["run", "x", "--bogus"], "No such option '--bogus'"),
        (["run", "x", "--workspace", "/no/such/folder"], "'/no/such/folder' does not exist"),
        (["nosuch"], "No such command 'nosuch'"),
    ],
)
def test_usage_errors_exit_2_with_exactly_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], said: str
) -> None:
    code, out, err = run_cw(capsys, argv, environ={})
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("cw: error: ")
    assert said in err
    assert "--help'" in err  # where to find the right usage


def test_bare_cw_shows_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cw(capsys, [], environ={})
    assert code == 2
    assert "Commands:" in out + err
    assert "cw: error" not in out + err


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cw(capsys, ["--help"], environ={})
    assert code == 0
    for command in ("run", "chat", "backends", "models", "pull", "rm", "show", "ps", "demo"):
        assert f"  {command} " in out or f"  {command}\n" in out


# --- cw chat -----------------------------------------------------------------------------------


def test_chat_reads_piped_lines_and_keeps_the_conversation(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, router: Router, hf_container: Build
) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("first question\n\nsecond question\n/exit\nnever sent\n"))
    router.stream(text_reply("first answer"))
    router.stream(text_reply("second answer"))
    code, out, err = run_cw(capsys, ["chat", "--system", "You are kind."], hf_container())
    assert code == 0, err
    assert out == "first answer\nsecond answer\n"
    assert len(router.requests) == 2
    second = router.bodies()[1]["messages"]
    assert [(m["role"], m["content"]) for m in second] == [
        ("system", "You are kind."),
        ("user", "first question"),
        ("assistant", "first answer"),
        ("user", "second question"),
    ]


def test_chat_json_prints_one_object_per_turn(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, router: Router, hf_container: Build
) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("a\nb\n"))
    router.stream(text_reply("one"))
    router.stream(text_reply("two"))
    code, out, _ = run_cw(capsys, ["chat", "--json"], hf_container())
    assert code == 0
    objects = [json.loads(line) for line in out.splitlines()]
    assert [o["content"] for o in objects] == ["one", "two"]
    assert len(objects[1]["messages"]) == 4


def test_chat_survives_a_failed_turn(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, router: Router, hf_container: Build
) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("a\nb\n"))
    router.json({"error": "bad request: temperature"}, status=400)
    router.stream(text_reply("recovered"))
    code, out, err = run_cw(capsys, ["chat"], hf_container())
    assert code == 0
    assert out == "recovered\n"
    assert len(lines(err)) == 1
    assert err.startswith("cw: error:")


# --- cw backends / models / model management ----------------------------------------------------


def test_backends_json_lists_names_default_capabilities_and_configuration(
    capsys: pytest.CaptureFixture[str], hf_container: Build
) -> None:
    code, out, err = run_cw(capsys, ["backends", "--json"], hf_container())
    assert code == 0, err
    data = json.loads(out)
    assert data["default"] == "huggingface"
    rows = {row["name"]: row for row in data["backends"]}
    assert {"huggingface", "claude"} <= set(rows)
    hf = rows["huggingface"]
    assert hf["configured"] is True
    assert hf["default"] is True
    assert hf["capabilities"]["streaming"] is True
    assert hf["capabilities"]["model_management"] is False
    assert hf["model"] == "meta-llama/Llama-3.1-8B-Instruct"
    assert rows["claude"]["configured"] is False
    assert "ANTHROPIC_API_KEY" in rows["claude"]["problem"]
    assert_no_key(out, err)


def test_backends_shows_what_an_unconfigured_backend_can_do(
    capsys: pytest.CaptureFixture[str], hf_container: Build
) -> None:
    code, out, err = run_cw(capsys, ["backends", "--json"], hf_container())
    assert code == 0, err
    rows = {row["name"]: row for row in json.loads(out)["backends"]}
    for name in ("openai", "claude"):
        assert rows[name]["configured"] is False
        assert rows[name]["capabilities"] == {
            "streaming": True,
            "function_calling": True,
            "vision": True,
            "model_management": False,
            "embeddings": False,
        }
    assert rows["ollama"]["capabilities"]["model_management"] is True


def test_backends_table_is_readable(capsys: pytest.CaptureFixture[str], hf_container: Build) -> None:
    code, out, _ = run_cw(capsys, ["backends"], hf_container())
    assert code == 0
    assert "huggingface (default)" in out
    assert "not configured" in out


def test_models_json_from_the_router(
    capsys: pytest.CaptureFixture[str], router: Router, hf_container: Build
) -> None:
    router.json(
        {
            "object": "list",
            "data": [
                {
                    "id": "Qwen/Qwen3-8B",
                    "owned_by": "Qwen",
                    "providers": [{"provider": "together", "status": "live", "context_length": 32768}],
                }
            ],
        }
    )
    code, out, err = run_cw(capsys, ["models", "--backend", "huggingface", "--json"], hf_container())
    assert code == 0, err
    data = json.loads(out)
    assert data[0]["name"] == "Qwen/Qwen3-8B"
    assert router.requests[0].url.path.endswith("/models")


def test_models_table_falls_back_to_the_curated_list(
    capsys: pytest.CaptureFixture[str], router: Router, hf_container: Build
) -> None:
    router.replies.append(httpx.Response(503, json={"error": "down"}))
    code, out, _ = run_cw(capsys, ["models"], hf_container())
    assert code == 0
    assert "meta-llama/Llama-3.1-8B-Instruct" in out


@pytest.mark.parametrize("key", [None, "sk-not-a-hugging-face-token"])
def test_models_without_a_usable_token_lists_the_curated_models(
    capsys: pytest.CaptureFixture[str], router: Router, hf_container: Build, key: str | None
) -> None:
    environ = {} if key is None else {"HUGGINGFACE_API_KEY": key}
    code, out, err = run_cw(capsys, ["models", "--backend", "huggingface", "--json"], hf_container(environ))
    assert code == 0, err
    names = [model["name"] for model in json.loads(out)]
    assert "meta-llama/Llama-3.1-8B-Instruct" in names
    assert lines(err) == [line for line in lines(err) if "HUGGINGFACE_API_KEY" in line]
    assert len(lines(err)) == 1
    assert "curated list" in err
    assert router.requests == []  # nothing was sent without a valid token
    if key is not None:
        assert key not in out + err


@pytest.mark.parametrize("argv", [["pull", "llama3.1"], ["rm", "llama3.1"], ["show", "llama3.1"], ["ps"]])
def test_model_management_on_hf_is_not_supported(
    capsys: pytest.CaptureFixture[str], hf_container: Build, argv: list[str]
) -> None:
    code, out, err = run_cw(capsys, [*argv, "--backend", "huggingface"], hf_container())
    assert code == EXIT_CODES[NotSupportedError]
    assert out == ""
    assert len(lines(err)) == 1
    assert "does not manage models" in err


# --- cw demo -----------------------------------------------------------------------------------


def test_demo_runs_offline_through_the_real_backend(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cw(capsys, ["demo", "--delay", "0"], environ={})
    assert code == 0, err
    assert "静夜思" in out
    assert "床前明月光" in out
    assert "Chinese Worker" in out
    assert "read" in err  # the tool calls were shown as they ran


def test_demo_json_shows_the_parallel_tool_calls(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cw(capsys, ["demo", "--delay", "0", "--json"], environ={})
    assert code == 0, err
    data = json.loads(out)
    assistant = data["messages"][1]
    assert [call["arguments"]["file_path"] for call in assistant["tool_calls"]] == ["poem.txt", "notes.md"]
    assert [m["tool_call_id"] for m in data["messages"] if m["role"] == "tool"] == [
        "call_demo_poem",
        "call_demo_notes",
    ]
    assert data["thinking"] is None
    assert assistant["thinking"] == "Two files to look at; I can read both at once."
    assert "床前明月光" in data["content"]


# --- the test environment: the scripted fake backend ---------------------------------------------


def test_test_environment_runs_on_the_scripted_fake(capsys: pytest.CaptureFixture[str]) -> None:
    from dependency_injector import providers

    from adapters.container import build_container
    from domain.messages import AIResponse, ToolCall

    container = build_container("test", environ={})
    container.fake_script.override(
        providers.Object(
            [
                AIResponse(
                    content="Let me look.",
                    tool_calls=(ToolCall(id="f1", name="glob", arguments={"pattern": "*.toml"}),),
                    finish_reason="tool_calls",
                ),
                AIResponse(content="Found pyproject.toml — ça marche."),
            ]
        )
    )
    repo = Path(__file__).resolve().parents[2]
    code, out, err = run_cw(
        capsys, ["run", "find toml files", "--tool", "glob", "--workspace", str(repo)], container
    )
    assert code == 0, err
    assert out == "Let me look.\nFound pyproject.toml — ça marche.\n"
    sent = container.fake_transport().requests
    assert len(sent) == 2
    tool_message = next(m for m in sent[1]["messages"] if m["role"] == "tool")
    assert tool_message["tool_call_id"] == "f1"
    assert "pyproject.toml" in tool_message["content"]


def test_test_environment_fake_out_of_script_fails_cleanly(capsys: pytest.CaptureFixture[str]) -> None:
    from adapters.container import build_container

    code, out, err = run_cw(capsys, ["run", "x"], build_container("test", environ={}))
    assert code != 0
    assert out == ""
    assert len(lines(err)) == 1
    assert "--backend huggingface" in err  # what a CLI user can do about it


def test_key_never_reaches_logs(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, router: Router, hf_container: Build
) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    router.json({"error": f"bad token {HF_KEY}"}, status=401)  # models listing fails → logged fallback
    router.json({"error": f"bad token {HF_KEY}"}, status=401)
    run_cw(capsys, ["models", "--json"], hf_container())
    run_cw(capsys, ["run", "x"], hf_container())
    out_err = capsys.readouterr()
    assert_no_key(caplog.text, out_err.out, out_err.err)


# --- Ollama: run, models and model management ---------------------------------------------------


def ndjson(*objects: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(obj).encode() + b"\n" for obj in objects)


def ollama_environ(**extra: str) -> dict[str, str]:
    return {"AI_BACKEND": "ollama", "OLLAMA_MAX_RETRIES": "0", **extra}


def test_run_on_ollama_streams_ndjson(
    capsys: pytest.CaptureFixture[str], router: Router, hf_container: Build
) -> None:
    router.replies.append(
        httpx.Response(
            200,
            headers={"content-type": "application/x-ndjson"},
            content=ndjson(
                {"model": "llama3.1", "message": {"role": "assistant", "content": "Sa"}, "done": False},
                {"model": "llama3.1", "message": {"role": "assistant", "content": "lut ☀"}, "done": False},
                {
                    "model": "llama3.1",
                    "message": {"role": "assistant", "content": ""},
                    "done": True,
                    "done_reason": "stop",
                    "prompt_eval_count": 9,
                    "eval_count": 2,
                },
            ),
        )
    )
    code, out, err = run_cw(capsys, ["run", "hi", "--json"], hf_container(ollama_environ()))
    assert code == 0, err
    data = json.loads(out)
    assert data["content"] == "Salut ☀"
    assert data["usage"] == {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}
    assert router.requests[0].url.path == "/api/chat"
    assert router.bodies()[0]["model"] == "llama3.1"


def test_pull_shows_progress_and_succeeds(
    capsys: pytest.CaptureFixture[str], router: Router, hf_container: Build
) -> None:
    digest = "sha256:" + "ab" * 32
    router.replies.append(
        httpx.Response(
            200,
            headers={"content-type": "application/x-ndjson"},
            content=ndjson(
                {"status": "pulling manifest"},
                {"status": f"pulling {digest[7:19]}", "digest": digest, "total": 4000, "completed": 0},
                {"status": f"pulling {digest[7:19]}", "digest": digest, "total": 4000, "completed": 2500},
                {"status": f"pulling {digest[7:19]}", "digest": digest, "total": 4000, "completed": 4000},
                {"status": "verifying sha256 digest"},
                {"status": "writing manifest"},
                {"status": "success"},
            ),
        )
    )
    code, out, err = run_cw(capsys, ["pull", "llama3.2"], hf_container(ollama_environ()))
    assert code == 0, err
    assert out == "pulled llama3.2\n"
    assert digest[7:19] in err  # the per-layer bar
    assert "4.0 kB" in err  # sizes in the bar
    assert router.requests[0].url.path == "/api/pull"
    assert router.bodies()[0]["model"] == "llama3.2"


def test_pull_failure_is_one_clean_line(
    capsys: pytest.CaptureFixture[str], router: Router, hf_container: Build
) -> None:
    router.replies.append(
        httpx.Response(
            200,
            headers={"content-type": "application/x-ndjson"},
            content=ndjson(
                {"status": "pulling manifest"}, {"error": "pull model manifest: file does not exist"}
            ),
        )
    )
    code, out, err = run_cw(capsys, ["pull", "nope-model"], hf_container(ollama_environ()))
    assert code != 0
    assert out == ""
    assert lines(err)[-1].startswith("cw: error:")
    assert "file does not exist" in lines(err)[-1] or "nope-model" in lines(err)[-1]
    assert "Traceback" not in err


def test_pull_when_ollama_is_not_running_says_so(
    capsys: pytest.CaptureFixture[str], hf_container: Build
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Connection refused", request=request)

    container = hf_container(ollama_environ())
    from dependency_injector import providers

    container.http_transport.override(providers.Object(httpx.MockTransport(refuse)))
    code, _, err = run_cw(capsys, ["pull", "llama3.1"], container)
    assert code == EXIT_CODES[UnreachableError]
    assert "ollama serve" in err
    assert len(lines(err)) == 1


def test_rm_show_and_ps(capsys: pytest.CaptureFixture[str], router: Router, hf_container: Build) -> None:
    router.replies.append(httpx.Response(200))
    code, out, err = run_cw(capsys, ["rm", "llama3.1"], hf_container(ollama_environ()))
    assert code == 0, err
    assert out == "deleted llama3.1\n"
    assert router.requests[-1].method == "DELETE"

    router.json(
        {
            "parameters": "stop <|eot_id|>",
            "template": "{{ .Prompt }}",
            "details": {"family": "llama", "parameter_size": "8.0B", "quantization_level": "Q4_K_M"},
            "model_info": {"general.architecture": "llama", "llama.context_length": 131072},
            "capabilities": ["completion", "tools"],
        }
    )
    code, out, err = run_cw(capsys, ["show", "llama3.1", "--json"], hf_container(ollama_environ()))
    assert code == 0, err
    shown = json.loads(out)
    assert shown["name"] == "llama3.1"
    assert shown["context_length"] == 131072
    assert "tools" in shown["capabilities"]

    router.json(
        {
            "models": [
                {"name": "llama3.1:latest", "model": "llama3.1:latest", "size": 6_000_000_000, "digest": "d"}
            ]
        }
    )
    code, out, err = run_cw(capsys, ["ps", "--json"], hf_container(ollama_environ()))
    assert code == 0, err
    assert [model["name"] for model in json.loads(out)] == ["llama3.1:latest"]

    router.json({"models": []})
    code, out, _ = run_cw(capsys, ["ps"], hf_container(ollama_environ()))
    assert code == 0


def test_models_on_ollama_with_base_url(
    capsys: pytest.CaptureFixture[str], router: Router, hf_container: Build
) -> None:
    router.json(
        {
            "models": [
                {
                    "name": "qwen3:8b",
                    "model": "qwen3:8b",
                    "size": 5_200_000_000,
                    "digest": "abc",
                    "modified_at": "2026-01-01T00:00:00Z",
                    "details": {"family": "qwen3", "parameter_size": "8.2B", "quantization_level": "Q4_K_M"},
                }
            ]
        }
    )
    code, out, err = run_cw(capsys, ["models", "--backend", "ollama"], hf_container(ollama_environ()))
    assert code == 0, err
    assert "qwen3:8b" in out
    assert "5.2 GB" in out
    assert router.requests[0].url.path == "/api/tags"


def test_base_url_option_reaches_the_backend(capsys: pytest.CaptureFixture[str], router: Router) -> None:
    """--base-url overrides the setting: here for real, against an unreachable loopback port."""
    code, _, err = run_cw(
        capsys, ["ps", "--backend", "ollama", "--base-url", "http://127.0.0.1:9"], environ=ollama_environ()
    )
    assert code == EXIT_CODES[UnreachableError]
    assert "127.0.0.1:9" in err


# --- OpenAI and Claude ---------------------------------------------------------------------------

OPENAI_KEY = "sk-" + "OpenAISecret" * 3
ANTHROPIC_KEY = "sk-ant-" + "ClaudeSecret" * 3


def test_run_on_openai(capsys: pytest.CaptureFixture[str], router: Router, hf_container: Build) -> None:
    router.stream(text_reply("from gpt"))
    code, out, err = run_cw(
        capsys,
        ["run", "hi", "--backend", "openai", "--model", "gpt-4o-mini"],
        hf_container({"OPENAI_API_KEY": OPENAI_KEY, "OPENAI_MAX_RETRIES": "0"}),
    )
    assert code == 0, err
    assert out == "from gpt\n"
    assert router.requests[0].url.host == "api.openai.com"
    assert router.bodies()[0]["model"] == "gpt-4o-mini"
    assert OPENAI_KEY not in out + err


def test_run_on_claude(capsys: pytest.CaptureFixture[str], router: Router, hf_container: Build) -> None:
    events = [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_1",
                    "type": "message",
                    "role": "assistant",
                    "model": "claude-sonnet-4-5",
                    "content": [],
                    "stop_reason": None,
                    "usage": {"input_tokens": 10, "output_tokens": 1},
                },
            },
        ),
        (
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        ),
        (
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Bonjour "}},
        ),
        (
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "de Claude"}},
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "message_delta",
            {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 5}},
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    body = "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events).encode()
    router.stream(body)
    code, out, err = run_cw(
        capsys,
        ["run", "hi", "--backend", "claude", "--json"],
        hf_container({"ANTHROPIC_API_KEY": ANTHROPIC_KEY, "ANTHROPIC_MAX_RETRIES": "0"}),
    )
    assert code == 0, err
    data = json.loads(out)
    assert data["content"] == "Bonjour de Claude"
    assert data["usage"]["prompt_tokens"] == 10
    assert router.requests[0].url.path == "/v1/messages"
    assert ANTHROPIC_KEY not in out + err


def test_backends_lists_every_registered_one(capsys: pytest.CaptureFixture[str], hf_container: Build) -> None:
    code, out, _ = run_cw(capsys, ["backends", "--json"], hf_container({"OPENAI_API_KEY": OPENAI_KEY}))
    assert code == 0
    rows = {row["name"]: row for row in json.loads(out)["backends"]}
    assert list(rows) == ["huggingface", "ollama", "openai", "claude", "vllm", "fake"]
    assert rows["ollama"]["configured"] is True
    assert rows["vllm"]["configured"] is True  # a local server needs no key
    assert rows["vllm"]["capabilities"]["model_management"] is False
    assert rows["ollama"]["capabilities"]["model_management"] is True
    assert rows["openai"]["configured"] is True
    assert rows["huggingface"]["configured"] is False
    assert OPENAI_KEY not in out


def test_ctrl_c_during_a_chat_turn_stops_that_answer_only(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real SIGINT arrives while a tool runs; the chat goes on with its history intact."""
    import io
    import os
    import signal

    from dependency_injector import providers

    from adapters.container import build_container
    from domain.messages import AIResponse, ToolCall

    async def press_ctrl_c() -> str:
        """Interrupt the process."""
        os.kill(os.getpid(), signal.SIGINT)
        import asyncio

        await asyncio.sleep(5)  # cancelled long before this ends
        return "never"

    container = build_container("test", environ={})
    container.app_tools.override(providers.Object([press_ctrl_c]))
    container.fake_script.override(
        providers.Object(
            [
                AIResponse(tool_calls=(ToolCall(id="k1", name="press_ctrl_c"),), finish_reason="tool_calls"),
                AIResponse(content="still here"),
            ]
        )
    )
    monkeypatch.setattr("sys.stdin", io.StringIO("first\nsecond\n"))
    code, out, err = run_cw(capsys, ["chat", "--tool", "press_ctrl_c"], container)
    assert code == 0, err
    assert out.endswith("still here\n")
    assert "interrupted; the conversation goes on" in err
    second = container.fake_transport().requests[1]["messages"]
    assert [m["content"] for m in second if m["role"] == "user"] == ["first", "second"]


def test_run_reads_the_prompt_from_stdin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, router: Router, hf_container: Build
) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("a prompt\nover two lines\n"))
    router.stream(text_reply("ok"))
    code, out, _ = run_cw(capsys, ["run", "-"], hf_container())
    assert code == 0
    assert out == "ok\n"
    assert router.bodies()[0]["messages"][-1]["content"] == "a prompt\nover two lines\n"


def test_empty_prompt_is_a_usage_error(capsys: pytest.CaptureFixture[str], hf_container: Build) -> None:
    code, _, err = run_cw(capsys, ["run", "  "], hf_container())
    assert code == 2
    assert err.count("\n") == 1
    assert "empty" in err


def test_real_ctrl_c_during_cw_run_exits_130(capsys: pytest.CaptureFixture[str]) -> None:
    import os
    import signal

    from dependency_injector import providers

    from adapters.container import build_container
    from domain.messages import AIResponse, ToolCall

    async def press_ctrl_c() -> str:
        """Interrupt the process."""
        import asyncio

        os.kill(os.getpid(), signal.SIGINT)
        await asyncio.sleep(5)
        return "never"

    container = build_container("test", environ={})
    container.app_tools.override(providers.Object([press_ctrl_c]))
    container.fake_script.override(
        providers.Object(
            [AIResponse(tool_calls=(ToolCall(id="k", name="press_ctrl_c"),), finish_reason="tool_calls")]
        )
    )
    code, out, err = run_cw(capsys, ["run", "x", "--tool", "press_ctrl_c"], container)
    assert code == EXIT_INTERRUPTED
    assert out == ""
    assert lines(err)[-1] == "cw: interrupted"


def test_key_from_dotenv_is_used_but_never_written_anywhere(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, router: Router, tmp_path: Path
) -> None:
    """The real entry path: the key comes from ./.env; afterwards no other file holds it."""
    from dependency_injector import providers

    import adapters.container as container_module

    (tmp_path / ".env").write_text(f"HUGGINGFACE_API_KEY={HF_KEY}\nHUGGINGFACE_MAX_RETRIES=0\n")
    (tmp_path / "notes.txt").write_text("hello")
    monkeypatch.chdir(tmp_path)
    real_build = container_module.build_container

    def build_on_router(*args: Any, **kwargs: Any) -> Container:
        container = real_build(*args, **kwargs)
        container.http_transport.override(providers.Object(router.transport()))
        return container

    monkeypatch.setattr(container_module, "build_container", build_on_router)
    router.stream(tool_reply(("r1", "read", {"file_path": "notes.txt"})))
    router.stream(text_reply("done"))
    code, out, err = run_cw(capsys, ["run", "x", "--tool", "read", "--json"])
    assert code == 0, err
    assert router.requests[0].headers["authorization"] == f"Bearer {HF_KEY}"
    assert_no_key(out, err)
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.name != ".env":
            assert HF_KEY not in path.read_text(errors="replace"), path
