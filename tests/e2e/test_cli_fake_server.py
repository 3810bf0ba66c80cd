"""``cw fake-server``: a newcomer tries every command offline, against a real socket.

The server runs as a real ``cw`` process; the client is ``main(argv)`` in this process, as a
user in another terminal would run it, pointed at the printed URL with ``--base-url``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.cli.fake_server import PROTOCOLS
from adapters.cli.main import main

REPO = Path(__file__).resolve().parents[2]
_CW = "import sys; from adapters.cli.main import main; sys.exit(main())"


def _start(*argv: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AI_", "CW_"))}
    return subprocess.Popen(
        [sys.executable, "-c", _CW, "fake-server", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
        env=env,
    )


@pytest.fixture(params=list(PROTOCOLS))
def served(request: pytest.FixtureRequest) -> Iterator[tuple[str, str, subprocess.Popen[bytes]]]:
    protocol: str = request.param
    process = _start("--protocol", protocol)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().decode().strip()  # the one line on stdout
        assert url.startswith("http://127.0.0.1:"), process.stderr.read() if process.stderr else b""
        yield protocol, url, process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(30)


def test_every_protocol_answers_run_chat_and_no_stream_over_a_real_socket(
    served: tuple[str, str, subprocess.Popen[bytes]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import io

    protocol, url, process = served
    environ = {"CW_ENV": "production", **PROTOCOLS[protocol].env}
    base = ["--backend", protocol, "--base-url", url]

    code = main(["run", *base, "Bonjour, 世界!"], environ=environ)
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out == "Bonjour, 世界!\n"

    code = main(["run", *base, "--no-stream", "--json", "whole"], environ=environ)
    out, err = capsys.readouterr()
    assert code == 0, err
    assert '"content": "whole"' in out

    monkeypatch.setattr("sys.stdin", io.StringIO("one\ntwo\n"))
    code = main(["chat", *base], environ=environ)
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out == "one\ntwo\n"

    code = main(["models", *base], environ=environ)
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.strip()

    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0
    assert process.stderr is not None
    said = process.stderr.read().decode()
    assert f"--base-url {url}" in said  # it told the newcomer what to type
    assert said.rstrip().endswith("cw fake-server: stopped")


def test_ctrl_c_stops_the_server_with_exit_0() -> None:
    process = _start("--protocol", "ollama")
    try:
        assert process.stdout is not None
        assert process.stdout.readline().startswith(b"http://127.0.0.1:")
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()


def test_a_port_in_use_is_one_usage_error_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = _start("--port", str(port))
        _, err = process.communicate(timeout=60)
    assert process.returncode == 2
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1
    assert f"127.0.0.1:{port}" in lines[0]


def test_help_lists_the_fake_server_with_its_protocols(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"], environ={}) == 0
    assert "fake-server" in capsys.readouterr().out
    assert main(["fake-server", "--help"], environ={}) == 0
    out = capsys.readouterr().out
    for protocol in ("huggingface", "openai", "claude", "ollama"):
        assert protocol in out


def test_shell_completion_works_as_the_readme_documents_it() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert 'eval "$(_CW_COMPLETE=bash_source cw)"' in readme
    env = {**os.environ, "_CW_COMPLETE": "bash_complete", "COMP_WORDS": "cw fake-s", "COMP_CWORD": "1"}
    result = subprocess.run(
        [sys.executable, "-c", _CW], env=env, capture_output=True, cwd=REPO, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().split() == ["plain,fake-server"]
    source = subprocess.run(
        [sys.executable, "-c", _CW],
        env={**os.environ, "_CW_COMPLETE": "bash_source"},
        capture_output=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert b"complete -o nosort -F" in source.stdout


def test_the_readme_offline_section_runs_as_written(capsys: pytest.CaptureFixture[str]) -> None:
    """The README's offline commands, against a fake Ollama on a free port."""
    process = _start("--protocol", "ollama")
    try:
        assert process.stdout is not None
        url = process.stdout.readline().decode().strip()
        for argv, expected in (
            (["run", "--backend", "fake", "Hello, offline!"], "Hello, offline!\n"),
            (["run", "--backend", "ollama", "--base-url", url, "Bonjour"], "Bonjour\n"),
            (["pull", "qwen3:0.6b", "--backend", "ollama", "--base-url", url], None),
            (["models", "--backend", "ollama", "--base-url", url], None),
        ):
            code = main(argv, environ={})
            out, err = capsys.readouterr()
            assert code == 0, (argv, err)
            if expected is not None:
                assert out == expected
        assert "qwen3:0.6b" in out  # the pulled model is listed
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
