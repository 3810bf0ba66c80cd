"""`OllamaLLM`: the LLM port on Ollama's native ``POST /api/chat``.

Why native and not Ollama's OpenAI-compatible ``/v1``: the native API is the one that
carries ``think``, ``keep_alive``, ``num_ctx``, the eval counts and durations, and model
management; ``/v1`` drops several of them. This module only does I/O: the mapping is in
`wire`, the clocks, retries and httpx error translation in B's `HTTPEngine`, and the NDJSON
framing in `NDJSONDecoder`.

Images: files, bytes and ``data:`` URIs are sent as base64 (read through `_images`, with
its size cap). Ollama does not take image URLs, so an http(s) image is downloaded here —
at most `MAX_IMAGE_BYTES`, within `IMAGE_DOWNLOAD_TIMEOUT` seconds, and it must be an
image — or the call fails with a `ConfigError` saying why.

"Pull if missing" (``OLLAMA_PULL_IF_MISSING``): before the first chat with a model, ask the
server whether it has it and pull it when it does not, reporting progress to
``on_pull_progress``. Without it a missing model fails with advice to run ``cw pull``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

import attrs
import httpx

from adapters.llm._adapter import CallConfig, HTTPChatAdapter, Messages, Tools
from adapters.llm._http import Clocks, HeldError, HTTPEngine
from adapters.llm._images import DEFAULT_MAX_IMAGE_BYTES, image_base64, is_remote, sniff_media_type
from adapters.llm._ndjson import DEFAULT_MAX_LINE_BYTES, NDJSONDecoder
from domain.errors import ConfigError, LLMError, TruncatedStreamError
from domain.events import ResponseCompleted, StreamEvent
from domain.messages import AIResponse, ChatMessage, ImageInput, ToolDefinition
from domain.model_config import AIModel, Capabilities, DriverProfile, NormalizedModelConfig
from domain.ports import PullProgressCallback

from . import wire
from ._io import BACKEND, CHAT_PATH, build_engine, fetch_models, ollama_unreachable
from .manager import OllamaModelManager
from .profile import PROFILE
from .settings import OllamaSettings

__all__ = ["IMAGE_DOWNLOAD_TIMEOUT", "MAX_IMAGE_BYTES", "OllamaLLM"]

IMAGE_DOWNLOAD_TIMEOUT = 30.0
"""Seconds allowed to download one http(s) image, redirects included."""

MAX_IMAGE_BYTES = DEFAULT_MAX_IMAGE_BYTES
"""The largest image sent or downloaded."""

_log = logging.getLogger(__name__)

CAPABILITIES = Capabilities(
    streaming=True, function_calling=True, vision=True, model_management=True, embeddings=False
)


def _shown_url(url: str) -> str:
    """``url`` as an error may show it: without credentials or query, where signed URLs carry
    their tokens, and at most 80 characters."""
    try:
        parts = urlsplit(url)
        netloc = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
    except ValueError:
        return "the image URL"
    shown = urlunsplit((parts.scheme, netloc, parts.path, "…" if parts.query else "", ""))
    return shown if len(shown) <= 80 else shown[:77] + "…"


class _ChatDecoder:
    """NDJSON bytes of one streamed ``/api/chat`` reply → stream events (one per attempt)."""

    __slots__ = ("_held", "_lines", "_model", "_state")

    def __init__(
        self, model: str, new_id: Callable[[], str], max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
    ) -> None:
        self._model = model
        self._lines = NDJSONDecoder(backend=BACKEND, max_line_bytes=max_line_bytes)
        self._state = wire.StreamState(model=model, new_id=new_id)
        self._held = HeldError()

    def partial(self) -> AIResponse:
        return self._state.partial()

    def start(self, headers: Mapping[str, str]) -> None:
        """Nothing in Ollama's headers changes how its lines read."""

    @property
    def done(self) -> bool:
        """The final ``done`` line arrived: do not wait for the server to close."""
        return self._state.done or self._held.error is not None

    def feed(self, data: bytes) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        state = self._state
        try:
            for line in self._lines.feed(data):
                events += state.feed(line)
                if state.done:
                    break
        except LLMError as error:
            self._held.hold(self._with_context(error), events)
        return events

    def close(self, cut: LLMError | None = None) -> list[StreamEvent]:
        self._held.release()
        state = self._state
        events: list[StreamEvent] = []
        try:
            if cut is not None:
                raise cut
            if not state.done:
                for line in self._lines.close():
                    events += state.feed(line)
            if not state.done:
                raise TruncatedStreamError(
                    "Ollama's stream ended before its final `done` line, so the answer is incomplete; "
                    "what arrived is kept in the error — try again (was the server stopped?)",
                    backend=BACKEND,
                    model=self._model,
                )
        except LLMError as error:
            raise self._with_context(error) from error.__cause__
        events.append(ResponseCompleted(response=state.finish(model=self._model)))
        return events

    def _with_context(self, error: LLMError) -> LLMError:
        if error.partial is None:
            error.partial = self._state.partial()
        if error.model is None:
            error.model = self._model
        return error


@attrs.define(eq=False)
class _Shared:
    """State the copies made by `OllamaLLM.with_config` share."""

    transport: httpx.AsyncBaseTransport | None
    sleep: Callable[[float], Awaitable[None]] | None
    on_pull_progress: PullProgressCallback | None
    ready: set[str] = attrs.field(factory=set)
    warned: set[tuple[str, ...]] = attrs.field(factory=set)
    lock: asyncio.Lock = attrs.field(factory=asyncio.Lock)
    manager: OllamaModelManager | None = None


class OllamaLLM(HTTPChatAdapter):
    """An `LLMPort` on an Ollama server's native API.

    Args:
        config: the model config every call uses unless a call passes its own; defaults to
            the settings' model and timeout.
        settings: the server, keep-alive, retries and "pull if missing"; defaults to a local
            server.
        name: the backend name it is registered under.
        transport: an ``httpx`` transport (tests pass ``httpx.MockTransport``).
        sleep: the back-off sleep between retries (tests pass one that does not wait).
        rand: the back-off jitter source, a float in ``[0, 1)``.
        on_pull_progress: receives the progress of a "pull if missing" download.
        new_id: makes the ids of tool calls (Ollama sends none).
    """

    capabilities_flags: ClassVar[Capabilities] = CAPABILITIES
    profile: ClassVar[DriverProfile] = PROFILE
    """What the backend can do, known without building an adapter (``cw backends`` shows it)."""

    def __init__(
        self,
        *,
        config: NormalizedModelConfig | None = None,
        settings: OllamaSettings | None = None,
        name: str = BACKEND,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        rand: Callable[[], float] | None = None,
        on_pull_progress: PullProgressCallback | None = None,
        new_id: Callable[[], str] = wire.new_tool_call_id,
    ) -> None:
        self.name = name
        self.settings = settings or OllamaSettings()
        self.config = config or NormalizedModelConfig(
            model=self.settings.model, timeout=self.settings.timeout
        )
        self._new_id = new_id
        self._shared = _Shared(transport=transport, sleep=sleep, on_pull_progress=on_pull_progress)
        self._owns_pool = True
        self._engine = build_engine(
            self.settings, clocks=self._clocks(self.config), transport=transport, sleep=sleep, rand=rand
        )

    @classmethod
    def from_settings(cls, settings: OllamaSettings, **options: Any) -> OllamaLLM:
        """The adapter for ``settings``, bound to its model (``options`` as for the constructor)."""
        return cls(settings=settings, **options)

    def __repr__(self) -> str:
        url = self.settings.display_url
        return f"OllamaLLM(name={self.name!r}, base_url={url!r}, model={self.config.model!r})"

    # --- plumbing ----------------------------------------------------------------------------

    def _clocks(self, config: NormalizedModelConfig) -> Clocks:
        """The config's timeout is the total deadline; the idle clock is generous because Ollama
        sends nothing while it loads a model, and neither outlives the deadline."""
        total = config.timeout or self.settings.timeout
        idle = self.settings.idle_timeout or total
        return Clocks(connect=min(self.settings.connect_timeout, total), idle=min(idle, total), total=total)

    def _engine_for(self, config: NormalizedModelConfig) -> HTTPEngine:
        clocks = self._clocks(config)
        return self._engine if clocks == self._engine.clocks else attrs.evolve(self._engine, clocks=clocks)

    def model_manager(self) -> OllamaModelManager:
        """The model-management port of the same server (created once, closed by `aclose`)."""
        shared = self._shared
        if shared.manager is None:
            shared.manager = OllamaModelManager(self.settings, transport=shared.transport, sleep=shared.sleep)
        return shared.manager

    async def _ensure_model(self, model: str) -> None:
        if not self.settings.pull_if_missing or model in self._shared.ready:
            return
        async with self._shared.lock:
            if model in self._shared.ready:
                return
            manager = self.model_manager()
            if not await manager.has_model(model):
                # Without a progress callback nobody sees the download: say why the wait.
                level = logging.INFO if self._shared.on_pull_progress else logging.WARNING
                _log.log(
                    level,
                    "ollama: %s is not installed yet; pulling it first (OLLAMA_PULL_IF_MISSING) — "
                    "a model is gigabytes, this can take minutes",
                    model,
                )
                await manager.pull(model, on_progress=self._shared.on_pull_progress)
            self._shared.ready.add(model)

    def _warn(self, config: NormalizedModelConfig) -> None:
        warnings = wire.request_warnings(config)
        if warnings and warnings not in self._shared.warned:
            self._shared.warned.add(warnings)
            for warning in warnings:
                _log.warning("ollama: %s", warning)

    async def _download(self, url: str) -> str:
        shown = _shown_url(url)

        def failed(why: str) -> ConfigError:
            return ConfigError(
                f"could not download the image {shown} ({why}); Ollama needs the image itself — "
                "save it and pass the file path instead"
            )

        data = bytearray()
        client = self._engine.client
        request = client.build_request("GET", url, timeout=IMAGE_DOWNLOAD_TIMEOUT)
        request.headers.pop("Authorization", None)  # OLLAMA_API_KEY is for Ollama, not an image host
        try:
            async with asyncio.timeout(IMAGE_DOWNLOAD_TIMEOUT):
                response = await client.send(request, stream=True, follow_redirects=True)
                async with contextlib.aclosing(response):
                    if response.status_code >= 400:
                        raise failed(f"HTTP {response.status_code}")
                    declared = response.headers.get("content-length", "")
                    if declared.isdigit() and int(declared) > MAX_IMAGE_BYTES:
                        raise failed(f"{int(declared)} bytes; the limit is {MAX_IMAGE_BYTES}")
                    async for piece in response.aiter_bytes():
                        data += piece
                        if len(data) > MAX_IMAGE_BYTES:
                            raise failed(f"larger than the {MAX_IMAGE_BYTES}-byte limit")
        except TimeoutError as exc:
            raise failed(f"no complete answer within {IMAGE_DOWNLOAD_TIMEOUT:g}s") from exc
        except httpx.HTTPError as exc:
            raise failed(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__) from exc
        if not data:
            raise failed("the answer was empty")
        if sniff_media_type(bytes(data)) is None:
            raise failed("the answer is not a PNG, JPEG, GIF, WebP or BMP image")
        return base64.b64encode(data).decode("ascii")

    async def _resolve_images(self, messages: Sequence[ChatMessage]) -> dict[ImageInput, str]:
        resolved: dict[ImageInput, str] = {}
        for message in messages:
            for image in message.images:
                if image in resolved:
                    continue
                if is_remote(image):
                    assert image.url is not None
                    resolved[image] = await self._download(image.url)
                else:
                    encoded, _ = await asyncio.to_thread(image_base64, image, max_bytes=MAX_IMAGE_BYTES)
                    resolved[image] = encoded
        return resolved

    async def _body(
        self,
        messages: Sequence[ChatMessage],
        tools: Sequence[ToolDefinition],
        config: NormalizedModelConfig,
        *,
        stream: bool,
    ) -> dict[str, Any]:
        self._warn(config)
        images = await self._resolve_images(messages)
        with ollama_unreachable(self.settings.display_url):
            await self._ensure_model(config.model)
        return wire.build_chat_request(
            messages, tools, config, stream=stream, images=images, keep_alive=self.settings.keep_alive
        )

    # --- the port ----------------------------------------------------------------------------

    async def _complete(self, messages: Messages, tools: Tools, config: CallConfig) -> AIResponse:
        """One non-streaming ``POST /api/chat``; see `domain.ports.LLMPort`."""
        config = config or self.config
        body = await self._body(messages, tools, config, stream=False)
        with ollama_unreachable(self.settings.display_url):
            payload, _ = await self._engine_for(config).request_json(
                "POST", CHAT_PATH, json=body, model=config.model
            )
        return wire.parse_chat_response(payload, model=config.model, new_id=self._new_id)

    async def _stream(
        self, messages: Messages, tools: Tools, config: CallConfig
    ) -> AsyncIterator[StreamEvent]:
        """Stream the reply as NDJSON; see `domain.ports.LLMPort`."""
        config = config or self.config
        body = await self._body(messages, tools, config, stream=True)
        model = config.model
        events = self._engine_for(config).stream(
            "POST",
            CHAT_PATH,
            decoder=lambda: _ChatDecoder(model, self._new_id, self.settings.limits.max_line_bytes),
            json=body,
            model=model,
        )
        with ollama_unreachable(self.settings.display_url):
            async with contextlib.aclosing(events):
                async for event in events:
                    yield event

    async def list_models(self, *, detailed: bool = False) -> Sequence[AIModel]:
        """The installed models (``/api/tags``); ``detailed`` adds ``/api/show`` for each."""
        with ollama_unreachable(self.settings.display_url):
            return await fetch_models(self._engine, detailed=detailed)

    async def _close_owned(self) -> None:
        """The model manager the chat adapter opened, after the pool."""
        manager, self._shared.manager = self._shared.manager, None
        if manager is not None:
            await manager.aclose()
