"""Backend names → adapters: `BackendRegistry`.

An agent names its backend (``huggingface``, ``ollama``, ``claude``…); the registry turns
that name into an adapter bound to the agent's normalised config. The name an agent may use is
exactly the name a backend was registered under — the original system accepted ``anthropic``
for agents while configuring ``claude``, which made Claude unusable; here there is one list.
The registry knows nothing about HTTP: the composition root registers a factory per backend.
It can still ask a self-hosted backend's server whether it is up (`BackendRegistry.probe`),
through the same ports a run uses, so ``cw backends`` and the HTTP API answer alike.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import attrs

from application.model_config import ModelConfigNormalizer
from domain.errors import AgentError, ConfigError, NotSupportedError, UnknownBackendError
from domain.model_config import Agent, Capabilities, DriverProfile, NormalizedModelConfig
from domain.ports import LLMPort, ModelManagementPort

__all__ = ["BackendEntry", "BackendRegistry"]


def _settings(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return dict(value) if value else {}


@attrs.frozen(kw_only=True)
class BackendEntry:
    """One registered backend.

    Attributes:
        name: the name agents and users use (``huggingface``, ``fake``…).
        driver: the name of the driver the backend runs (``claude`` runs ``anthropic``).
        factory: builds a NEW adapter bound to a config. The caller owns what it returns and
            closes it with ``aclose()`` (`RunAgent` does so at the end of every run).
        settings: backend-level model settings (``model``, ``timeout``, ``provider``…), between
            the driver defaults and the agent's overrides. Other keys are ignored here.
        model_manager: builds the backend's model-management port, when it has one.
        capabilities: what the backend can do, known without building an adapter (so it can
            be shown for a backend that is not configured yet); ``None`` when unknown.
        profile: the driver's defaults, ranges, refused settings and model limits, which the
            normaliser applies; by default an empty profile named after ``driver``.
        self_hosted: the backend is a server the user runs (not a hosted service), so listing
            it may ask that server whether it is up; a hosted service is never called just to
            be listed (it may bill, rate-limit or log the call).
    """

    name: str = attrs.field()
    driver: str
    factory: Callable[[NormalizedModelConfig], LLMPort]
    settings: Mapping[str, Any] = attrs.field(factory=dict, converter=_settings)
    model_manager: Callable[[], ModelManagementPort] | None = None
    capabilities: Capabilities | None = None
    profile: DriverProfile = attrs.field(
        default=attrs.Factory(lambda self: DriverProfile(driver=self.driver), takes_self=True)
    )
    self_hosted: bool = False

    @property
    def probed(self) -> bool:
        """Whether listing the backends asks its server if it is up (`BackendRegistry.probe`):
        it is a server the user runs, which a backend that manages models always is."""
        return self.self_hosted or self.model_manager is not None

    @name.validator
    def _name_not_empty(self, attribute: object, value: str) -> None:
        if not value.strip():
            raise ValueError("a backend needs a non-empty name")


class BackendRegistry:
    """The backends this runtime can use, by name.

    Args:
        entries: the registered backends; names must be unique.
        default_backend: the backend of agents that name none.
        normalizer: merges defaults, backend settings and agent overrides.

    Raises:
        ConfigError: two entries share a name.
        UnknownBackendError: ``default_backend`` is not among the entries.
    """

    def __init__(
        self,
        entries: Iterable[BackendEntry],
        default_backend: str,
        normalizer: ModelConfigNormalizer | None = None,
    ) -> None:
        self._entries: dict[str, BackendEntry] = {}
        for entry in entries:
            if entry.name in self._entries:
                raise ConfigError(f"backend {entry.name!r} is registered twice; give each backend one name")
            self._entries[entry.name] = entry
        if default_backend not in self._entries:
            raise UnknownBackendError(default_backend, self.names())
        self._default = default_backend
        self._normalizer = normalizer or ModelConfigNormalizer()

    @property
    def default_backend(self) -> str:
        """The backend used by agents that name none."""
        return self._default

    def names(self) -> tuple[str, ...]:
        """The registered backend names, in registration order."""
        return tuple(self._entries)

    def get(self, name: str) -> BackendEntry:
        """The entry registered as ``name``.

        Raises:
            UnknownBackendError: nothing is registered under ``name``; it lists the valid names.
        """
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownBackendError(name, self.names()) from None

    def backend_of(self, agent: Agent) -> BackendEntry:
        """The entry the agent uses: its own backend, or the default."""
        return self.get(agent.backend if agent.backend is not None else self._default)

    def config_for(self, agent: Agent) -> NormalizedModelConfig:
        """The agent's normalised config on its backend.

        Raises:
            UnknownBackendError: the agent names an unregistered backend.
            ConfigError: the agent's ``model_config`` is invalid.
        """
        entry = self.backend_of(agent)
        return self._normalizer.normalize(entry.profile, entry.settings, agent.model_config)

    def config_for_backend(
        self, name: str, overrides: Mapping[str, Any] | None = None
    ) -> NormalizedModelConfig:
        """The normalised config of backend ``name`` with optional overrides (no agent needed)."""
        entry = self.get(name)
        return self._normalizer.normalize(entry.profile, entry.settings, overrides)

    def for_agent(self, agent: Agent) -> LLMPort:
        """A new adapter for the agent's backend, bound to the agent's normalised config.

        The caller owns the adapter and must ``aclose()`` it.
        """
        entry = self.backend_of(agent)
        return entry.factory(self._normalizer.normalize(entry.profile, entry.settings, agent.model_config))

    def for_backend(self, name: str, overrides: Mapping[str, Any] | None = None) -> LLMPort:
        """A new adapter for backend ``name`` (listing models, say); the caller closes it."""
        return self.get(name).factory(self.config_for_backend(name, overrides))

    def model_manager(self, name: str) -> ModelManagementPort:
        """The model-management port of backend ``name``.

        Raises:
            UnknownBackendError: nothing is registered under ``name``.
            NotSupportedError: the backend cannot manage models (a serverless router, say).
        """
        entry = self.get(name)
        if entry.model_manager is None:
            managing = [other.name for other in self._entries.values() if other.model_manager is not None]
            where = f"use {' or '.join(managing)} for that" if managing else "no registered backend does"
            raise NotSupportedError(
                f"the {name} backend does not manage models (pull, delete, show); {where}",
                backend=name,
            )
        return entry.model_manager()

    async def probe(self, name: str, seconds: float) -> str | None:
        """Ask the server of backend ``name`` whether it is up, waiting at most ``seconds``.

        The one probe behind every listing, so the CLI and the HTTP API cannot disagree. A
        backend with model management is asked for its running models (cheap, and what its
        own tool shows); another self-hosted backend for its model list. A hosted service is
        not called: listing it must cost nothing. Call this only for a configured backend:
        an unconfigured one has a better reason to show than a failed request.

        Returns:
            ``None`` when the server answered, or is not the user's to ask; otherwise why it
            is not usable (``its server did not answer within 2 s``, or the error's message,
            which carries the backend's advice).

        Raises:
            UnknownBackendError: nothing is registered under ``name``.
        """
        entry = self.get(name)
        if not entry.probed:
            return None
        close: Callable[[], Awaitable[None]] | None = None
        try:
            ask: Callable[[], Awaitable[object]]
            if entry.model_manager is not None:
                manager = entry.model_manager()
                close = getattr(manager, "aclose", None)  # the port promises none; Ollama's has one
                ask = manager.running
            else:
                adapter = self.for_backend(name)
                close = adapter.aclose
                ask = adapter.list_models
            async with asyncio.timeout(seconds):
                await ask()
        except TimeoutError:
            return f"its server did not answer within {seconds:g} s"
        except AgentError as error:
            return error.message
        finally:
            if close is not None:  # outside the timeout: a slow server still gets its socket closed
                await close()
        return None

    def validate_agent(self, agent: Agent) -> None:
        """Check that the agent can run here, before anything is sent.

        Raises:
            UnknownBackendError: the agent's backend is not registered (lists the valid names).
            ConfigError: the agent's ``model_config`` is invalid.
        """
        self.config_for(agent)
