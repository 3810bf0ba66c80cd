"""`FakeLLM`: a deterministic, scripted backend that works at the wire level.

Why at the wire level: a fake that hands back domain objects never exercises the parsers,
and the parsers are where streaming bugs live. `FakeLLM` renders each scripted step to the
exact bytes a real server sends (SSE for the OpenAI format) and feeds them, through an
``httpx`` transport, to the real adapter for that wire format. Tests and the demo therefore
run the same decoding, tool-call reassembly, error classification and truncation checks
as production, without a network.

A script is a sequence of steps, served one per HTTP request (a retried request takes the
next step, so retries can be scripted too):

- an `AIResponse` — the reply, streamed or not, as the request asked;
- `HTTPFailure(status, body, headers)` — a non-2xx reply;
- `MidStreamError(response, after, kind, message)` — ``after`` chunks of ``response``,
  then an in-stream error event (``kind``: ``overloaded``, ``rate_limit``, ``server``,
  ``context_length``);
- `Truncated(response, after, drop)` — ``after`` chunks, then the stream just ends (or
  the connection drops, with ``drop=True``).

When the script runs out, the next call raises `FakeScriptExhaustedError` (an `LLMError`),
unless the fake was made with ``echo=True``: it then answers every further request with
`echo_response` — the last user message, word for word, streamed when the request asks for a
stream, with estimated usage. That is the ``fake`` backend of ``cw run --backend fake`` (the
``production`` environment) and of ``cw fake-server``.
``fake.requests`` holds every JSON request body sent, in order.

Wire formats are pluggable. This module registers ``openai``; another backend registers
its own format with `register_wire`::

    register_wire(FakeWire(
        name="ollama",
        render=render_step,     # (step, request body) -> ScriptedResponse
        adapter=make_adapter,   # (FakeAdapterOptions) -> the real adapter on that transport
        tool_ids=tool_ids,      # request body -> (assistant call ids, tool-result ids)
    ))

``FakeLLM(wire="ollama")`` imports ``adapters.llm.ollama.fake_wire`` when ``ollama`` is not
registered yet, so a backend package that keeps its registration in a ``fake_wire`` module
needs no other wiring. Scripts can also be served over real HTTP: ``ScriptedServer.handle(
path, script_handler(steps, wire="openai"))``.
"""

from __future__ import annotations

import asyncio
import collections
import copy
import json
import math
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar

import httpx

from adapters.llm._adapter import CallConfig, ChatAdapter, Messages, Tools
from adapters.llm.fake_spec import CAPABILITIES, PROFILE
from adapters.llm.fake_steps import (
    FakeAdapterOptions,
    FakeScriptExhaustedError,
    FakeStep,
    FakeWire,
    HTTPFailure,
    MidStreamError,
    Truncated,
    register_wire,
    wire_for,
)
from adapters.llm.testing.scripted_server import RecordedRequest, ScriptedResponse
from domain.events import StreamEvent
from domain.messages import AIResponse, Usage
from domain.model_config import AIModel, Capabilities, DriverProfile, NormalizedModelConfig

__all__ = [
    "FakeAdapterOptions",
    "FakeLLM",
    "FakeScriptExhaustedError",
    "FakeStep",
    "FakeWire",
    "HTTPFailure",
    "MidStreamError",
    "ScriptedTransport",
    "Truncated",
    "echo_response",
    "openai_tool_ids",
    "register_wire",
    "render_openai_step",
    "script_handler",
    "wire_for",
]

FAKE_MODEL = "fake-model"


# --- serving a script ----------------------------------------------------------------------


def _exhausted_message(count: int) -> str:
    return (
        f"the fake backend's script is exhausted: all {count} scripted step(s) were used; "
        "add more steps to the script (container.fake_script), or use a real backend "
        "(--backend huggingface, or set AI_BACKEND)"
    )


class _ChunkStream(httpx.AsyncByteStream):
    """A response body played chunk by chunk; notices when the client closes it early."""

    def __init__(self, reply: ScriptedResponse, record: RecordedRequest) -> None:
        self._reply = reply
        self._record = record
        self._finished = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        reply = self._reply
        for number, chunk in enumerate(reply.chunks):
            if reply.drop_after is not None and number >= reply.drop_after:
                raise httpx.RemoteProtocolError(
                    "peer closed connection without sending complete message body"
                )
            if reply.stall_after is not None and number >= reply.stall_after:
                await asyncio.Event().wait()  # until the client gives up and closes us
            if reply.delay:
                await asyncio.sleep(reply.delay)
            if number == len(reply.chunks) - 1 and reply.drop_after is None and reply.stall_after is None:
                self._finished = True  # the whole body is out once this chunk is
            yield chunk
        if reply.drop_after is not None and reply.drop_after <= len(reply.chunks):
            raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")
        if reply.stall_after is not None:
            await asyncio.Event().wait()
        self._finished = True

    async def aclose(self) -> None:
        if not self._finished:
            self._record.disconnected.set()


def _text_of(content: Any) -> str:
    """The text of a message's content: a string, or the text parts of a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(part.get("text") or "")
            for part in content
            if isinstance(part, Mapping) and part.get("type") in ("text", "input_text")
        )
    return ""


def echo_response(body: Any) -> AIResponse:
    """The reply of an echoing fake: the last user message of ``body``, word for word.

    Works on the request bodies of every wire format (OpenAI-compatible, Anthropic and
    Ollama all send ``messages`` with ``role`` and a string or a list of text parts). Usage is
    estimated like the real backends' estimate: one token per four characters.
    """
    messages = body.get("messages") if isinstance(body, Mapping) else None
    messages = messages if isinstance(messages, list) else []
    objects = [m for m in messages if isinstance(m, Mapping)]
    texts = [_text_of(m.get("content")) for m in objects]
    users = [text for m, text in zip(objects, texts, strict=True) if m.get("role") == "user"]
    text = next((t for t in reversed(users) if t), "") or "(there is no user message to echo)"
    system = body.get("system") if isinstance(body, Mapping) else None
    prompt_chars = sum(len(t) for t in texts) + len(_text_of(system))
    prompt_tokens = max(1, math.ceil(prompt_chars / 4))
    completion_tokens = max(1, math.ceil(len(text) / 4))
    model = body.get("model") if isinstance(body, Mapping) else None
    return AIResponse(
        content=text,
        model=model if isinstance(model, str) and model else FAKE_MODEL,
        usage=Usage(
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            total_tokens=prompt_tokens + completion_tokens,
        ),
    )


class ScriptedTransport(httpx.AsyncBaseTransport):
    """An ``httpx`` transport that answers each request with the next scripted step.

    Args:
        script: the steps, one per request.
        wire: the wire format to render them in.
        echo: once the script runs out, answer with `echo_response` instead of failing.

    Attributes:
        calls: every request received (method, path, headers, body; ``disconnected`` is set
            when the client closed a reply before its end).
    """

    def __init__(
        self, script: Iterable[FakeStep] = (), *, wire: str | FakeWire = "openai", echo: bool = False
    ) -> None:
        self.wire = wire if isinstance(wire, FakeWire) else wire_for(wire)
        self._script: collections.deque[FakeStep] = collections.deque(script)
        self._served = 0
        self.echo = echo
        self.calls: list[RecordedRequest] = []

    @property
    def requests(self) -> list[Any]:
        """The JSON body of every request, in order (``None`` for a request without one)."""
        return [json.loads(call.body) if call.body else None for call in self.calls]

    @property
    def remaining(self) -> int:
        """Steps not served yet."""
        return len(self._script)

    def add(self, *steps: FakeStep) -> None:
        """Append steps to the script."""
        self._script.extend(steps)

    def next_reply(self, body: Any) -> ScriptedResponse:
        """Render the next step for a request with ``body``.

        Raises:
            FakeScriptExhaustedError: no step is left.
        """
        if not self._script:
            if self.echo:
                return self.wire.render(echo_response(body), body)
            raise FakeScriptExhaustedError(_exhausted_message(self._served), backend="fake")
        self._served += 1
        return self.wire.render(self._script.popleft(), body)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        content = await request.aread()
        record = RecordedRequest(
            method=request.method,
            path=request.url.path,
            query=request.url.query.decode("ascii", "replace"),
            headers={name.lower(): value for name, value in request.headers.items()},
            body=content,
        )
        self.calls.append(record)
        reply = self.next_reply(json.loads(content) if content else None)
        return httpx.Response(
            reply.status,
            headers=[("content-type", "text/event-stream"), *reply.headers]
            if not any(name.lower() == "content-type" for name, _ in reply.headers)
            else list(reply.headers),
            stream=_ChunkStream(reply, record),
        )


def script_handler(
    steps: Iterable[FakeStep], *, wire: str | FakeWire = "openai", echo: bool = False
) -> Callable[[RecordedRequest], ScriptedResponse]:
    """A `ScriptedServer` handler serving ``steps`` in order, rendered in ``wire``.

    When the steps run out the server answers 410 with a message saying so, or, with
    ``echo``, echoes the last user message (`echo_response`).
    """
    transport = ScriptedTransport(steps, wire=wire, echo=echo)

    def handle(request: RecordedRequest) -> ScriptedResponse:
        try:
            return transport.next_reply(request.json() if request.body else None)
        except FakeScriptExhaustedError as error:
            return ScriptedResponse.json({"error": error.message}, status=410)

    return handle


# --- the fake backend ----------------------------------------------------------------------


async def _no_wait(delay: float) -> None:
    """Back-off of the fake: deterministic and instant."""


class FakeLLM(ChatAdapter):
    """The ``fake`` backend: scripted replies through the real adapter of a wire format.

    Args:
        script: the steps, served one per HTTP request.
        wire: the wire format to speak (``openai`` by default).
        config: the bound model config (default model ``fake-model``).
        name: the backend name.
        transport: a `ScriptedTransport` to use instead of one built from ``script``
            (copies from `with_config` share it).
        max_retries: the real adapter's retries; retried requests take the next step.
        echo: once the script runs out, echo the last user message (see `echo_response`).
    """

    capabilities_flags: ClassVar[Capabilities] = CAPABILITIES
    profile: ClassVar[DriverProfile] = PROFILE

    def __init__(
        self,
        script: Iterable[FakeStep] = (),
        *,
        wire: str = "openai",
        config: NormalizedModelConfig | None = None,
        name: str = "fake",
        transport: ScriptedTransport | None = None,
        max_retries: int = 2,
        echo: bool = False,
    ) -> None:
        self.transport = (
            transport if transport is not None else ScriptedTransport(script, wire=wire, echo=echo)
        )
        if transport is not None and script:
            self.transport.add(*script)
        self.name = name
        self.config = config or NormalizedModelConfig(model=FAKE_MODEL)
        self.max_retries = max_retries
        self.delays: list[float] = []
        self._inner = self.transport.wire.adapter(
            FakeAdapterOptions(
                name=name,
                config=self.config,
                transport=self.transport,
                sleep=self._record_delay,
                rand=lambda: 0.5,
                max_retries=max_retries,
            )
        )

    async def _record_delay(self, delay: float) -> None:
        self.delays.append(delay)

    def __repr__(self) -> str:
        return (
            f"FakeLLM(name={self.name!r}, wire={self.transport.wire.name!r}, "
            f"model={self.config.model!r}, remaining={self.transport.remaining})"
        )

    @property
    def requests(self) -> list[Any]:
        """Every JSON request body the fake was sent, in order."""
        return self.transport.requests

    def add(self, *steps: FakeStep) -> None:
        """Append steps to the script."""
        self.transport.add(*steps)

    def with_config(self, config: NormalizedModelConfig) -> FakeLLM:
        """A copy bound to ``config`` that shares this fake's script, recordings and connection
        pool; like every backend's copy, closing it leaves the pool to this fake."""
        clone = copy.copy(self)
        clone.config = config
        clone._inner = self._inner.with_config(config)
        return clone

    async def _complete(self, messages: Messages, tools: Tools, config: CallConfig) -> AIResponse:
        """The next scripted reply, through the real non-streaming parser."""
        response: AIResponse = await self._inner.complete(messages, tools=tools, config=config)
        return response

    def _stream(self, messages: Messages, tools: Tools, config: CallConfig) -> AsyncIterator[StreamEvent]:
        """The next scripted reply, streamed through the real stream parser."""
        events: AsyncIterator[StreamEvent] = self._inner.stream(messages, tools=tools, config=config)
        return events

    async def list_models(self, *, detailed: bool = False) -> Sequence[AIModel]:
        """The bound model, the only one the fake knows."""
        return (AIModel(name=self.config.model, owned_by="fake", details={"source": "fake"}),)

    async def aclose(self) -> None:
        """Close the inner adapter."""
        await self._inner.aclose()


# The default wire format registers itself.
from adapters.llm.openai_compatible.fake_wire import openai_tool_ids, render_openai_step  # noqa: E402
