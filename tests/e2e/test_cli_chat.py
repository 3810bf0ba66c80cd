"""``cw chat``: Ctrl-C during an answer, the chat's own commands, and piped output.

Ctrl-C is a real SIGINT sent to this process at a known point of the answer (when its first
text reaches stdout), so the interrupt goes through asyncio's own handling exactly as a
user's would. The router is ``httpx.MockTransport``; its first reply streams some text and
then stalls until the client goes away.
"""

from __future__ import annotations

import asyncio
import io
import os
import signal
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from dependency_injector import providers

from adapters.cli.main import main
from adapters.cli.run import INTERRUPTED_MARK
from adapters.container import build_container
from adapters.settings import Settings
from domain.messages import AIResponse
from tests.e2e.conftest import Router, chunk, hf_environ, lines, sse, text_reply


class CtrlCOnOutput(io.StringIO):
    """A piped stdout that presses Ctrl-C (a real SIGINT) the first time ``trigger`` is written."""

    def __init__(self, trigger: str) -> None:
        super().__init__()
        self.trigger = trigger
        self.pressed = False

    def write(self, text: str) -> int:
        written = super().write(text)
        if not self.pressed and self.trigger in text:
            self.pressed = True
            os.kill(os.getpid(), signal.SIGINT)
        return written

    def isatty(self) -> bool:
        return False


def _stalling_reply(text: str) -> httpx.Response:
    """Streams ``text`` as one delta, then sends nothing more until the client closes."""

    async def body() -> AsyncIterator[bytes]:
        yield sse(chunk({"role": "assistant", "content": ""}), chunk({"content": text}))
        await asyncio.Event().wait()
        yield b""  # pragma: no cover - never reached

    return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body())


def _chat(
    monkeypatch: pytest.MonkeyPatch, router: Router, stdin: str, stdout: io.StringIO | None = None
) -> tuple[int, str, str, Any]:
    container = build_container(settings=Settings.load(hf_environ()))
    container.http_transport.override(providers.Object(router.transport()))
    out = stdout or io.StringIO()
    err = io.StringIO()
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    monkeypatch.setattr("sys.stdout", out)
    monkeypatch.setattr("sys.stderr", err)
    code = main(["chat"], container=container)
    return code, out.getvalue(), err.getvalue(), container


def test_ctrl_c_keeps_the_partial_answer_marked_interrupted_and_the_chat_goes_on(
    monkeypatch: pytest.MonkeyPatch, router: Router
) -> None:
    router.replies.append(lambda request: _stalling_reply("The answer starts"))
    router.stream(text_reply("still here"))
    stdout = CtrlCOnOutput("The answer starts")
    code, out, err, _ = _chat(monkeypatch, router, "first\nsecond\n/exit\n", stdout)
    assert stdout.pressed
    assert code == 0, err  # /exit after a Ctrl-C leaves normally
    # piped output: the interrupted answer ends its line before the next one starts
    assert out == "The answer starts\nstill here\n"
    assert "interrupted; the conversation goes on" in err
    second = router.bodies()[1]["messages"]
    assert [(m["role"], m["content"]) for m in second] == [
        ("user", "first"),
        ("assistant", f"The answer starts\n\n{INTERRUPTED_MARK}"),
        ("user", "second"),
    ]


def test_ctrl_c_before_any_text_still_keeps_the_turns_alternating(
    monkeypatch: pytest.MonkeyPatch, router: Router
) -> None:
    def press_ctrl_c_then_stall(request: httpx.Request) -> httpx.Response:
        os.kill(os.getpid(), signal.SIGINT)  # as soon as the request is sent: nothing printed yet
        return _stalling_reply("")

    router.replies.append(press_ctrl_c_then_stall)
    router.stream(text_reply("ok"))
    code, out, err, _ = _chat(monkeypatch, router, "first\nsecond\n")
    assert code == 0, err
    assert out == "ok\n"
    second = router.bodies()[1]["messages"]
    assert [m["role"] for m in second] == ["user", "assistant", "user"]
    assert second[1]["content"] == INTERRUPTED_MARK


def test_help_and_clear_are_commands_not_messages(monkeypatch: pytest.MonkeyPatch, router: Router) -> None:
    router.stream(text_reply("one"))
    router.stream(text_reply("two"))
    code, out, err, _ = _chat(monkeypatch, router, "hello\n/help\n/clear\nagain\n/HELP\n/exit\n")
    assert code == 0, err
    assert out == "one\ntwo\n"
    assert len(router.requests) == 2  # neither /help nor /clear reached the model
    assert "/clear" in err
    assert "/exit" in err
    assert "cleared" in err
    second = router.bodies()[1]["messages"]
    assert [(m["role"], m["content"]) for m in second] == [("user", "again")]  # a new conversation


def test_an_unknown_command_is_not_sent_but_a_path_is_a_message(
    monkeypatch: pytest.MonkeyPatch, router: Router
) -> None:
    router.stream(text_reply("it is a hosts file"))
    code, out, err, _ = _chat(monkeypatch, router, "/frobnicate\n/etc/hosts?\n")
    assert code == 0, err
    assert out == "it is a hosts file\n"
    assert [body["messages"][-1]["content"] for body in router.bodies()] == ["/etc/hosts?"]
    assert [line for line in lines(err) if "/frobnicate" in line] == [
        "cw: unknown command /frobnicate; /help lists the commands"
    ]


def test_a_chat_line_that_is_not_utf8_is_replaced_with_a_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    container = build_container("test", environ={})
    container.fake_script.override(providers.Object([AIResponse(content="ok")]))
    stdin = io.TextIOWrapper(io.BytesIO(b"caf\xe9\n"), encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr("sys.stdin", stdin)
    monkeypatch.setattr("sys.stdout", out)
    monkeypatch.setattr("sys.stderr", err)
    code = main(["chat"], container=container)
    assert code == 0, err.getvalue()
    assert out.getvalue() == "ok\n"
    assert container.fake_transport().requests[0]["messages"][-1]["content"] == "caf\ufffd"
    assert "UTF-8" in err.getvalue()
