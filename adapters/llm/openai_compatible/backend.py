"""`OpenAICompatibleBackend`: an OpenAI-compatible backend built from its settings alone.

The Hugging Face router, OpenAI and vLLM adapters are this class plus their own parts (advice,
headers, model ids, metadata, model lists): the constructor, `from_settings` and the default
config (the settings' ``backend_settings()``) are written once here. A subclass names
``default_name``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, ClassVar, Self

import httpx

from adapters.llm._http import Clocks, RetryPolicy
from adapters.llm.openai_compatible.llm import MODELS_PATH, CompatibleSettings, OpenAICompatibleLLM
from domain.errors import LLMError
from domain.model_config import AIModel, NormalizedModelConfig

__all__ = ["OpenAICompatibleBackend"]


class OpenAICompatibleBackend(OpenAICompatibleLLM):
    """An `OpenAICompatibleLLM` defined by its settings.

    Args:
        settings: the backend settings; validated here, before anything is built (so a bad
            setting is a `ConfigError`, never a half-built adapter).
        config: the bound model config; by default `_default_config` of the settings.
        name: the backend name; by default ``default_name``.
        transport: an ``httpx`` transport (tests pass ``httpx.MockTransport``).
        clocks: connect and idle clocks (the total deadline is the settings' timeout).
        sleep: the back-off sleep (tests pass one that does not wait).
        rand: the jitter source.

    Raises:
        ConfigError: the settings are invalid (see the settings' ``validate``).
    """

    default_name: ClassVar[str] = "openai-compatible"

    def __init__(
        self,
        *,
        settings: CompatibleSettings,
        config: NormalizedModelConfig | None = None,
        name: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clocks: Clocks | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        rand: Callable[[], float] | None = None,
    ) -> None:
        settings.validate()
        self.settings = settings
        super().__init__(
            name=name or self.default_name,
            config=config or self._default_config(settings),
            base_url=settings.base_url,
            api_key=settings.api_key,
            clocks=clocks or Clocks(total=settings.timeout),
            retry=RetryPolicy(max_retries=settings.max_retries),
            transport=transport,
            sleep=sleep,
            rand=rand,
            limits=settings.limits,
            secrets=settings.secrets,
        )

    @classmethod
    def from_settings(cls, settings: Any, **options: Any) -> Self:
        """The adapter for ``settings`` (keyword ``options`` as for the constructor)."""
        return cls(settings=settings, **options)

    def _default_config(self, settings: Any) -> NormalizedModelConfig:
        """The config of an adapter given none: the settings' ``backend_settings()``.

        That is the model, the timeout and what the backend adds (Hugging Face's provider,
        OpenAI's reasoning effort), as the registry also gets them.
        """
        return NormalizedModelConfig(**settings.backend_settings())

    async def _models_or(
        self, parse: Callable[[Any], Sequence[AIModel] | None], fallback: Sequence[AIModel], *, instead: str
    ) -> Sequence[AIModel]:
        """The models ``parse`` reads from ``GET /models``, or ``fallback`` when that call fails
        or lists none (a warning on the subclass's logger says why, then ``instead``)."""
        log = logging.getLogger(type(self).__module__)
        try:
            payload, _ = await self._engine.request_json(
                "GET", MODELS_PATH, headers=self._headers(), model=self.config.model
            )
        except LLMError as error:
            log.warning("%s: listing models failed (%s); %s", self.default_name, error, instead)
            return fallback
        models = parse(payload)
        if not models:
            log.warning("%s: GET /models returned no models; %s", self.default_name, instead)
            return fallback
        return models
