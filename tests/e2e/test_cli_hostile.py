"""``cw`` against bad keys and hostile servers: the right exit code, one line, never a key (issues 8, 9)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from adapters.cli.errors import EXIT_CODES
from adapters.container import Container
from domain.errors import ConfigError, StreamError, TruncatedStreamError
from tests.e2e.conftest import HF_KEY, Router, hf_environ, lines, run_cw, text_reply

Build = Callable[..., Container]

KEY_VARIABLES = {
    "huggingface": "HUGGINGFACE_API_KEY",
    "openai": "OPENAI_API_KEY",
    "claude": "ANTHROPIC_API_KEY",
}


@pytest.mark.parametrize("key", ["hf_abc\nX-Evil: 1", "hf_abcé", "hf_ab c"])
@pytest.mark.parametrize("backend", sorted(KEY_VARIABLES))
@pytest.mark.parametrize("command", [["run", "hello"], ["models"]])
def test_a_key_that_cannot_be_a_header_is_a_config_error_naming_the_variable_not_the_value(
    capsys: pytest.CaptureFixture[str], backend: str, key: str, command: list[str]
) -> None:
    variable = KEY_VARIABLES[backend]
    environ = {"CW_ENV": "production", "AI_BACKEND": backend, variable: key}
    code, out, err = run_cw(capsys, [*command, "--backend", backend], environ=environ)
    if command[0] == "models" and backend == "huggingface":
        assert code == 0, err  # the router's curated list needs no token; the warning says what is wrong
    else:
        assert code == EXIT_CODES[ConfigError], err  # was "unreachable" (19) after retries, or a crash (1)
    assert variable in err
    assert len(lines(err)) == 1
    for shown in (out, err):
        assert "abc" not in shown
        assert "Evil" not in shown
        assert "Traceback" not in shown


def test_model_text_repeating_the_key_is_scrubbed_even_split_across_chunks(
    capsys: pytest.CaptureFixture[str], router: Router, hf_container: Build
) -> None:
    router.stream(text_reply(f"Your key is {HF_KEY}, keep it safe.", pieces=7))
    code, out, err = run_cw(capsys, ["run", "what is my key?"], container=hf_container())
    assert code == 0, err
    assert HF_KEY not in out
    assert HF_KEY[3:12] not in out
    assert out == "Your key is ***, keep it safe.\n"


def test_a_huge_error_body_exits_with_the_malformed_reply_code(
    capsys: pytest.CaptureFixture[str], router: Router, hf_container: Build
) -> None:
    router.replies.append(httpx.Response(502, content=b"<html>" + b"x" * (8 * 1024 * 1024)))
    code, _, err = run_cw(
        capsys, ["run", "x"], container=hf_container(hf_environ(CW_MAX_ERROR_BODY_BYTES="65536"))
    )
    assert code == EXIT_CODES[StreamError] == 22
    assert "CW_MAX_ERROR_BODY_BYTES" in err
    assert len(lines(err)) == 1


def test_a_stream_cut_mid_line_exits_as_cut_off(
    capsys: pytest.CaptureFixture[str], router: Router, hf_container: Build
) -> None:
    router.stream(b'data: {"choices":[{"index":0,"delta":{"content":"Hel')
    code, _, err = run_cw(capsys, ["run", "x"], container=hf_container())
    assert code == EXIT_CODES[TruncatedStreamError] == 23, err


def test_a_base_url_with_a_password_is_refused_without_showing_it(capsys: pytest.CaptureFixture[str]) -> None:
    environ = hf_environ(HUGGINGFACE_BASE_URL="https://bob:hunter22@router.example.com/v1")
    code, out, err = run_cw(capsys, ["run", "x"], environ=environ)
    assert code == EXIT_CODES[ConfigError]
    assert "HUGGINGFACE_BASE_URL" in err
    assert "hunter22" not in out + err
