"""``cw run --backend openai|claude --base-url`` against a real loopback server, as a user runs it.

The server is a plain ``http.server`` on 127.0.0.1 in a thread (``main`` runs its own event
loop), serving bytes rendered by the fake's wire renderers: the whole production path — the
CLI, the container, the adapter, the engine, the agent loop and the builtin ``read`` tool —
runs over a real socket.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import attrs
import pytest

from adapters.cli.errors import EXIT_CODES
from adapters.llm._sse import ServerSentEvent, render_sse
from adapters.llm.anthropic import wire as anthropic_wire
from adapters.llm.openai_compatible import wire as openai_wire
from domain.errors import PermissionDeniedError
from domain.messages import AIResponse, FinishReason, ThinkingBlock, ToolCall, Usage
from tests.e2e.conftest import run_cw

OPENAI_KEY = "sk-proj-" + "LoopbackSecret" * 3
ANTHROPIC_KEY = "sk-ant-api03-" + "LoopbackSecret" * 3


@attrs.define
class _Reply:
    body: bytes
    status: int = 200
    content_type: str = "text/event-stream"


@attrs.define
class Loopback:
    """Scripted replies served in order; every request recorded."""

    url: str = ""
    replies: list[_Reply] = attrs.field(factory=list)
    requests: list[dict[str, Any]] = attrs.field(factory=list)

    def sse(self, body: bytes) -> None:
        self.replies.append(_Reply(body))

    def json(self, payload: Any, status: int = 200) -> None:
        self.replies.append(_Reply(json.dumps(payload).encode(), status, "application/json"))

    def bodies(self) -> list[Any]:
        return [request["body"] for request in self.requests]


@pytest.fixture
def loopback() -> Iterator[Loopback]:
    state = Loopback()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            state.requests.append(
                {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body}
            )
            reply = state.replies.pop(0) if state.replies else _Reply(b"{}", 404, "application/json")
            self.send_response(reply.status)
            self.send_header("content-type", reply.content_type)
            self.send_header("content-length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def claude_stream(response: AIResponse) -> bytes:
    payloads = anthropic_wire.render_stream(response, fragment=4)
    return render_sse(ServerSentEvent(event=p["type"], data=json.dumps(p)) for p in payloads)


def read_call(call_id: str, path: str) -> ToolCall:
    return ToolCall(id=call_id, name="read", arguments={"file_path": path})


USAGE = Usage(prompt_tokens=30, completion_tokens=8, total_tokens=38)


def test_claude_two_tool_turns_keep_ids_signatures_and_errors(
    capsys: pytest.CaptureFixture[str], loopback: Loopback, tmp_path: Path
) -> None:
    (tmp_path / "notes.txt").write_text("première ligne\n", encoding="utf-8")
    for turn, path in ((1, "notes.txt"), (2, "missing.txt")):
        loopback.sse(
            claude_stream(
                AIResponse(
                    content="Reading.",
                    thinking_blocks=(ThinkingBlock(text=f"step {turn}", signature=f"sig-{turn}"),),
                    tool_calls=(read_call(f"toolu_0{turn}", path),),
                    finish_reason=FinishReason.TOOL_CALLS,
                    usage=USAGE,
                )
            )
        )
    loopback.sse(claude_stream(AIResponse(content="Done — première.", usage=USAGE)))
    argv = ["run", "read", "--backend", "claude", "--base-url", loopback.url, "--tool", "read"]
    argv += ["--workspace", str(tmp_path), "--json", "--temperature", "0.4"]
    environ = {"ANTHROPIC_API_KEY": ANTHROPIC_KEY, "ANTHROPIC_THINKING_BUDGET": "2048"}
    code, out, err = run_cw(capsys, argv, environ=environ)

    assert code == 0, err
    assert json.loads(out)["content"] == "Done — première."
    assert [r["path"] for r in loopback.requests] == ["/v1/messages"] * 3
    headers = loopback.requests[0]["headers"]
    assert headers["x-api-key"] == ANTHROPIC_KEY
    assert headers["anthropic-version"] == "2023-06-01"
    first = loopback.bodies()[0]
    assert first["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert "temperature" not in first  # extended thinking forbids it
    assert first["max_tokens"] > 2048
    sent = loopback.bodies()[2]["messages"]
    assistants = [m["content"] for m in sent if m["role"] == "assistant"]
    assert [blocks[0] for blocks in assistants] == [
        {"type": "thinking", "thinking": "step 1", "signature": "sig-1"},
        {"type": "thinking", "thinking": "step 2", "signature": "sig-2"},
    ]
    assert [b["id"] for blocks in assistants for b in blocks if b["type"] == "tool_use"] == [
        "toolu_01",
        "toolu_02",
    ]
    results = [
        b for m in sent if m["role"] == "user" and isinstance(m["content"], list) for b in m["content"]
    ]
    assert [(b["tool_use_id"], b.get("is_error", False)) for b in results] == [
        ("toolu_01", False),
        ("toolu_02", True),
    ]
    assert "première ligne" in results[0]["content"]
    assert ANTHROPIC_KEY not in out + err


def test_claude_overloaded_event_before_any_text_is_retried(
    capsys: pytest.CaptureFixture[str], loopback: Loopback
) -> None:
    start = anthropic_wire.render_stream(AIResponse(content="x"))[0]
    overloaded = anthropic_wire.render_error("overloaded_error", "Overloaded")
    loopback.sse(
        render_sse(
            [
                ServerSentEvent(event="message_start", data=json.dumps(start)),
                ServerSentEvent(event="error", data=json.dumps(overloaded)),
            ]
        )
    )
    loopback.sse(claude_stream(AIResponse(content="Bonjour", usage=USAGE)))
    code, out, err = run_cw(
        capsys,
        ["run", "hi", "--backend", "claude", "--base-url", loopback.url],
        environ={"ANTHROPIC_API_KEY": ANTHROPIC_KEY},
    )
    assert code == 0, err
    assert out == "Bonjour\n"
    assert len(loopback.requests) == 2


def test_openai_reasoning_model_two_tool_turns(
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    loopback: Loopback,
    tmp_path: Path,
) -> None:
    (tmp_path / "a.txt").write_text("alpha\n", encoding="utf-8")
    for call_id, path in (("call_A", "a.txt"), ("call_B", "b.txt")):
        reply = AIResponse(
            tool_calls=(read_call(call_id, path),), finish_reason=FinishReason.TOOL_CALLS, usage=USAGE
        )
        loopback.sse(openai_wire.render_stream_bytes(reply, chunk_size=3))
    loopback.sse(openai_wire.render_stream_bytes(AIResponse(content="alpha it is", usage=USAGE)))
    argv = ["run", "read a", "--backend", "openai", "--base-url", loopback.url, "--model", "o3-mini"]
    argv += ["--temperature", "0.5", "--max-tokens", "300", "--tool", "read", "--workspace", str(tmp_path)]
    environ = {
        "OPENAI_API_KEY": OPENAI_KEY,
        "OPENAI_ORGANIZATION": "org-42",
        "OPENAI_REASONING_EFFORT": "low",
    }
    code, out, err = run_cw(capsys, argv, environ=environ)

    assert code == 0, err
    assert out.endswith("alpha it is\n")
    assert [r["path"] for r in loopback.requests] == ["/v1/chat/completions"] * 3
    headers = loopback.requests[0]["headers"]
    assert headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert headers["openai-organization"] == "org-42"
    for body in loopback.bodies():
        assert body["max_completion_tokens"] == 300
        assert body["reasoning_effort"] == "low"
        assert "temperature" not in body
        assert "max_tokens" not in body
    assert "temperature is not accepted by the reasoning model o3-mini" in caplog.text
    sent = loopback.bodies()[2]["messages"]
    asked = [c["id"] for m in sent if m["role"] == "assistant" for c in m.get("tool_calls") or []]
    answered = [m["tool_call_id"] for m in sent if m["role"] == "tool"]
    assert asked == answered == ["call_A", "call_B"]
    assert OPENAI_KEY not in out + err


def test_openai_insufficient_quota_is_one_request_and_says_to_add_credit(
    capsys: pytest.CaptureFixture[str], loopback: Loopback
) -> None:
    error = {
        "message": "You exceeded your current quota.",
        "type": "insufficient_quota",
        "code": "insufficient_quota",
    }
    loopback.json({"error": error}, status=429)
    code, out, err = run_cw(
        capsys,
        ["run", "hi", "--backend", "openai", "--base-url", loopback.url],
        environ={"OPENAI_API_KEY": OPENAI_KEY},
    )
    assert code == EXIT_CODES[PermissionDeniedError]
    assert out == ""
    assert "quota" in err
    assert "billing" in err
    assert len(loopback.requests) == 1
