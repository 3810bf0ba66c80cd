"""The parts of a fake backend's script, and the registry of the wire formats that render them.

A script is a sequence of steps, served one per HTTP request: an `AIResponse`, an
`HTTPFailure`, a `MidStreamError` or a `Truncated` stream. Each wire format (``openai``,
``ollama``, ``anthropic``) registers a `FakeWire` that renders steps as that API's bytes and
builds the real adapter on a transport. How a step becomes a reply is the same for every
format — a whole JSON body or a stream, cut short or ended by an error — so it is written
once, in `StepFormat.render`; a format gives only its own pieces (body shapes, framing,
error bodies); `wire_for` finds one, importing
``adapters.llm.<name>.fake_wire`` on first use. `adapters.llm.fake` re-exports all of it.
"""

from __future__ import annotations

import abc
import contextlib
import importlib
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, TypeAlias

import attrs
import httpx

from adapters.llm.testing.scripted_server import ScriptedResponse
from domain.errors import LLMError
from domain.messages import AIResponse
from domain.model_config import NormalizedModelConfig

__all__ = [
    "FakeAdapterOptions",
    "FakeScriptExhaustedError",
    "FakeStep",
    "FakeWire",
    "HTTPFailure",
    "MidStreamError",
    "StepFormat",
    "Truncated",
    "register_wire",
    "wire_for",
]


@attrs.frozen(kw_only=True)
class HTTPFailure:
    """A scripted non-2xx reply.

    Attributes:
        status: the HTTP status.
        message: the error text, rendered in the wire format's own error body shape
            (used when ``body`` is ``None``).
        body: a JSON value (sent as JSON) or ``bytes``/``str`` (sent verbatim).
        headers: response headers, e.g. ``{"retry-after": "2"}``.
    """

    status: int
    message: str = "scripted failure"
    body: Any = None
    headers: Mapping[str, str] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class MidStreamError:
    """A reply that fails part-way: ``after`` wire chunks of ``response``, then an error event."""

    response: AIResponse
    after: int = 1
    kind: str = attrs.field(
        default="overloaded",
        validator=attrs.validators.in_(("overloaded", "rate_limit", "server", "context_length")),
    )
    message: str = "The model is overloaded, please try again later"


@attrs.frozen(kw_only=True)
class Truncated:
    """A reply that stops after ``after`` wire chunks without the model finishing."""

    response: AIResponse
    after: int = 1
    drop: bool = False
    """Drop the connection instead of ending the body cleanly."""


FakeStep: TypeAlias = AIResponse | HTTPFailure | MidStreamError | Truncated


class FakeScriptExhaustedError(LLMError):
    """The fake was called more times than its script has steps."""


@attrs.frozen(kw_only=True)
class FakeAdapterOptions:
    """What a wire format's adapter factory gets to build the real adapter."""

    name: str
    config: NormalizedModelConfig
    transport: httpx.AsyncBaseTransport
    sleep: Callable[[float], Any]
    rand: Callable[[], float]
    max_retries: int

    def adapter_options(self) -> dict[str, Any]:
        """The keyword arguments every HTTP adapter takes alike: name, config, transport, sleep, rand."""
        return {option: getattr(self, option) for option in ("name", "config", "transport", "sleep", "rand")}


class StepFormat(abc.ABC):
    """What one API's replies look like, and `render`, which turns any step into one.

    A wire format subclasses it with its pieces: the body shapes, the stream's framing and
    the error bodies.
    """

    streams_by_default: ClassVar[bool] = False
    """Whether a request that does not say ``stream`` gets a stream (Ollama's does)."""
    stream_type: ClassVar[str] = "text/event-stream"
    """The content type of a stream."""

    @abc.abstractmethod
    def completion(self, response: AIResponse) -> Any:
        """The whole JSON reply to a request that did not ask for a stream."""

    @abc.abstractmethod
    def events(self, response: AIResponse) -> Sequence[Any]:
        """The stream payloads of a reply, in order."""

    @abc.abstractmethod
    def finishes(self, payload: Any) -> bool:
        """Whether a stream payload says the model finished (cut or failing streams never send it)."""

    @abc.abstractmethod
    def frames(self, payloads: Sequence[Any], *, done: bool) -> tuple[bytes, ...]:
        """The network writes for stream payloads, one each; ``done``: the stream ends normally."""

    @abc.abstractmethod
    def status_error(self, step: HTTPFailure) -> Any:
        """The error body of an `HTTPFailure` that gives none of its own."""

    @abc.abstractmethod
    def stream_error(self, step: MidStreamError) -> tuple[Any, int]:
        """The error payload of a `MidStreamError`, and its status when nothing streams."""

    def render(self, step: FakeStep, body: Any) -> ScriptedResponse:
        """``step`` as the reply to a request with ``body`` (a stream when it asks for one)."""
        if isinstance(step, HTTPFailure):
            return _failure(step, self.status_error)
        asked = body.get("stream") if isinstance(body, Mapping) else None
        stream = self.streams_by_default if asked is None else bool(asked)
        if isinstance(step, AIResponse):
            if not stream:
                return ScriptedResponse.json(self.completion(step))
            return self._stream(self.events(step), done=True)
        if isinstance(step, MidStreamError):
            error, status = self.stream_error(step)
            if not stream:
                return ScriptedResponse.json(error, status=status)
            return self._stream([*self._unfinished(step.response)[: step.after], error], done=False)
        if not stream:
            text = json.dumps(self.completion(step.response)).encode()
            return ScriptedResponse(
                headers={"content-type": "application/json"},
                chunks=(text[: len(text) // 2],),
                drop_after=1 if step.drop else None,
            )
        head = self._unfinished(step.response)[: step.after]
        return attrs.evolve(self._stream(head, done=False), drop_after=len(head) if step.drop else None)

    def _unfinished(self, response: AIResponse) -> list[Any]:
        return [payload for payload in self.events(response) if not self.finishes(payload)]

    def _stream(self, payloads: Sequence[Any], *, done: bool) -> ScriptedResponse:
        return ScriptedResponse(
            headers={"content-type": self.stream_type}, chunks=self.frames(payloads, done=done)
        )


def _failure(step: HTTPFailure, status_error: Callable[[HTTPFailure], Any]) -> ScriptedResponse:
    """A non-2xx reply: the step's own body (JSON, or bytes and text verbatim) or the format's."""
    if isinstance(step.body, bytes | str):
        body = step.body.encode() if isinstance(step.body, str) else step.body
        headers = {"content-type": "text/plain", **step.headers}
        return ScriptedResponse(status=step.status, headers=headers, chunks=(body,))
    payload = status_error(step) if step.body is None else step.body
    return ScriptedResponse.json(payload, status=step.status, headers=dict(step.headers))


@attrs.frozen(kw_only=True)
class FakeWire:
    """A wire format the fake can speak.

    Attributes:
        name: the format's name (``openai``, ``ollama``, ``anthropic``).
        render: turns a step and the request body into the reply's bytes.
        adapter: builds the real adapter for this format on the fake's transport.
        tool_ids: from a request body, the ids of the tool calls in assistant messages and
            the ids that tool results answer (for checks that ids round-trip).
    """

    name: str
    render: Callable[[FakeStep, Any], ScriptedResponse]
    adapter: Callable[[FakeAdapterOptions], Any]
    tool_ids: Callable[[Any], tuple[tuple[str, ...], tuple[str, ...]]]


_WIRES: dict[str, FakeWire] = {}

_WIRE_ALIASES = {"claude": "anthropic"}
"""Backend names whose wire format has another name: the ``claude`` backend speaks ``anthropic``."""


def register_wire(wire: FakeWire) -> None:
    """Make ``wire`` available as ``FakeLLM(wire=wire.name)`` (a later registration wins)."""
    _WIRES[wire.name] = wire


def wire_for(name: str) -> FakeWire:
    """The registered wire format ``name``, importing ``adapters.llm.<name>.fake_wire`` if needed.

    A backend name works too: ``claude`` is the ``anthropic`` wire format.

    Raises:
        ValueError: no such wire format.
    """
    name = _WIRE_ALIASES.get(name, name)
    if name not in _WIRES:
        with contextlib.suppress(ModuleNotFoundError):
            importlib.import_module(f"adapters.llm.{name}.fake_wire")
    try:
        return _WIRES[name]
    except KeyError:
        raise ValueError(
            f"unknown fake wire format {name!r}; registered: {', '.join(sorted(_WIRES))}"
        ) from None
