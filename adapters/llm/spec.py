"""`BackendSpec`: everything the runtime knows about one backend, declared once in its package.

Each backend package exports one ``SPEC``; `adapters.llm.SPECS` lists them. The container
turns each spec into a registry entry, ``cw backends`` and the HTTP service list them, the
tests scrub the environment of their variables, and a test checks that each has its row in
the docs and its block in ``.env.example``. The pydantic-ai ``Model``/``Provider``/
``ModelProfile`` split and simonw/llm's ``register_models`` hook are the models: a new
backend is a package, not edits across the tree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Generic, Protocol, TypeVar

import attrs

from application.registry import BackendEntry
from domain.errors import ConfigError
from domain.model_config import Capabilities, DriverProfile, NormalizedModelConfig
from domain.ports import LLMPort, ModelManagementPort, PullProgressCallback

__all__ = ["BackendSpec", "BuildContext", "EnvSettings"]


@attrs.frozen(kw_only=True)
class BuildContext:
    """What building an adapter gets besides its settings: the shared transports and callbacks."""

    transport: Any = None
    """The ``httpx.AsyncBaseTransport`` every HTTP adapter uses; ``None`` means the network."""
    fake_transport: Callable[[], Any] = attrs.field(default=lambda: None)
    """Returns the fake backend's `ScriptedTransport` (one per container, shared by its copies)."""
    on_pull_progress: PullProgressCallback | None = None
    """Receives the progress of a "pull if missing" download; ``None``: a log line says why
    the first chat waits."""


class EnvSettings(Protocol):
    """A backend's settings class: read from the environment, never showing a secret in ``repr``."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Any:
        """Read the backend's variables; `ConfigError` for one that does not parse."""
        ...


S = TypeVar("S")


def _no_model_settings(settings: Any) -> Mapping[str, Any]:
    return {}


@attrs.frozen(kw_only=True)
class BackendSpec(Generic[S]):
    """One backend: its name, driver, settings, how to build it, what it can do, its profile.

    Attributes:
        name: the name agents, ``AI_BACKEND`` and ``--backend`` use (``claude``).
        title: the human name (``Anthropic Claude``), for listings.
        driver: the driver it runs (``anthropic``); several backends may share one.
        env_prefix: the prefix of its variables, with the underscore (``ANTHROPIC_``);
            ``None`` for a backend configured by nothing (the fake).
        settings: its settings class (``from_env(environ)``, and ``validate()`` when some
            rules can only be checked once all variables are read); ``None`` with no prefix.
        build: ``(settings, config, context) -> LLMPort``: a new adapter bound to ``config``.
        model_manager: ``(settings, context) -> ModelManagementPort`` for a backend that
            pulls, deletes and shows models; ``None`` otherwise.
        model_settings: the backend-level model settings (``model``, ``timeout``…) its
            settings hold, which the normaliser puts between the profile and the agent.
        capabilities: what it can do, known without building anything.
        profile: its driver's defaults, ranges, refused settings and model limits.
        self_hosted: it is a server the user runs (Ollama, vLLM), so listing the backends
            may ask that server whether it is up; hosted services are never called to list them.
    """

    name: str
    title: str
    driver: str
    env_prefix: str | None
    settings: type[S] | None
    build: Callable[[S, NormalizedModelConfig, BuildContext], LLMPort]
    capabilities: Capabilities
    profile: DriverProfile
    model_manager: Callable[[S, BuildContext], ModelManagementPort] | None = None
    model_settings: Callable[[S], Mapping[str, Any]] = _no_model_settings
    self_hosted: bool = False

    @classmethod
    def http(
        cls,
        name: str,
        title: str,
        env_prefix: str,
        settings: type[Any],
        adapter: Any,
        profile: DriverProfile,
        *,
        self_hosted: bool = False,
    ) -> BackendSpec[Any]:
        """The spec of a plain HTTP backend, the usual shape.

        Args:
            name: the backend name (also the adapter's ``name``).
            title: the human name.
            env_prefix: the prefix of its variables, with the underscore.
            settings: its settings class: ``from_env(environ)``, ``backend_settings()`` (the
                model settings it holds) and ``validate()``.
            adapter: its adapter class, built as ``adapter(settings=, config=, transport=,
                name=)``, whose ``capabilities_flags`` say what it can do.
            profile: its driver's profile (the driver is ``profile.driver``).
            self_hosted: the server is the user's own, so a listing may ask it whether it is up.
        """

        def build(settings: Any, config: NormalizedModelConfig, io: BuildContext) -> LLMPort:
            built: LLMPort = adapter(settings=settings, config=config, transport=io.transport, name=name)
            return built

        return cls(
            name=name,
            title=title,
            driver=profile.driver,
            env_prefix=env_prefix,
            settings=settings,
            build=build,
            model_settings=settings.backend_settings,
            capabilities=adapter.capabilities_flags,
            profile=profile,
            self_hosted=self_hosted,
        )

    @property
    def manages_models(self) -> bool:
        """Whether the backend offers model management (pull, rm, show, ps)."""
        return self.model_manager is not None

    def read_settings(self, environ: Mapping[str, str]) -> S:
        """The backend's settings from ``environ`` (not validated yet).

        Raises:
            ConfigError: a variable that does not parse.
        """
        if self.settings is None:
            return None  # type: ignore[return-value]  # a backend without settings builds from none
        reader: Any = self.settings
        settings: S = reader.from_env(environ)
        return settings

    def problem(self, environ: Mapping[str, str]) -> str | None:
        """What keeps this backend from working with ``environ``, or ``None`` when nothing.

        It checks what can be checked without a request: the variables parse, a required key
        is set, the URL is well formed.
        """
        try:
            settings = self.read_settings(environ)
            validate = getattr(settings, "validate", None)
            if validate is not None:
                validate()
        except ConfigError as error:
            return error.message
        return None

    def entry(self, environ: Mapping[str, str], context: BuildContext) -> BackendEntry:
        """The registry entry of this backend with the settings in ``environ``.

        Settings that do not parse give an entry that fails only when used: a typo in
        ``OLLAMA_TIMEOUT`` must not stop anyone from using another backend.
        """
        try:
            settings = self.read_settings(environ)
        except ConfigError as error:
            return self._unusable(error)

        def factory(config: NormalizedModelConfig) -> LLMPort:
            return self.build(settings, config, context)

        manager = self.model_manager
        return BackendEntry(
            name=self.name,
            driver=self.driver,
            factory=factory,
            settings=self.model_settings(settings),
            model_manager=None if manager is None else lambda: manager(settings, context),
            capabilities=self.capabilities,
            profile=self.profile,
            self_hosted=self.self_hosted,
        )

    def _unusable(self, error: ConfigError) -> BackendEntry:
        def fail(*args: object) -> Any:
            raise error

        return BackendEntry(
            name=self.name,
            driver=self.driver,
            factory=fail,
            model_manager=fail if self.manages_models else None,
            capabilities=self.capabilities,
            profile=self.profile,
            self_hosted=self.self_hosted,
        )
