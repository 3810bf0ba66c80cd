"""The composition root: the one place that picks adapters and wires them to the use cases.

One dependency-injector `Container` holds every provider; an environment (``production``,
``test``, see ``adapters/environments.py``) only changes its configuration values. Building a
container reads nothing and connects nowhere: settings are read when `build_container` is
called, and an adapter is built only when a run asks its backend for one.

Entry points ask the container for what they need (``container.run_agent()``,
``container.backends()``); no other module imports this one.

An embedding application can override any provider before first use (the test
``test_the_documented_embedding_example_works`` runs this very code on the fake backend)::

    from dependency_injector import providers
    from adapters.container import build_container
    from domain.model_config import Agent

    def get_weather(city: str) -> str:
        '''The weather in a city (the docstring and type hints become the tool's schema).'''
        return f"Sunny in {city}"

    container = build_container("production", environ={"HUGGINGFACE_API_KEY": "hf_..."})
    container.store.override(providers.Singleton(MyConversationStore))  # your own store
    container.app_tools.override(providers.Object([get_weather]))       # your tools
    container.config.workspace.from_value("/srv/project")               # builtin tools' root
    agent = Agent(name="weather", system_prompt="Be brief.", tools=("get_weather", "read"))
    ended = container.run_agent().run_sync(agent, "What is the weather in Paris?")
    print(ended.response.content)

``container.http_transport`` (``None`` by default) is handed to every HTTP adapter; a test can
override it with an ``httpx.MockTransport`` to answer every backend call in process. In the
``test`` environment the default backend is ``fake``: give it a script with
``container.fake_script.override(providers.Object([AIResponse(...), ...]))``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
from dependency_injector import containers, providers

from adapters.environments import environment_config
from adapters.settings import Settings
from application.model_config import ModelConfigNormalizer
from application.registry import BackendEntry, BackendRegistry
from application.run_agent import RunAgent
from application.tools import ToolRegistry
from domain.errors import ConfigError, UnknownBackendError
from domain.model_config import Capabilities, DriverProfile, NormalizedModelConfig
from domain.ports import ConversationStorePort, LLMPort, ModelManagementPort, PullProgressCallback

__all__ = ["BACKEND_BUILDERS", "BuildContext", "Container", "backend_problem", "build_container"]


@attrs.frozen(kw_only=True)
class BuildContext:
    """What a backend builder gets: the settings and the shared transports."""

    settings: Settings
    transport: Any = None
    """The ``httpx.AsyncBaseTransport`` every HTTP adapter uses; ``None`` means the network."""
    fake_transport: Callable[[], Any] = attrs.field(default=lambda: None)
    """Returns the fake backend's `ScriptedTransport` (one per container, shared by its copies)."""
    on_pull_progress: PullProgressCallback | None = None
    """Receives the progress of an Ollama "pull if missing" download; ``None``: a log line says why
    the first chat waits."""


BackendBuilder = Callable[[BuildContext], BackendEntry]
"""Builds the registry entry of one backend."""

ProblemCheck = Callable[[Settings], None]
"""Raises `ConfigError` when the settings cannot work for a backend (no key, a bad URL)."""


def _unusable(
    name: str,
    driver: str,
    error: ConfigError,
    *,
    profile: DriverProfile,
    capabilities: Capabilities | None = None,
    manages_models: bool = False,
) -> BackendEntry:
    """An entry for a backend whose settings do not parse: it fails only when used.

    A typo in ``OLLAMA_TIMEOUT`` must not stop someone from using the ``huggingface`` backend.
    """

    def factory(config: NormalizedModelConfig) -> LLMPort:
        raise error

    def manager() -> ModelManagementPort:
        raise error

    return BackendEntry(
        name=name,
        driver=driver,
        factory=factory,
        model_manager=manager if manages_models else None,
        capabilities=capabilities,
        profile=profile,
    )


def _huggingface(context: BuildContext) -> BackendEntry:
    from adapters.llm.huggingface import HuggingFaceLLM
    from adapters.llm.huggingface.profile import PROFILE

    try:
        hf = context.settings.huggingface()
    except ConfigError as error:
        return _unusable(
            "huggingface",
            "huggingface",
            error,
            capabilities=HuggingFaceLLM.capabilities_flags,
            profile=PROFILE,
        )

    def factory(config: NormalizedModelConfig) -> LLMPort:
        return HuggingFaceLLM(settings=hf, config=config, transport=context.transport, name="huggingface")

    return BackendEntry(
        name="huggingface",
        driver="huggingface",
        factory=factory,
        settings={"model": hf.model, "timeout": hf.timeout, "provider": hf.provider},
        capabilities=HuggingFaceLLM.capabilities_flags,
        profile=PROFILE,
    )


def _check_huggingface(settings: Settings) -> None:
    settings.huggingface().validate()


def _openai(context: BuildContext) -> BackendEntry:
    from adapters.llm.openai import OpenAILLM
    from adapters.llm.openai.profile import PROFILE

    try:
        openai = context.settings.openai()
    except ConfigError as error:
        return _unusable(
            "openai", "openai", error, capabilities=OpenAILLM.capabilities_flags, profile=PROFILE
        )

    def factory(config: NormalizedModelConfig) -> LLMPort:
        return OpenAILLM(settings=openai, config=config, transport=context.transport, name="openai")

    return BackendEntry(
        name="openai",
        driver="openai",
        factory=factory,
        settings=openai.backend_settings(),
        capabilities=OpenAILLM.capabilities_flags,
        profile=PROFILE,
    )


def _check_openai(settings: Settings) -> None:
    settings.openai().validate()


def _claude(context: BuildContext) -> BackendEntry:
    from adapters.llm.anthropic import AnthropicLLM
    from adapters.llm.anthropic.profile import PROFILE

    try:
        claude = context.settings.claude()
    except ConfigError as error:
        return _unusable(
            "claude", "anthropic", error, capabilities=AnthropicLLM.capabilities_flags, profile=PROFILE
        )

    def factory(config: NormalizedModelConfig) -> LLMPort:
        return AnthropicLLM(settings=claude, config=config, transport=context.transport, name="claude")

    return BackendEntry(
        name="claude",
        driver="anthropic",
        factory=factory,
        settings=claude.backend_settings(),
        capabilities=AnthropicLLM.capabilities_flags,
        profile=PROFILE,
    )


def _check_claude(settings: Settings) -> None:
    settings.claude().validate()


def _ollama(context: BuildContext) -> BackendEntry:
    from adapters.llm.ollama import OllamaLLM, OllamaModelManager
    from adapters.llm.ollama.profile import PROFILE

    try:
        ollama = context.settings.ollama()
    except ConfigError as error:
        return _unusable(
            "ollama",
            "ollama",
            error,
            capabilities=OllamaLLM.capabilities_flags,
            manages_models=True,
            profile=PROFILE,
        )

    def factory(config: NormalizedModelConfig) -> LLMPort:
        return OllamaLLM(
            config=config,
            settings=ollama,
            name="ollama",
            transport=context.transport,
            on_pull_progress=context.on_pull_progress,
        )

    def manager() -> ModelManagementPort:
        return OllamaModelManager(ollama, transport=context.transport)

    return BackendEntry(
        name="ollama",
        driver="ollama",
        factory=factory,
        settings={"model": ollama.model, "timeout": ollama.timeout},
        model_manager=manager,
        capabilities=OllamaLLM.capabilities_flags,
        profile=PROFILE,
    )


def _check_ollama(settings: Settings) -> None:
    settings.ollama()


def _fake(context: BuildContext) -> BackendEntry:
    from adapters.llm.fake import FakeLLM
    from adapters.llm.fake_spec import PROFILE

    def factory(config: NormalizedModelConfig) -> LLMPort:
        return FakeLLM(config=config, name="fake", transport=context.fake_transport())

    return BackendEntry(
        name="fake", driver="fake", factory=factory, capabilities=FakeLLM.capabilities_flags, profile=PROFILE
    )


def _fake_transport(script: Iterable[Any], wire: str | None) -> Any:
    from adapters.llm.fake import ScriptedTransport

    return ScriptedTransport(tuple(script), wire=wire or "openai")


BACKEND_BUILDERS: Mapping[str, BackendBuilder] = {
    "huggingface": _huggingface,
    "ollama": _ollama,
    "openai": _openai,
    "claude": _claude,
    "fake": _fake,
}
"""Backend name → how to build its registry entry. Adapters are imported only when built."""

_PROBLEM_CHECKS: Mapping[str, ProblemCheck] = {
    "huggingface": _check_huggingface,
    "ollama": _check_ollama,
    "openai": _check_openai,
    "claude": _check_claude,
}


def backend_problem(settings: Settings, name: str) -> str | None:
    """What keeps backend ``name`` from working with these settings, or ``None`` when nothing.

    It checks what can be checked without a request: a required API key, a well-formed URL.
    """
    check = _PROBLEM_CHECKS.get(name)
    if check is None:
        return None
    try:
        check(settings)
    except ConfigError as error:
        return error.message
    return None


def _backend_registry(
    settings: Settings,
    names: Sequence[str],
    default_backend: str | None,
    normalizer: ModelConfigNormalizer,
    transport: Any,
    fake_transport: Callable[[], Any],
    on_pull_progress: PullProgressCallback | None = None,
) -> BackendRegistry:
    unknown = [name for name in names if name not in BACKEND_BUILDERS]
    if unknown:
        raise ConfigError(
            f"no adapter is known for backend(s) {', '.join(unknown)}; known: {', '.join(BACKEND_BUILDERS)}"
        )
    if default_backend is None and settings.default_backend not in names:
        error = UnknownBackendError(settings.default_backend, names)
        # Say where the name came from, so the one error line says what to change.
        error.message = (
            f"AI_BACKEND={settings.default_backend!r} is not a backend; "
            f"set AI_BACKEND to one of {', '.join(names)}"
        )
        error.args = (error.message,)
        raise error
    context = BuildContext(
        settings=settings,
        transport=transport,
        fake_transport=fake_transport,
        on_pull_progress=on_pull_progress,
    )
    return BackendRegistry(
        [BACKEND_BUILDERS[name](context) for name in names],
        default_backend=default_backend or settings.default_backend,
        normalizer=normalizer,
    )


def _tool_registry(
    workspace: str | os.PathLike[str] | None, app_tools: Iterable[Any], settings: Settings
) -> ToolRegistry:
    """The builtin workspace tools (confined to ``workspace``) plus the application's tools.

    ``app_tools`` holds callables, or ``(callable, {register keyword arguments})`` pairs. The
    builtin tools never return a configured secret: the workspace may hold the ``.env``.
    """
    from adapters.tools import register_workspace_tools

    registry = ToolRegistry()
    register_workspace_tools(
        registry, Path(workspace) if workspace else Path.cwd(), secrets=settings.secrets()
    )
    for tool in app_tools:
        if isinstance(tool, tuple):
            function, options = tool
            registry.register(function, **dict(options))
        else:
            registry.register(tool)
    return registry


def _store(kind: str) -> ConversationStorePort:
    if kind == "memory":
        from adapters.storage.memory import InMemoryConversationStore

        return InMemoryConversationStore()
    raise ConfigError(f"unknown conversation store {kind!r}; use 'memory'")


def _run_agent(
    backends: BackendRegistry, store: ConversationStorePort, tools: ToolRegistry, max_turns: int | None
) -> RunAgent:
    return RunAgent(backends=backends, store=store, tools=tools, max_turns=max_turns or 25)


class Container(containers.DeclarativeContainer):
    """Every provider of the runtime. Configure with `build_container`; override at will.

    Configuration keys (``container.config``): ``backends`` (names to register),
    ``default_backend`` (``None``: the settings' ``AI_BACKEND``), ``store`` (``memory``),
    ``max_turns``, ``workspace`` (the builtin tools' root; ``None``: the current folder).
    """

    config = providers.Configuration()

    settings = providers.Singleton(Settings.load)
    """The settings; `build_container` replaces this with the ones it read."""

    http_transport: providers.Object[Any] = providers.Object(None)
    """An ``httpx.AsyncBaseTransport`` for every HTTP adapter; ``None`` means the network."""

    normalizer = providers.Singleton(ModelConfigNormalizer)

    fake_script: providers.Object[Any] = providers.Object(())
    """The fake backend's script (``AIResponse``s and scripted failures), served in order."""

    fake_transport = providers.Singleton(_fake_transport, script=fake_script, wire=config.fake_wire)
    """The fake backend's `ScriptedTransport`; ``container.fake_transport().add(...)`` adds steps."""

    pull_progress: providers.Object[Any] = providers.Object(None)
    """A callback receiving each `ModelPullProgress` of an Ollama "pull if missing" download
    (``cw run`` draws it on stderr); ``None``: a warning in the log says why the first chat waits."""

    backends = providers.Singleton(
        _backend_registry,
        settings=settings,
        names=config.backends,
        default_backend=config.default_backend,
        normalizer=normalizer,
        transport=http_transport,
        fake_transport=fake_transport.provider,
        on_pull_progress=pull_progress,
    )
    """The `BackendRegistry`: one entry (adapter factory) per configured backend."""

    store = providers.Singleton(_store, kind=config.store)
    """The `ConversationStorePort`."""

    app_tools = providers.Object(())
    """Tools an embedding application adds: callables, or ``(callable, register kwargs)``."""

    tools = providers.Singleton(
        _tool_registry, workspace=config.workspace, app_tools=app_tools, settings=settings
    )
    """The `ToolRegistry` (a `ToolRunnerPort`): builtin workspace tools plus ``app_tools``."""

    run_agent = providers.Factory(
        _run_agent, backends=backends, store=store, tools=tools, max_turns=config.max_turns
    )
    """The `RunAgent` use case."""


def build_container(
    env: str | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    settings: Settings | None = None,
) -> Container:
    """A container wired for environment ``env``.

    Args:
        env: ``production`` or ``test``; ``None`` uses ``CW_ENV`` (default ``production``).
        environ: the environment to read settings from; ``None`` reads the process
            environment and ``./.env``. Ignored when ``settings`` is given.
        settings: settings already read (the CLI passes its own, with option overrides).

    Returns:
        A container; nothing has been built or connected yet.

    Raises:
        ConfigError: an unknown environment or an unreadable settings file.
    """
    if settings is None:
        settings = Settings.load(environ)
    values = environment_config(env or settings.environment)
    values.setdefault("workspace", None)
    container = Container()
    container.config.from_dict(values)
    container.settings.override(providers.Object(settings))
    return container
