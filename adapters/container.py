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
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from dependency_injector import containers, providers

from adapters.environments import environment_config
from adapters.llm import SPECS, SPECS_BY_NAME, BackendSpec, BuildContext
from adapters.settings import Settings
from application.model_config import ModelConfigNormalizer
from application.registry import BackendEntry, BackendRegistry
from application.run_agent import DEFAULT_MAX_TOOL_CALLS, RunAgent
from application.tools import ToolRegistry
from domain.errors import ConfigError, UnknownBackendError
from domain.ports import ConversationStorePort

__all__ = ["BACKEND_BUILDERS", "BuildContext", "Container", "backend_problem", "build_container"]


BACKEND_BUILDERS: Mapping[str, BackendSpec[Any]] = SPECS_BY_NAME
"""Backend name → its `BackendSpec` (the container builds a registry entry from each)."""


def backend_problem(settings: Settings, name: str) -> str | None:
    """What keeps backend ``name`` from working with these settings, or ``None`` when nothing.

    It checks what can be checked without a request: a required API key, a well-formed URL.
    """
    spec = SPECS_BY_NAME.get(name)
    return None if spec is None else spec.problem(settings.environ)


def _backend_entry(spec: BackendSpec[Any], settings: Settings, context: BuildContext) -> BackendEntry:
    return spec.entry(settings.environ, context)


def _entry_factories(settings: Any, context: Any) -> dict[str, Any]:
    """One ``Factory`` of a registry entry per spec, for the container's `FactoryAggregate`."""
    return {
        spec.name: providers.Factory(_backend_entry, spec=spec, settings=settings, context=context)
        for spec in SPECS
    }


def _fake_transport(script: Iterable[Any], wire: str | None, echo: bool | None = None) -> Any:
    from adapters.llm.fake import ScriptedTransport

    return ScriptedTransport(tuple(script), wire=wire or "openai", echo=bool(echo))


def _backend_registry(
    settings: Settings,
    names: Sequence[str],
    default_backend: str | None,
    normalizer: ModelConfigNormalizer,
    entries: Any,
) -> BackendRegistry:
    """The registry of backends ``names``; ``entries(name)`` builds each entry (a `FactoryAggregate`)."""
    unknown = [name for name in names if name not in entries.providers]
    if unknown:
        raise ConfigError(
            f"no adapter is known for backend(s) {', '.join(unknown)}; known: {', '.join(entries.providers)}"
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
    return BackendRegistry(
        [entries(name) for name in names],
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

    # Every tool gets a time limit (CW_TOOL_TIMEOUT): a call that overruns is answered with
    # an error result saying so, and never holds up the run, a stop or shutdown.
    timeout = settings.tool_timeout()
    registry = ToolRegistry(default_timeout=timeout)
    register_workspace_tools(
        registry,
        Path(workspace) if workspace else Path.cwd(),
        secrets=settings.secrets(),
        time_budget=timeout,
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
    backends: BackendRegistry,
    store: ConversationStorePort,
    tools: ToolRegistry,
    max_turns: int | None,
    settings: Settings | None = None,
) -> RunAgent:
    max_tool_calls = settings.max_tool_calls() if settings is not None else DEFAULT_MAX_TOOL_CALLS
    return RunAgent(
        backends=backends,
        store=store,
        tools=tools,
        max_turns=max_turns or 25,
        max_tool_calls=max_tool_calls,
    )


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

    fake_transport = providers.Singleton(
        _fake_transport, script=fake_script, wire=config.fake_wire, echo=config.fake_echo
    )
    """The fake backend's `ScriptedTransport`; ``container.fake_transport().add(...)`` adds steps.
    With ``config.fake_echo`` (``production``) a request the script has no step for is answered
    with an echo of the last user message instead of an error."""

    pull_progress: providers.Object[Any] = providers.Object(None)
    """A callback receiving each `ModelPullProgress` of an Ollama "pull if missing" download
    (``cw run`` draws it on stderr); ``None``: a warning in the log says why the first chat waits."""

    build_context = providers.Factory(
        BuildContext,
        transport=http_transport,
        fake_transport=fake_transport.provider,
        on_pull_progress=pull_progress,
    )
    """What every backend's adapters are built with: the transports and the pull-progress callback."""

    backend_entries = providers.FactoryAggregate(**_entry_factories(settings, build_context))
    """Backend name → a factory of its registry entry, one per spec in `adapters.llm.SPECS`."""

    backends = providers.Singleton(
        _backend_registry,
        settings=settings,
        names=config.backends,
        default_backend=config.default_backend,
        normalizer=normalizer,
        entries=backend_entries,
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
        _run_agent,
        backends=backends,
        store=store,
        tools=tools,
        max_turns=config.max_turns,
        settings=settings,
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
