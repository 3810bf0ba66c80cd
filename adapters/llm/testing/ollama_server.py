"""`FakeOllamaServer`: a loopback Ollama with installed models, pulls and scripted chats.

Why it exists: the model-management commands and "pull if missing" are conversations
across several endpoints — a pull installs what ``/api/tags`` then lists, ``/api/chat``
refuses a model that is not installed, ``/api/delete`` removes it. `ScriptedServer` plays
one reply at a time; this server keeps that state, so tests (and a user trying ``cw``)
can drive a whole session over real HTTP on 127.0.0.1 with Ollama's real shapes:

- ``GET /api/tags``, ``POST /api/show``, ``GET /api/ps``, ``DELETE /api/delete``;
- ``POST /api/pull``: realistic NDJSON progress per layer (`wire.render_pull_stream`), one
  line per network write, then the model is installed; a name outside ``library`` gets
  Ollama's ``{"error": "pull model manifest: file does not exist"}`` line;
- ``POST /api/chat``: the next step of ``script`` rendered as Ollama streams it (NDJSON,
  tool calls without ids unless ``tool_call_ids``), or a 404 ``model "x" not found, try
  pulling it first`` when the model is not installed; a chat loads the model (``/api/ps``).

Usage::

    async with FakeOllamaServer(script=[AIResponse(content="Bonjour")]) as ollama:
        main(["run", "hi", "--backend", "ollama", "--base-url", ollama.url])
"""

from __future__ import annotations

import collections
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from adapters.llm._ndjson import render_ndjson
from adapters.llm.fake import FakeStep, echo_response
from adapters.llm.ollama import wire
from adapters.llm.ollama.fake_wire import render_ollama_step
from adapters.llm.testing.scripted_server import RecordedRequest, ScriptedResponse, ScriptedServer
from domain.messages import AIResponse
from domain.model_config import AIModel

__all__ = ["DEFAULT_MODELS", "FakeOllamaServer"]

_NDJSON = {"content-type": "application/x-ndjson"}

DEFAULT_MODELS = (
    AIModel(
        name="llama3.1:latest",
        family="llama",
        size=4_920_753_328,
        digest="46e0c10c039e019119339687c3c1757cc81b9da49709a3b3924863ba87ca666e",
        parameter_size="8.0B",
        quantization="Q4_K_M",
        modified_at="2026-01-10T09:30:00.123456789+01:00",
        context_length=131_072,
        capabilities=("completion", "tools"),
        details={"format": "gguf", "families": ["llama"]},
    ),
)
"""What a fresh server has installed: llama3.1, the backend's default model."""


def _full_name(model: str) -> str:
    """Ollama's name for ``model``: a name without a tag means ``:latest``."""
    return model if ":" in model.rsplit("/", 1)[-1] else f"{model}:latest"


def _requested(request: RecordedRequest) -> str:
    body = request.json() if request.body else {}
    name = body.get("model") or body.get("name") if isinstance(body, Mapping) else None
    return name if isinstance(name, str) else ""


class FakeOllamaServer:
    """A stateful loopback Ollama (see the module docs).

    Args:
        models: the models installed at start.
        script: the chat replies, one `FakeStep` per ``/api/chat`` request.
        library: the models a pull can download; ``None`` means any name but those starting
            with ``missing``. A pulled model is installed like ``llama3.1`` but renamed.
        tool_call_ids: send the ids of tool calls, as newer servers do (older ones send none).
        pull_delay: seconds between two pull progress lines (to watch the progress bar).
        echo: once the script runs out, answer each chat with the last user message (see
            `adapters.llm.fake.echo_response`) instead of an error.
        port: the port to listen on (0: a free one).
    """

    def __init__(
        self,
        models: Iterable[AIModel] = DEFAULT_MODELS,
        *,
        script: Iterable[FakeStep] = (),
        library: Iterable[str] | None = None,
        tool_call_ids: bool = False,
        pull_delay: float = 0.0,
        echo: bool = False,
        port: int = 0,
    ) -> None:
        self.installed: dict[str, AIModel] = {_full_name(m.name): m for m in models}
        self.loaded: dict[str, AIModel] = {}
        self.script: collections.deque[FakeStep] = collections.deque(script)
        self._library = None if library is None else {_full_name(name) for name in library}
        self._tool_call_ids = tool_call_ids
        self._pull_delay = pull_delay
        self._echo = echo
        self._server = ScriptedServer(
            {
                "/api/tags": self._tags,
                "/api/show": self._show,
                "/api/ps": self._ps,
                "/api/delete": self._delete,
                "/api/pull": self._pull,
                "/api/chat": self._chat,
            },
            port=port,
        )

    @property
    def url(self) -> str:
        """The server root (``OLLAMA_BASE_URL``), while it runs."""
        return self._server.url

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, in order."""
        return self._server.requests

    # --- endpoints ---------------------------------------------------------------------------

    def _missing(self, name: str) -> ScriptedResponse:
        return ScriptedResponse.json({"error": f"model '{name}' not found"}, status=404)

    def _tags(self, request: RecordedRequest) -> ScriptedResponse:
        return ScriptedResponse.json(wire.render_tags(list(self.installed.values())))

    def _show(self, request: RecordedRequest) -> ScriptedResponse:
        name = _requested(request)
        model = self.installed.get(_full_name(name))
        return self._missing(name) if model is None else ScriptedResponse.json(wire.render_show(model))

    def _ps(self, request: RecordedRequest) -> ScriptedResponse:
        return ScriptedResponse.json(wire.render_ps(list(self.loaded.values())))

    def _delete(self, request: RecordedRequest) -> ScriptedResponse:
        name = _full_name(_requested(request))
        if self.installed.pop(name, None) is None:
            return self._missing(_requested(request))
        self.loaded.pop(name, None)
        return ScriptedResponse(status=200, headers={"content-type": "text/plain"})

    def _pull(self, request: RecordedRequest) -> ScriptedResponse:
        name = _full_name(_requested(request))
        known = name in self._library if self._library is not None else not name.startswith("missing")
        if not known:
            lines: list[dict[str, Any]] = [
                {"status": "pulling manifest"},
                {"error": "pull model manifest: file does not exist"},
            ]
            return ScriptedResponse(headers=_NDJSON, chunks=tuple(render_ndjson([line]) for line in lines))
        template = DEFAULT_MODELS[0]
        self.installed[name] = attrs.evolve(template, name=name)
        lines = wire.render_pull_stream()
        return ScriptedResponse(
            headers=_NDJSON,
            chunks=tuple(render_ndjson([line]) for line in lines),
            delay=self._pull_delay,
        )

    def _chat(self, request: RecordedRequest) -> ScriptedResponse:
        body = request.json() if request.body else {}
        name = _requested(request)
        model = self.installed.get(_full_name(name))
        if model is None:
            return ScriptedResponse.json(
                {"error": f'model "{name}" not found, try pulling it first'}, status=404
            )
        if not self.script and not self._echo:
            return ScriptedResponse.json({"error": "the fake Ollama's chat script is exhausted"}, status=500)
        self.loaded[model.name] = attrs.evolve(
            model, details={**model.details, "expires_at": "2026-01-10T10:00:00Z", "size_vram": model.size}
        )
        step = self.script.popleft() if self.script else echo_response(body)
        if isinstance(step, AIResponse):
            response = attrs.evolve(step, model=step.model or name)
            if isinstance(body, Mapping) and body.get("stream") is False:
                payload = wire.render_chat_response(response, include_ids=self._tool_call_ids)
                return ScriptedResponse.json(payload)
            objects = wire.render_chat_stream(response, include_ids=self._tool_call_ids)
            return ScriptedResponse(headers=_NDJSON, chunks=tuple(render_ndjson([obj]) for obj in objects))
        return render_ollama_step(step, body)

    # --- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> FakeOllamaServer:
        await self._server.__aenter__()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._server.__aexit__(*exc_info)
