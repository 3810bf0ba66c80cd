"""`OpenAICompatibleLLM`: the I/O of every backend that speaks ``POST /chat/completions``.

Why a shared class: the Hugging Face router and OpenAI (and any OpenAI-compatible server)
differ only in authentication, the model id they want, a few request keys, the metadata in
their response headers and the advice worth giving for each error. Everything else — the
request mapping (A's pure ``wire`` module), the SSE decoding, the engine's clocks and
retries, truncation and in-stream error detection — is written once here. Subclasses
override the hooks:

- ``_auth_headers()`` — credentials (default: ``Authorization: Bearer <key>`` when a key
  was given);
- ``_extra_headers()`` — any other request headers;
- ``_model_id(config)`` — the model id to send (the HF router appends ``:provider``);
- ``_extra_body(config)`` — extra request keys (OpenAI's ``reasoning_effort``…);
- ``_error_advice(model)`` — per-status guidance appended to error messages;
- ``_response_metadata(headers)`` — facts from the response headers (the HF router's
  serving provider); its ``provider`` key is also put on errors;
- ``_prepare(config)`` — the config a request is built from (OpenAI adjusts it);
- ``_max_tokens_key(config)`` — the token-limit key (``max_completion_tokens`` for OpenAI's
  newer models);
- ``profile`` class attribute — the driver profile whose model-limits table answers
  ``context_limit``.

The streamed path is kept lean: the engine hands raw network reads to `SSEDecoder`, each
``data:`` payload is ``json.loads``-ed once and fed to ``wire.StreamState``; nothing is
re-joined per chunk.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, ClassVar, Protocol

import attrs
import httpx

from adapters.llm._adapter import CallConfig, HTTPChatAdapter, Messages, Tools
from adapters.llm._clocks import clocks_for
from adapters.llm._http import (
    Clocks,
    HTTPEngine,
    RetryPolicy,
    StatusFailure,
)
from adapters.llm._limits import StreamLimits
from adapters.llm._settings import Secret
from adapters.llm.openai_compatible import wire
from adapters.llm.openai_compatible.decoder import ChatStreamDecoder
from domain.errors import (
    InvalidRequestError,
    LLMError,
    StreamError,
)
from domain.events import StreamEvent
from domain.messages import AIResponse, ChatMessage, ToolDefinition
from domain.model_config import AIModel, Capabilities, DriverProfile, NormalizedModelConfig

__all__ = ["OpenAICompatibleLLM"]

CHAT_PATH = "/chat/completions"
MODELS_PATH = "/models"


class CompatibleSettings(Protocol):
    """What `OpenAICompatibleLLM._init_from_settings` reads from a backend's settings."""

    @property
    def api_key(self) -> str | None: ...
    @property
    def base_url(self) -> str: ...
    @property
    def timeout(self) -> float: ...
    @property
    def max_retries(self) -> int: ...
    @property
    def limits(self) -> StreamLimits: ...
    @property
    def secrets(self) -> tuple[str, ...]: ...
    def validate(self) -> None: ...


class OpenAICompatibleLLM(HTTPChatAdapter):
    """An `LLMPort` over an OpenAI-compatible ``/chat/completions`` endpoint.

    Args:
        name: the backend name (what errors and the registry call it).
        config: the model config every call uses unless a call passes its own.
        base_url: the API root, e.g. ``https://router.huggingface.co/v1``.
        api_key: sent as a bearer token; never shown in ``repr`` or errors.
        clocks: connect and idle clocks; the total deadline comes from ``config.timeout``
            (else ``clocks.total``).
        retry: the retry policy.
        transport: an ``httpx`` transport (tests pass ``httpx.MockTransport``).
        sleep: the back-off sleep (tests pass one that does not wait).
        rand: the jitter source.
        limits: the caps on what a reply may make us hold (`StreamLimits` defaults).
        secrets: values no error may repeat, besides ``api_key`` (every configured secret).
    """

    profile: ClassVar[DriverProfile] = DriverProfile(driver="openai-compatible")
    """The driver's profile; its model-limits table answers `context_limit`."""
    capabilities_flags: ClassVar[Capabilities] = Capabilities(
        streaming=True, function_calling=True, vision=True, model_management=False, embeddings=False
    )

    def __init__(
        self,
        *,
        name: str,
        config: NormalizedModelConfig,
        base_url: str,
        api_key: str | None = None,
        clocks: Clocks | None = None,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        rand: Callable[[], float] | None = None,
        limits: StreamLimits | None = None,
        secrets: Sequence[str] = (),
    ) -> None:
        self.name = name
        self.config = config
        self.base_url = base_url.rstrip("/")
        self._limits = limits or StreamLimits()
        self._api_key = Secret(api_key) if api_key else None
        base_clocks = clocks or Clocks()
        self._base_clocks = base_clocks
        self._include_usage = True
        self._owns_pool = True
        self._engine = HTTPEngine.open(
            backend=name,
            base_url=self.base_url,
            clocks=clocks_for(config, base_clocks.total, base_clocks),
            retry=retry or RetryPolicy(),
            status_error=self._status_error,
            transport=transport,
            limits=self._limits,
            secrets=[*secrets, api_key or ""],
            sleep=sleep,
            rand=rand,
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, base_url={self.base_url!r}, "
            f"model={self.config.model!r})"
        )

    # --- hooks -------------------------------------------------------------------------------

    def _auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._api_key.reveal()}"} if self._api_key else {}

    def _extra_headers(self) -> dict[str, str]:
        return {}

    def _model_id(self, config: NormalizedModelConfig) -> str:
        return config.model

    def _extra_body(self, config: NormalizedModelConfig) -> Mapping[str, Any] | None:
        return None

    def _prepare(self, config: NormalizedModelConfig) -> NormalizedModelConfig:
        return config

    def _max_tokens_key(self, config: NormalizedModelConfig) -> str:
        return "max_tokens"

    def _error_advice(self, model: str | None) -> Mapping[int, str] | None:
        return None

    def _response_metadata(self, headers: Mapping[str, str]) -> dict[str, Any]:
        return {}

    # --- plumbing ----------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        return {**self._auth_headers(), **self._extra_headers()}

    def _status_error(self, failure: StatusFailure) -> LLMError:
        provider = self._response_metadata(failure.headers).get("provider")
        return failure.error(
            advice=self._error_advice(failure.model), provider=provider if isinstance(provider, str) else None
        )

    def _engine_for(self, config: NormalizedModelConfig) -> HTTPEngine:
        clocks = clocks_for(config, self._base_clocks.total, self._base_clocks)
        if clocks == self._engine.clocks:
            return self._engine
        return attrs.evolve(self._engine, clocks=clocks)

    def _body(
        self,
        messages: Sequence[ChatMessage],
        tools: Sequence[ToolDefinition],
        config: NormalizedModelConfig,
        *,
        stream: bool,
        include_usage: bool = True,
    ) -> dict[str, Any]:
        config = self._prepare(config)
        body = wire.build_request(
            messages,
            tools,
            config,
            stream=stream,
            include_usage=include_usage,
            max_tokens_key=self._max_tokens_key(config),
            extra=self._extra_body(config),
        )
        body["model"] = self._model_id(config)
        return body

    # --- the port ----------------------------------------------------------------------------

    async def _complete(self, messages: Messages, tools: Tools, config: CallConfig) -> AIResponse:
        """One non-streaming ``POST /chat/completions``; see `domain.ports.LLMPort`."""
        config = config or self.config
        body = self._body(messages, tools, config, stream=False)
        model = body["model"]
        payload, response = await self._engine_for(config).request_json(
            "POST", CHAT_PATH, json=body, headers=self._headers(), model=model
        )
        metadata = self._response_metadata(response.headers)
        provider = metadata.get("provider")
        parsed = wire.parse_completion(
            payload,
            tool_names=wire.tool_name_map(tools),
            backend=self.name,
            model=model,
            provider=provider if isinstance(provider, str) else None,
            prompt_chars=_prompt_chars(messages),
            advice=self._error_advice(model),
        )
        return attrs.evolve(parsed, metadata={**parsed.metadata, **metadata})

    async def _stream(
        self, messages: Messages, tools: Tools, config: CallConfig
    ) -> AsyncIterator[StreamEvent]:
        """Stream the reply over SSE; see `domain.ports.LLMPort`.

        ``stream_options.include_usage`` is asked for; a provider that rejects it (a 400
        naming ``stream_options``) is asked once more without it, and this adapter stops
        sending it.
        """
        config = config or self.config
        engine = self._engine_for(config)
        tool_names = wire.tool_name_map(tools)
        prompt_chars = _prompt_chars(messages)
        while True:
            include_usage = self._include_usage
            body = self._body(messages, tools, config, stream=True, include_usage=include_usage)
            model = body["model"]
            yielded = False

            def make_decoder(model: str = model) -> ChatStreamDecoder:
                return ChatStreamDecoder(
                    backend=self.name,
                    model=model,
                    tool_names=tool_names,
                    prompt_chars=prompt_chars,
                    metadata_of=self._response_metadata,
                    advice=self._error_advice(model),
                    limits=self._limits,
                )

            try:
                events = engine.stream(
                    "POST",
                    CHAT_PATH,
                    decoder=make_decoder,
                    json=body,
                    headers=self._headers(),
                    model=model,
                )
                async with contextlib.aclosing(events):
                    async for event in events:
                        yielded = True
                        yield event
                return
            except InvalidRequestError as error:
                if yielded or not include_usage or "stream_options" not in error.message.lower():
                    _name_provider(error)
                    raise
                self._include_usage = False  # remembered: this provider refuses it
            except LLMError as error:
                _name_provider(error)
                raise

    async def list_models(self, *, detailed: bool = False) -> Sequence[AIModel]:
        """``GET /models``: the ids the endpoint lists."""
        payload, _ = await self._engine.request_json(
            "GET", MODELS_PATH, headers=self._headers(), model=self.config.model
        )
        data = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(data, list):
            raise StreamError(
                f"{self.name}: GET /models did not return a model list",
                backend=self.name,
            )
        return tuple(
            AIModel(name=str(item["id"]), owned_by=item.get("owned_by"))
            for item in data
            if isinstance(item, dict) and item.get("id")
        )


def _prompt_chars(messages: Sequence[ChatMessage]) -> int:
    return sum(len(message.content) for message in messages)


def _name_provider(error: LLMError) -> None:
    """Errors the engine raised mid-stream learn the serving provider from the partial reply."""
    if error.provider is None and error.partial is not None:
        provider = error.partial.metadata.get("provider")
        if isinstance(provider, str):
            error.provider = provider
