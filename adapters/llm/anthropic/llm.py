"""`AnthropicLLM`: the Claude backend's I/O, on the shared HTTP engine.

Why this is thin: the wire mapping is pure (`adapters.llm.anthropic.wire`) and timeouts,
retries, cancellation and ``httpx`` errors are the engine's (`adapters.llm._http`). What is
left here is Anthropic's own: the ``x-api-key`` and ``anthropic-version`` headers, reading its
error bodies, decoding its event stream, and the model list with a fallback.

Retries follow the engine's rule: a 429, a 5xx, a 529 or an ``overloaded_error`` event is
retried only while nothing has reached the caller; once a delta was yielded, a failure raises
with ``partial`` set and is never retried, so no output is repeated.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import quote

import attrs
import httpx

from adapters.llm._adapter import CallConfig, HTTPChatAdapter, Messages, Tools
from adapters.llm._clocks import clocks_for
from adapters.llm._errors import parse_retry_after
from adapters.llm._http import (
    Clocks,
    HTTPEngine,
    RetryPolicy,
    StatusFailure,
    StreamDecoder,
)
from adapters.llm._images import image_base64
from adapters.llm.anthropic import wire
from adapters.llm.anthropic.decoder import EventDecoder, annotate
from adapters.llm.anthropic.profile import PROFILE
from adapters.llm.anthropic.settings import ANTHROPIC_VERSION, AnthropicSettings
from adapters.llm.openai_compatible.wire import tool_name_map
from domain.errors import ConfigError, LLMError
from domain.events import StreamEvent
from domain.messages import AIResponse, ImageInput
from domain.model_config import AIModel, Capabilities, DriverProfile, NormalizedModelConfig

__all__ = ["AnthropicLLM"]

logger = logging.getLogger(__name__)

_IDLE_SECONDS = 60.0
"""Longest silence between two streamed chunks (Anthropic pings every few seconds)."""

_ADVICE = {
    401: "Check ANTHROPIC_API_KEY: it is missing, wrong or revoked.",
    403: "The key may not use this model or workspace; check it in the Anthropic console.",
    404: "Check the model id (see `cw models --backend claude`) and ANTHROPIC_BASE_URL.",
    529: "Anthropic is overloaded; try again in a moment.",
}


_IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
"""The image types the Messages API accepts."""

_MAX_IMAGE_BYTES = 5 * 1024 * 1024
"""Anthropic's limit for one image sent through the API."""


def _resolve_image(image: ImageInput) -> tuple[str, str]:
    """An image that is not an http(s) URL as ``(media_type, base64)``, checked before sending.

    Raises:
        ConfigError: a missing or unreadable file, more than 5 MiB, or a type Claude refuses
            (it takes JPEG, PNG, GIF and WebP); the message says what to do.
    """
    data, media_type = image_base64(image, max_bytes=_MAX_IMAGE_BYTES)
    if media_type.lower() not in _IMAGE_TYPES:
        source = image.path or ("a data URI" if image.url else "the image bytes")
        raise ConfigError(
            f"claude accepts JPEG, PNG, GIF or WebP images, not {media_type} ({source}); "
            "convert the image to one of those first"
        )
    return media_type.lower(), data


def _status_error(failure: StatusFailure) -> LLMError:
    """Anthropic's ``{"type": "error", "error": {type, message}}`` bodies, else the generic mapping."""
    try:
        payload = json.loads(failure.body)
    except (ValueError, RecursionError):
        payload = None
    error = payload.get("error") if isinstance(payload, Mapping) else None
    if isinstance(error, Mapping) and error.get("type"):
        return wire.error_from_payload(
            payload,
            status=failure.status,
            model=failure.model,
            retry_after=parse_retry_after(failure.headers),
        )
    # Not Anthropic's shape: a proxy, a gateway or a load balancer answered.
    return failure.error(advice=_ADVICE)


class AnthropicLLM(HTTPChatAdapter):
    """The Claude backend (registered as ``claude``): an `LLMPort` over the Messages API.

    Args:
        settings: how to reach Anthropic (`AnthropicSettings.from_env`).
        config: the normalised config every call uses unless a call passes its own;
            defaults to the settings' model and timeout.
        transport: an ``httpx`` transport (tests pass ``httpx.MockTransport``).
        name: the backend name errors and the registry use.
        retry: the retry policy; defaults to ``settings.max_retries`` retries.
        clocks: the connect and idle clocks (10 s and 60 s by default); the total deadline
            is the config's ``timeout``, else ``settings.timeout``.
        sleep: awaited for back-off delays (tests pass a recorder).
        rand: the back-off jitter source, a float in ``[0, 1)``.

    Raises:
        ConfigError: no API key, or one that would be sent over plain http to another host.
    """

    capabilities_flags: ClassVar[Capabilities] = Capabilities(
        streaming=True, function_calling=True, vision=True
    )
    profile: ClassVar[DriverProfile] = PROFILE
    context_default: ClassVar[int] = wire.CONTEXT_WINDOW  # Claude's 200k for a model the table lacks

    def __init__(
        self,
        *,
        settings: AnthropicSettings,
        config: NormalizedModelConfig | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        name: str = wire.BACKEND,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        rand: Callable[[], float] | None = None,
        clocks: Clocks | None = None,
    ) -> None:
        settings.validate()
        # The key is read from the settings (whose repr masks it) when the client is built,
        # never kept as a plain attribute a ``vars()`` dump would show.
        self.settings = settings
        self.name = name
        self.config = config or NormalizedModelConfig(model=settings.model, timeout=settings.timeout)
        self._transport = transport
        self._retry = retry or RetryPolicy(max_retries=settings.max_retries)
        self._sleep = sleep
        self._rand = rand
        self._base_clocks = clocks or Clocks(connect=10.0, idle=_IDLE_SECONDS)
        self._engine = HTTPEngine.open(
            backend=name,
            base_url=settings.base_url,
            clocks=self._clocks(self.config),
            retry=self._retry,
            status_error=_status_error,
            transport=transport,
            headers={"x-api-key": settings.api_key or "", "anthropic-version": ANTHROPIC_VERSION},
            limits=settings.limits,
            secrets=[*settings.secrets, settings.api_key or ""],
            sleep=sleep,
            rand=rand,
        )
        self._owns_pool = True

    @classmethod
    def from_settings(cls, settings: AnthropicSettings, **options: Any) -> AnthropicLLM:
        """The adapter for ``settings`` (keyword ``options`` as for the constructor)."""
        return cls(settings=settings, **options)

    def __repr__(self) -> str:
        return (
            f"AnthropicLLM(name={self.name!r}, model={self.config.model!r}, "
            f"base_url={self.settings.base_url!r})"
        )

    async def _complete(self, messages: Messages, tools: Tools, config: CallConfig) -> AIResponse:
        """Send the conversation and return the whole reply (a non-streaming call)."""
        config = self._prepare(config)
        body = wire.build_request(messages, config, tools=tools, stream=False, resolve_image=_resolve_image)
        payload, response = await self._engine_for(config).request_json(
            "POST", "/messages", json=body, model=config.model
        )
        return annotate(wire.parse_completion(payload, tool_names=tool_name_map(tools)), response.headers)

    async def _stream(
        self, messages: Messages, tools: Tools, config: CallConfig
    ) -> AsyncIterator[StreamEvent]:
        """Yield the reply as it streams; the last event is a `ResponseCompleted`.

        Raises:
            LLMError: the typed failure; after a delta was yielded it carries ``partial``.
        """
        config = self._prepare(config)
        body = wire.build_request(messages, config, tools=tools, stream=True, resolve_image=_resolve_image)
        names = tool_name_map(tools)

        def new_decoder() -> StreamDecoder[StreamEvent]:
            return EventDecoder(names, self.settings.limits)

        events: AsyncIterator[StreamEvent] = self._engine_for(config).stream(
            "POST", "/messages", decoder=new_decoder, json=body, model=config.model
        )
        try:
            async for event in events:
                yield event
        finally:
            # Closing this generator (break, aclose, cancellation) closes the connection now.
            await events.aclose()  # type: ignore[attr-defined]

    async def list_models(self, *, detailed: bool = False) -> Sequence[AIModel]:
        """The models of ``GET /models`` (every page); the known list when that call fails."""
        models: list[AIModel] = []
        url = "/models?limit=1000"
        try:
            for _ in range(20):  # a bounded walk over the pages
                payload, _response = await self._engine_for(self.config).request_json("GET", url)
                models.extend(wire.parse_models(payload))
                if not (isinstance(payload, Mapping) and payload.get("has_more") and payload.get("last_id")):
                    break
                url = f"/models?limit=1000&after_id={quote(str(payload['last_id']))}"
        except LLMError as error:
            logger.warning("claude: listing models failed (%s); showing the known models instead", error)
            return wire.FALLBACK_MODELS
        if not models:
            logger.warning("claude: GET /models returned no models; showing the known models instead")
            return wire.FALLBACK_MODELS
        return tuple(models)

    def _prepare(self, config: NormalizedModelConfig | None) -> NormalizedModelConfig:
        original = config or self.config
        adjusted = wire.adjust_config(original)
        for warning in adjusted.warnings[len(original.warnings) :]:
            logger.warning("claude: %s", warning)
        return adjusted

    def _clocks(self, config: NormalizedModelConfig) -> Clocks:
        return clocks_for(config, self.settings.timeout, self._base_clocks)

    def _engine_for(self, config: NormalizedModelConfig) -> HTTPEngine:
        """The engine; a call with another timeout gets its own total clock on the same pool."""
        clocks = self._clocks(config)
        if clocks.total != self._engine.clocks.total:
            return attrs.evolve(self._engine, clocks=attrs.evolve(self._engine.clocks, total=clocks.total))
        return self._engine
