"""The parts of a fake backend's script, and the registry of the wire formats that render them.

A script is a sequence of steps, served one per HTTP request: an `AIResponse`, an
`HTTPFailure`, a `MidStreamError` or a `Truncated` stream. Each wire format (``openai``,
``ollama``, ``anthropic``) registers a `FakeWire` that renders steps as that API's bytes and
builds the real adapter on a transport; `wire_for` finds one, importing
``adapters.llm.<name>.fake_wire`` on first use. `adapters.llm.fake` re-exports all of it.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Mapping
from typing import Any, TypeAlias

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
        return {
            "name": self.name,
            "config": self.config,
            "transport": self.transport,
            "sleep": self.sleep,
            "rand": self.rand,
        }


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
