"""Helpers for driving ``cw`` end to end: a router played by ``httpx.MockTransport``.

The CLI runs for real (``main(argv)``), builds the real container, the real
`HuggingFaceLLM` and the real `RunAgent`; only the socket is replaced — by a transport that
answers like the Hugging Face router, in SSE bytes, and records every request it got.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import attrs
import httpx
import pytest
from dependency_injector import providers

from adapters.cli.main import main
from adapters.container import Container, build_container
from adapters.settings import Settings

HF_KEY = "hf_" + "TopSecretToken" * 3
"""A well-formed token that must never appear in any output."""

RUN_JSON_FIELDS = frozenset(
    {"content", "thinking", "finish_reason", "usage", "total_usage", "model", "tool_calls", "messages"}
)
"""The keys of ``cw run --json``'s document, exactly (as documented)."""


def sse(*payloads: Mapping[str, Any] | str) -> bytes:
    """SSE bytes: one ``data:`` event per payload (a string is sent as is, e.g. ``[DONE]``)."""
    out = []
    for payload in payloads:
        data = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
        out.append(f"data: {data}\n\n")
    return "".join(out).encode()


def chunk(delta: Mapping[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": "x",
        "model": "m",
        "choices": [{"index": 0, "delta": dict(delta), "finish_reason": finish}],
        **extra,
    }


def text_reply(text: str, *, pieces: int = 3) -> bytes:
    """A streamed answer split into ``pieces`` deltas, with usage and ``[DONE]``."""
    size = max(1, len(text) // pieces)
    parts = [text[i : i + size] for i in range(0, len(text), size)]
    usage = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
    return sse(
        chunk({"role": "assistant", "content": ""}),
        *[chunk({"content": part}) for part in parts],
        chunk({}, "stop", usage=usage),
        "[DONE]",
    )


def tool_reply(*calls: tuple[str, str, Mapping[str, Any]]) -> bytes:
    """A streamed reply asking for tool calls ``(id, name, arguments)``."""
    events: list[Mapping[str, Any] | str] = [chunk({"role": "assistant", "content": ""})]
    for index, (call_id, name, arguments) in enumerate(calls):
        start = {
            "index": index,
            "id": call_id,
            "type": "function",
            "function": {"name": name, "arguments": ""},
        }
        events.append(chunk({"tool_calls": [start]}))
        text = json.dumps(arguments)
        half = len(text) // 2
        for part in (text[:half], text[half:]):
            events.append(chunk({"tool_calls": [{"index": index, "function": {"arguments": part}}]}))
    usage = {"prompt_tokens": 20, "completion_tokens": 9, "total_tokens": 29}
    events += [chunk({}, "tool_calls", usage=usage), "[DONE]"]
    return sse(*events)


@attrs.define
class Router:
    """Plays the router: replies from a queue (or a function), records every request."""

    replies: list[httpx.Response | Callable[[httpx.Request], httpx.Response]] = attrs.field(factory=list)
    requests: list[httpx.Request] = attrs.field(factory=list)

    def stream(self, body: bytes, *, status: int = 200, headers: Mapping[str, str] | None = None) -> None:
        all_headers = {"content-type": "text/event-stream", **(headers or {})}
        self.replies.append(httpx.Response(status, headers=all_headers, content=body))

    def json(self, payload: Any, *, status: int = 200, headers: Mapping[str, str] | None = None) -> None:
        self.replies.append(httpx.Response(status, json=payload, headers=headers))

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(request.content) for request in self.requests if request.content]

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if not self.replies:
            return httpx.Response(500, json={"error": "the test scripted no reply for this request"})
        reply = self.replies.pop(0)
        return reply(request) if callable(reply) else reply

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)


@pytest.fixture
def router() -> Router:
    return Router()


def hf_environ(**extra: str) -> dict[str, str]:
    return {
        "AI_BACKEND": "huggingface",
        "CW_ENV": "production",
        "HUGGINGFACE_API_KEY": HF_KEY,
        "HUGGINGFACE_MAX_RETRIES": "0",
        **extra,
    }


@pytest.fixture
def hf_container(router: Router) -> Callable[..., Container]:
    """Builds a production container whose HTTP adapters all talk to ``router``."""

    def build(environ: Mapping[str, str] | None = None, env: str | None = None) -> Container:
        settings = Settings.load(dict(environ) if environ is not None else hf_environ())
        container = build_container(env, settings=settings)
        container.http_transport.override(providers.Object(router.transport()))
        return container

    return build


def lines(text: str) -> Sequence[str]:
    return [line for line in text.splitlines() if line.strip()]


@contextlib.contextmanager
def serving(server: Any) -> Iterator[Any]:
    """Run an async-context loopback server in a thread of its own while the block runs."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    stop: list[asyncio.Event] = []

    async def serve() -> None:
        stop.append(asyncio.Event())
        async with server:
            started.set()
            await stop[0].wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    assert started.wait(10), "the loopback server did not start"
    try:
        yield server
    finally:
        loop.call_soon_threadsafe(stop[0].set)
        thread.join(10)
        loop.close()


def run_cw(capsys: pytest.CaptureFixture[str], argv: list[str], **kw: Any) -> tuple[int, str, str]:
    """Run ``cw argv`` for real (``main(argv, **kw)``): its exit code, stdout and stderr."""
    code = main(argv, **kw)
    captured = capsys.readouterr()
    return code, captured.out, captured.err
