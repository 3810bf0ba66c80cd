"""The service's composition root: `build_service` wires the database, the run queue, the event
log and the use cases that ``cw serve`` (and workers) drive.

The queue and the event log are the one seam that changes between one process and a cluster:
`_queue_and_events` picks them. Without ``queue_url`` (``CW_QUEUE_URL``) the embedded defaults
serve — runs are asyncio tasks of this process (`InProcessRunQueue`) and events live in the
database (`SQLEventLog`). The scale-out adapters plug in there when a queue URL is given.

Settings read here (besides the backends' own): ``CW_DATABASE_URL``, ``CW_WORKSPACE`` (the
folder the builtin read/glob/grep tools may read; none: agents cannot use them),
``CW_MAX_CONCURRENT_RUNS`` (default 32), ``CW_ALLOW_REGISTRATION`` (default true),
``CW_MAX_TURNS`` (default 25).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from adapters.inprocess import DEFAULT_MAX_CONCURRENT_RUNS, InProcessRunQueue
from adapters.settings import Settings
from application.registry import BackendRegistry
from application.service.agents import ManageAgents
from application.service.conversations import ManageConversations
from application.service.execute_run import ExecuteRun
from application.service.ghost import GhostRun
from application.service.models import ManageModels
from application.service.runs import SendMessage, StopRun, SubmitToolResult
from domain.errors import ConfigError
from domain.model_config import AIModel
from domain.ports import EventLogPort, RunHandler, RunQueuePort, ToolRunnerPort
from domain.service import EventType

if TYPE_CHECKING:
    from adapters.container import Container
    from adapters.storage.sql import Database

__all__ = ["INTERRUPTED_BY_RESTART", "Service", "build_service"]

INTERRUPTED_BY_RESTART = "interrupted by a restart"
_PROVIDER_BACKENDS = frozenset({"huggingface"})
_THINKING_DRIVERS = frozenset({"huggingface", "ollama", "openai", "anthropic"})

QueueFactory = Callable[[RunHandler], Awaitable[tuple[RunQueuePort, EventLogPort | None]]]


@attrs.define
class Service:
    """Everything ``cw serve`` serves: the database, the run queue, the event log and the use cases."""

    settings: Settings
    db: Database
    queue: RunQueuePort
    events: EventLogPort
    run_handler: RunHandler
    backends: BackendRegistry
    agents: ManageAgents
    conversations: ManageConversations
    send_message: SendMessage
    submit_tool_result: SubmitToolResult
    stop_run: StopRun
    models: ManageModels
    ghost: GhostRun
    allow_registration: bool = True
    container: Any = None
    closing: asyncio.Event = attrs.field(factory=asyncio.Event)
    """Set when the server shuts down: open streams end."""

    async def recover(self) -> int:
        """Mark conversations a crash left ``processing`` as failed; how many there were.

        Not with a queue spanning processes: their runs execute on workers, which outlive this
        process (the queue delivers a dead worker's runs again, or ends them failed).
        """
        if getattr(self.queue, "spans_processes", False):
            return 0
        from application.service.events import stats_payload

        failed = await self.db.conversations.fail_interrupted(INTERRUPTED_BY_RESTART)
        # Each interrupted run still gets its one terminal event, so a listener's stream ends.
        for record in failed:
            data = {"status": "failed", "error": INTERRUPTED_BY_RESTART, "stats": stats_payload(record.stats)}
            await self.events.append(record.id, EventType.FAILED, data)
        return len(failed)

    @property
    def queue_description(self) -> str | None:
        """Where runs execute when not in this process (``cw serve`` prints it)."""
        describe = getattr(self.queue, "describe", None)
        return describe() if callable(describe) else None

    async def stop_runs(self) -> None:
        """Cancel the runs in flight (each ends ``cancelled`` with its event) and take no more."""
        self.closing.set()
        await self.queue.aclose()
        await self.models.aclose()

    async def aclose(self) -> None:
        """Stop the runs, then close the event log's own connections (Redis) and the database."""
        await self.stop_runs()
        close_events = getattr(self.events, "aclose", None)
        if callable(close_events) and self.events is not self.db.events:
            await close_events()
        await self.db.aclose()


def _flag(value: str | None, name: str, default: bool) -> bool:
    if value is None or value.strip() == "":
        return default
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}={value!r} is not a yes/no value; use true or false")


def _positive(value: str | None, name: str, default: int) -> int:
    if value is None or value.strip() == "":
        return default
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise ConfigError(f"{name}={value!r} must be a whole number of at least 1")
    return number


def _offline_models(registry: BackendRegistry) -> Callable[[str], list[AIModel] | None]:
    def offline(name: str) -> list[AIModel] | None:
        if registry.get(name).driver == "huggingface":
            from adapters.llm.huggingface import CURATED_MODELS

            return list(CURATED_MODELS)
        return None

    return offline


async def build_service(
    settings: Settings | None = None,
    *,
    database_url: str | None = None,
    queue_url: str | None = None,
    container: Container | None = None,
    db: Database | None = None,
    queue_factory: QueueFactory | None = None,
) -> Service:
    """Open the database (it must be migrated: `Database.upgrade`) and wire the service.

    Args:
        settings: the settings (``None``: the environment and ``./.env``).
        database_url: overrides ``CW_DATABASE_URL``.
        queue_url: a run queue spanning processes (overrides ``CW_QUEUE_URL``); ``None``: in-process.
        container: a container built by the caller (tests script the fake backend through it).
        db: a database opened by the caller (tests share one).
        queue_factory: builds the queue (and optionally the event log) for the handler; the
            scale-out seam, and tests.
    """
    from adapters.container import backend_problem, build_container
    from adapters.storage.sql import Database
    from adapters.storage.sql import database_url as resolve_url

    if settings is None:
        settings = container.settings() if container is not None else Settings.load()
    if container is None:
        container = build_container(settings=settings)
    workspace = settings.get("CW_WORKSPACE")
    if workspace:
        root = _folder(workspace)
        if root is None:
            raise ConfigError(
                f"CW_WORKSPACE={workspace!r} is not a folder; point it at the folder tools may read"
            )
        container.config.workspace.from_value(root)
    max_runs = _positive(
        settings.get("CW_MAX_CONCURRENT_RUNS"), "CW_MAX_CONCURRENT_RUNS", DEFAULT_MAX_CONCURRENT_RUNS
    )
    max_turns = _positive(settings.get("CW_MAX_TURNS"), "CW_MAX_TURNS", 25)
    allow_registration = _flag(settings.get("CW_ALLOW_REGISTRATION"), "CW_ALLOW_REGISTRATION", True)
    queue_url = queue_url or settings.get("CW_QUEUE_URL") or None

    from adapters.tools import BUILTIN_TOOL_NAMES

    backends: BackendRegistry = container.backends()
    tools: ToolRunnerPort | None = container.tools() if workspace else None
    if db is None:
        db = Database(resolve_url(database_url or settings.get("CW_DATABASE_URL")))
    events: EventLogPort = db.events
    handler_box: list[RunHandler] = []

    async def handler(job: Any) -> None:
        await handler_box[0](job)

    if queue_factory is not None:
        queue, custom_events = await queue_factory(handler)
        events = custom_events or events
    elif queue_url:
        queue, events = await _queue_and_events(queue_url, handler, db, settings)
    else:
        queue = InProcessRunQueue(handler, max_concurrent=max_runs)
    execute = ExecuteRun(
        conversations=db.conversations,
        agents=db.agents,
        messages=db.messages,
        events=events,
        backends=backends,
        tools=tools,
        max_turns=max_turns,
    )
    handler_box.append(execute)
    reserved = tuple(BUILTIN_TOOL_NAMES)
    return Service(
        settings=settings,
        db=db,
        queue=queue,
        events=events,
        run_handler=execute,
        backends=backends,
        agents=ManageAgents(
            agents=db.agents,
            backends=backends,
            server_tools=reserved,
            workspace_configured=bool(workspace),
            provider_backends=_PROVIDER_BACKENDS,
        ),
        conversations=ManageConversations(
            agents=db.agents,
            conversations=db.conversations,
            messages=db.messages,
            events=events,
            queue=queue,
            reserved_tool_names=reserved,
        ),
        send_message=SendMessage(
            conversations=db.conversations, messages=db.messages, events=events, queue=queue
        ),
        submit_tool_result=SubmitToolResult(
            conversations=db.conversations, messages=db.messages, events=events, queue=queue
        ),
        stop_run=StopRun(conversations=db.conversations, messages=db.messages, events=events, queue=queue),
        models=ManageModels(
            backends=backends,
            problem=lambda name: backend_problem(settings, name),
            offline_models=_offline_models(backends),
            thinking_backends=frozenset(
                name for name in backends.names() if backends.get(name).driver in _THINKING_DRIVERS
            ),
        ),
        ghost=GhostRun(
            agents=db.agents,
            backends=backends,
            new_store=_memory_store,
            tools=tools,
            max_turns=max_turns,
            reserved_tool_names=reserved,
        ),
        allow_registration=allow_registration,
        container=container,
    )


def _folder(path: str) -> str | None:
    """The folder ``path`` names, resolved, or ``None`` when it is not a folder."""
    root = Path(path).expanduser()
    return str(root.resolve()) if root.is_dir() else None


def _memory_store() -> Any:
    from adapters.storage.memory import InMemoryConversationStore

    return InMemoryConversationStore()


async def _queue_and_events(
    queue_url: str, handler: RunHandler, db: Database, settings: Settings
) -> tuple[RunQueuePort, EventLogPort]:
    """The run queue and event log for a queue URL: Taskiq on Redis, events on Redis Streams."""
    from adapters.queue.wiring import open_queue_and_events, queue_settings

    return await open_queue_and_events(queue_settings(queue_url, settings.environ), db)
