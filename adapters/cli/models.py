"""``cw backends``, ``cw models`` and the model-management commands ``pull``, ``rm``, ``show``, ``ps``.

Listing goes through the LLM port of a backend; downloading, removing and inspecting go through
its model-management port, which only self-hosted backends (Ollama) offer. A backend without
one makes the command fail with a `NotSupportedError` that says so, and a non-zero exit.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import attrs
import click
from rich.console import RenderableType
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Column, Table
from rich.text import Text

from adapters.cli.app import CliApp, stderr_console, stdout_console
from adapters.cli.errors import scrub
from adapters.cli.render import model_json
from domain.errors import AgentError, ConfigError, UnknownBackendError
from domain.model_config import AIModel, Capabilities, ModelPullProgress
from domain.ports import ModelManagementPort

__all__ = ["PullIfMissingDisplay", "backends", "models", "ps", "pull", "rm", "show"]

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def _print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _size(value: int | None) -> str:
    if value is None:
        return ""
    size = float(value)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return ""  # pragma: no cover - the loop always returns


def _backend_option(command: F) -> F:
    command = click.option("--base-url", help="Override the backend's base URL.")(command)
    return click.option("--backend", "-b", help="Backend to use (default: the configured default).")(command)


def _model_name(ctx: click.Context, param: click.Parameter, value: str) -> str:
    name = value.strip()
    if not name:
        raise click.BadParameter("give a model name, such as llama3.1 or qwen3:8b")
    return name


def _model_argument(command: F) -> F:
    return click.argument("model", callback=_model_name)(command)


def _json_option(command: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")(command)


# --- backends ------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class _BackendRow:
    name: str
    driver: str
    default: bool
    model: str | None
    problem: str | None
    capabilities: Capabilities | None
    reachable: bool | None = None
    """For a self-hosted backend (Ollama): whether its server answered a quick probe;
    ``None`` when not checked (hosted services are not called just to list them)."""
    unreachable: str | None = None
    """Why the probe failed."""

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "driver": self.driver,
            "default": self.default,
            "model": self.model,
            "configured": self.problem is None,
            "reachable": self.reachable,
            "problem": self.problem or self.unreachable,
            "capabilities": attrs.asdict(self.capabilities) if self.capabilities is not None else None,
        }

    @property
    def status(self) -> str:
        if self.problem is not None:
            return "not configured"
        if self.reachable is False:
            return "not running"
        return "ready"


_PROBE_SECONDS = 2.0
"""How long ``cw backends`` waits for a self-hosted server before calling it not running."""


async def _describe_backends(app: CliApp) -> tuple[str, list[_BackendRow]]:
    from adapters.container import backend_problem

    container = app.container()
    registry = container.backends()
    settings = container.settings()
    rows = []
    for name in registry.names():
        entry = registry.get(name)
        problem = backend_problem(settings, name)
        capabilities: Capabilities | None = entry.capabilities
        model: str | None = None
        try:
            model = registry.config_for_backend(name).model
            adapter = registry.for_backend(name)
        except AgentError as error:
            problem = problem or error.message
        else:
            try:
                capabilities = adapter.capabilities()
            finally:
                await adapter.aclose()
        reachable: bool | None = None
        unreachable: str | None = None
        if problem is None and entry.probed:
            unreachable = await registry.probe(name, _PROBE_SECONDS)
            reachable = unreachable is None
        rows.append(
            _BackendRow(
                name=name,
                driver=entry.driver,
                default=name == registry.default_backend,
                model=model,
                problem=problem,
                capabilities=capabilities,
                reachable=reachable,
                unreachable=unreachable,
            )
        )
    return registry.default_backend, rows


@click.command()
@_json_option
@click.pass_obj
def backends(app: CliApp, as_json: bool) -> None:
    """List the backends: which is the default, what each can do, and whether it is configured.

    A self-hosted backend (Ollama, vLLM) is also probed: "not running" when its server does not
    answer within two seconds. Hosted services are not called; "ready" means configured.
    """
    default, rows = asyncio.run(_describe_backends(app))
    if as_json:
        _print_json({"default": default, "backends": [row.to_json() for row in rows]})
        return
    table = Table("backend", "model", "stream", "tools", "vision", "models", "status", box=None)
    problems = []
    for row in rows:
        caps = row.capabilities

        def mark(flag: bool | None) -> str:
            return "yes" if flag else ("no" if flag is not None else "?")

        name = f"{row.name} (default)" if row.default else row.name
        if row.problem is not None or row.unreachable is not None:
            problems.append(f"{row.name}: {row.problem or row.unreachable}")
        table.add_row(
            name,
            row.model or "",
            mark(caps.streaming if caps else None),
            mark(caps.function_calling if caps else None),
            mark(caps.vision if caps else None),
            mark(caps.model_management if caps else None),
            row.status,
        )
    console = stdout_console()
    console.print(table)
    for problem in problems:
        console.print(f"[dim]{escape(problem)}[/dim]")


# --- models --------------------------------------------------------------------------------------


async def _list_models(
    app: CliApp, backend: str | None, base_url: str | None, detailed: bool
) -> list[AIModel]:
    name = backend or app.default_backend()
    registry = app.container(backend=name, base_url=base_url).backends()
    try:
        adapter = registry.for_backend(name)
    except UnknownBackendError:
        raise
    except ConfigError as error:
        # A backend with a published list (the HF router's curated models) can still answer
        # without a usable token — the same list it falls back to when the router call fails.
        offline = _offline_models(registry.get(name).driver)
        if offline is None:
            raise
        sys.stderr.write(scrub(f"{name}: {error.message}; using the curated list\n", app.secrets()))
        return offline
    try:
        return list(await adapter.list_models(detailed=detailed))
    finally:
        await adapter.aclose()


def _offline_models(driver: str) -> list[AIModel] | None:
    """The models a driver lists without asking its server, or ``None`` when it has none."""
    if driver == "huggingface":
        from adapters.llm.huggingface import CURATED_MODELS

        return list(CURATED_MODELS)
    return None


def _when(value: str | None) -> str:
    """An ISO timestamp as ``YYYY-MM-DD HH:MM`` (Ollama's carry nanoseconds and an offset)."""
    return value[:16].replace("T", " ") if value else ""


def _day(value: str | None) -> str:
    """The date of an ISO timestamp."""
    return value[:10] if value else ""


def _models_table(rows: list[AIModel], *, detailed: bool) -> Table:
    """The models as a table. Parameters, quantization and date appear when some row has
    them (Ollama's listing does, a router's does not), and always with ``detailed``."""
    columns: list[tuple[str, Callable[[AIModel], str]]] = [
        ("model", lambda model: model.name),
        ("owner / family", lambda model: model.owned_by or model.family or ""),
        ("size", lambda model: _size(model.size)),
        ("context", lambda model: str(model.context_length or "")),
    ]
    optional: list[tuple[str, Callable[[AIModel], str]]] = [
        ("parameters", lambda model: model.parameter_size or ""),
        ("quantization", lambda model: model.quantization or ""),
        ("modified", lambda model: _day(model.modified_at)),
    ]
    columns += [(title, cell) for title, cell in optional if detailed or any(cell(model) for model in rows)]
    if detailed:
        columns.append(("capabilities", lambda model: ", ".join(model.capabilities)))
    # A model name must stay whole (it is typed back): the other columns wrap instead.
    table = Table(Column("model", no_wrap=True), *(title for title, _ in columns[1:]), box=None)
    for model in rows:
        table.add_row(*(cell(model) for _, cell in columns))
    return table


@click.command()
@_backend_option
@click.option("--detailed", is_flag=True, help="Fetch more about each model (slower).")
@_json_option
@click.pass_obj
def models(app: CliApp, backend: str | None, base_url: str | None, detailed: bool, as_json: bool) -> None:
    """List the models a backend offers."""
    rows = asyncio.run(_list_models(app, backend, base_url, detailed))
    if as_json:
        _print_json([model_json(model) for model in rows])
        return
    stdout_console().print(_models_table(rows, detailed=detailed))


# --- model management ----------------------------------------------------------------------------


async def _with_manager(
    app: CliApp,
    backend: str | None,
    base_url: str | None,
    action: Callable[[ModelManagementPort], Awaitable[T]],
) -> T:
    name = backend or app.default_backend()
    manager = app.container(backend=name, base_url=base_url).backends().model_manager(name)
    try:
        return await action(manager)
    finally:
        close = getattr(manager, "aclose", None)
        if close is not None:
            await close()


class _LayerColumn(ProgressColumn):
    """A column shown on layer rows only: status rows (no size) are just their text."""

    def __init__(self, column: ProgressColumn) -> None:
        super().__init__()
        self._column = column

    def render(self, task: Task) -> RenderableType:
        return self._column(task) if task.fields.get("layer") else Text("")


def _pull_progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        _LayerColumn(BarColumn()),
        _LayerColumn(TaskProgressColumn()),
        _LayerColumn(DownloadColumn()),
        _LayerColumn(TransferSpeedColumn()),
        _LayerColumn(TimeRemainingColumn()),
        console=stderr_console(),
        transient=False,
    )


class _PullDisplay:
    """Ollama's pull output, drawn with rich: one bar per layer (size, speed, time left) and
    one line per step in between (``pulling manifest``, ``verifying sha256 digest``…), in
    the order they happen. The display starts with the first report, so a pull that fails
    before any progress prints nothing but its error."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._started = False
        self._layers: dict[str, TaskID] = {}
        self._last_status: str | None = None

    def __call__(self, update: ModelPullProgress) -> None:
        if not self._started:
            self._progress.start()
            self._started = True
        if update.digest and update.total:
            self._last_status = None
            task = self._layers.get(update.digest)
            label = escape(f"{update.status.split(' ')[0]} {update.digest.removeprefix('sha256:')[:12]}")
            if task is None:
                task = self._progress.add_task(label, total=update.total, layer=True)
                self._layers[update.digest] = task
            self._progress.update(
                task, total=update.total, completed=update.completed or 0, description=label
            )
        elif update.status != self._last_status:
            self._last_status = update.status
            self._progress.add_task(escape(update.status), total=None, layer=False)

    def stop(self) -> None:
        if self._started:
            self._progress.stop()
            self._started = False


class PullIfMissingDisplay:
    """The download ``OLLAMA_PULL_IF_MISSING`` starts inside ``cw run`` / ``cw chat``, shown on
    stderr like ``cw pull``: a line saying why the answer waits, then a bar per layer. The
    display ends with the download (``success``, or `close` when it failed), so the answer and
    any error line print below it, not inside a live display.

    Attributes:
        model: the model being pulled, named in the first line.
    """

    def __init__(self, model: str = "") -> None:
        self.model = model
        self._display: _PullDisplay | None = None

    def __call__(self, update: ModelPullProgress) -> None:
        if self._display is None:
            name = f"{self.model} " if self.model else "the model "
            stderr_console().print(
                escape(f"ollama: {name}is not installed yet; pulling it first (OLLAMA_PULL_IF_MISSING)"),
                style="dim",
            )
            self._display = _PullDisplay(_pull_progress())
        self._display(update)
        if update.status == "success":
            self.close()

    def close(self) -> None:
        """Stop the display, if a download is showing."""
        if self._display is not None:
            self._display.stop()
            self._display = None


@click.command()
@_model_argument
@_backend_option
@click.pass_obj
def pull(app: CliApp, model: str, backend: str | None, base_url: str | None) -> None:
    """Download MODEL, showing progress per layer (Ollama)."""

    async def action(manager: ModelManagementPort) -> None:
        display = _PullDisplay(_pull_progress())
        try:
            await manager.pull(model, on_progress=display)
        finally:
            display.stop()

    asyncio.run(_with_manager(app, backend, base_url, action))
    click.echo(f"pulled {model}")


@click.command()
@_model_argument
@_backend_option
@click.pass_obj
def rm(app: CliApp, model: str, backend: str | None, base_url: str | None) -> None:
    """Remove MODEL from the backend (Ollama)."""

    async def action(manager: ModelManagementPort) -> None:
        await manager.delete(model)

    asyncio.run(_with_manager(app, backend, base_url, action))
    click.echo(f"deleted {model}")


@click.command()
@_model_argument
@_backend_option
@_json_option
@click.pass_obj
def show(app: CliApp, model: str, backend: str | None, base_url: str | None, as_json: bool) -> None:
    """Show the details of MODEL (Ollama)."""

    async def action(manager: ModelManagementPort) -> AIModel:
        return await manager.show(model)

    details = asyncio.run(_with_manager(app, backend, base_url, action))
    described = model_json(details)
    if as_json:
        _print_json(described)
        return
    table = Table(show_header=False, box=None)
    for key, value in described.items():
        if isinstance(value, dict):
            for sub_key, sub_value in value.items():
                text = sub_value if isinstance(sub_value, str) else json.dumps(sub_value, ensure_ascii=False)
                table.add_row(f"{key}.{sub_key}", text)
        elif isinstance(value, list):
            table.add_row(key, ", ".join(map(str, value)))
        else:
            table.add_row(key, _size(value) if key == "size" else str(value))
    stdout_console().print(table)


@click.command()
@_backend_option
@_json_option
@click.pass_obj
def ps(app: CliApp, backend: str | None, base_url: str | None, as_json: bool) -> None:
    """List the models loaded in memory now (Ollama)."""

    async def action(manager: ModelManagementPort) -> list[AIModel]:
        return list(await manager.running())

    rows = asyncio.run(_with_manager(app, backend, base_url, action))
    if as_json:
        _print_json([model_json(model) for model in rows])
        return
    stdout_console().print(_running_table(rows))


def _running_table(rows: list[AIModel]) -> Table:
    """Like ``ollama ps``: what each loaded model takes, how much of it is on the GPU, and
    when it unloads."""
    table = Table(Column("model", no_wrap=True), "size", "vram", "context", "until", box=None)
    for model in rows:
        vram = model.details.get("size_vram")
        expires = model.details.get("expires_at")
        table.add_row(
            model.name,
            _size(model.size),
            _size(vram) if isinstance(vram, int) else "",
            str(model.context_length or ""),
            _when(expires) if isinstance(expires, str) else "",
        )
    return table
