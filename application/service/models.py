"""The AI backends as the service shows them, their models, and model downloads (`ManageModels`).

A download runs as a task of this process; its progress is kept in memory so any number of
listeners (the owner only) can follow it from the start, even after it ended.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import attrs

from application.registry import BackendRegistry
from application.service.clock import new_id
from application.service.errors import NotFoundError, ValidationFailedError
from domain.errors import AgentError, ConfigError, UnknownBackendError
from domain.model_config import AIModel, Capabilities, ModelPullProgress

__all__ = ["BackendView", "ManageModels", "PullStarted"]

_MODEL_NAME = re.compile(r"^[A-Za-z0-9_\-.:/]{1,255}$")
PULL_TERMINAL = frozenset({"completed", "failed"})


@attrs.frozen(kw_only=True)
class BackendView:
    """A registered backend: what it can do and whether it is configured (``error`` says why not)."""

    name: str
    driver: str
    is_default: bool
    model: str | None
    capabilities: Capabilities
    thinking: bool
    error: str | None = None

    @property
    def status(self) -> str:
        return "connected" if self.error is None else "error"


@attrs.frozen(kw_only=True)
class PullStarted:
    pull_id: str
    model: str
    backend: str


class _Pull:
    def __init__(self, owner_id: str) -> None:
        self.owner_id = owner_id
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.changed = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def add(self, type: str, data: dict[str, Any]) -> None:
        self.events.append((type, data))
        self.changed.set()
        self.changed = asyncio.Event()


@attrs.define
class ManageModels:
    """Backends, their models and model downloads.

    Attributes:
        backends: the registered backends.
        problem: what keeps a backend from working (a missing key…), or ``None``; never a secret.
        offline_models: a backend's published model list, used when asking its server fails
            because the backend is not configured (the Hugging Face curated list), or ``None``.
        thinking_backends: the backends whose models can think (reasoning output).
    """

    backends: BackendRegistry
    problem: Callable[[str], str | None] = lambda name: None
    offline_models: Callable[[str], Sequence[AIModel] | None] = lambda name: None
    thinking_backends: frozenset[str] = frozenset()
    probe_seconds: float = 2.0
    """How long a self-hosted backend's server may take to answer before it is shown as down."""
    _pulls: dict[str, _Pull] = attrs.field(factory=dict, init=False)

    def default_backend(self) -> str:
        return self.backends.default_backend

    async def list_backends(self) -> list[BackendView]:
        """Every registered backend, in registration order, self-hosted servers probed at once."""
        return list(await asyncio.gather(*(self.backend(name) for name in self.backends.names())))

    async def backend(self, name: str) -> BackendView:
        """One backend; `NotFoundError` for a name nobody registered.

        A configured backend whose server is the user's own (Ollama, vLLM) is asked whether it
        is up (`BackendRegistry.probe`), within `probe_seconds`: one that does not answer is not
        "connected". A hosted service is not called just to be listed.
        """
        view = self.configured(name)
        if view.error is not None:
            return view
        down = await self.backends.probe(name, self.probe_seconds)
        return view if down is None else attrs.evolve(view, error=down)

    def configured(self, name: str) -> BackendView:
        """One backend as its settings describe it, without asking its server."""
        entry = self._entry(name)
        error = self.problem(name)
        model: str | None = None
        try:
            model = self.backends.config_for_backend(name).model
        except ConfigError as exc:
            error = error or exc.message
        return BackendView(
            name=name,
            driver=entry.driver,
            is_default=name == self.backends.default_backend,
            model=model,
            capabilities=entry.capabilities or Capabilities(model_management=entry.model_manager is not None),
            thinking=name in self.thinking_backends,
            error=error,
        )

    def _entry(self, name: str) -> Any:
        try:
            return self.backends.get(name)
        except UnknownBackendError:
            raise NotFoundError(
                f"no backend {name!r}; the backends are {', '.join(self.backends.names())}"
            ) from None

    async def models(self, name: str, *, detailed: bool = False) -> list[AIModel]:
        """The backend's models; an `LLMError` when its server fails (and it has no published list)."""
        self._entry(name)
        try:
            adapter = self.backends.for_backend(name)
        except ConfigError:
            offline = self.offline_models(name)
            if offline is None:
                raise
            return list(offline)
        try:
            return list(await adapter.list_models(detailed=detailed))
        finally:
            await adapter.aclose()

    async def show(self, name: str, model: str) -> AIModel:
        """One model's details (`NotSupportedError`, `ModelNotFoundError`)."""
        self._entry(name)
        manager = self.backends.model_manager(name)
        try:
            return await manager.show(model)
        finally:
            await _close(manager)

    async def delete(self, name: str, model: str) -> None:
        """Remove a downloaded model (`NotSupportedError`, `ModelNotFoundError`)."""
        self._entry(name)
        manager = self.backends.model_manager(name)
        try:
            await manager.delete(model)
        finally:
            await _close(manager)

    async def pull(self, owner_id: str, name: str, model: str) -> PullStarted:
        """Start downloading ``model``; follow it with `pull_events`.

        Raises:
            NotFoundError: no such backend.
            NotSupportedError: the backend does not manage models.
            ValidationFailedError: not a model name.
        """
        self._entry(name)
        if not _MODEL_NAME.match(model):
            raise ValidationFailedError(
                {"model": ["a model name has 1 to 255 letters, digits or _ - . : / (like qwen3:8b)"]}
            )
        manager = self.backends.model_manager(name)
        pull_id = new_id()
        pull = _Pull(owner_id)
        self._pulls[pull_id] = pull

        def progress(report: ModelPullProgress) -> None:
            percentage = report.percentage
            pull.add(
                "progress",
                {
                    "status": report.status,
                    "digest": report.digest,
                    "total": report.total,
                    "completed": report.completed,
                    "percentage": None if percentage is None else round(percentage, 2),
                },
            )

        async def run() -> None:
            pull.add("started", {"model": model, "backend": name})
            try:
                await manager.pull(model, on_progress=progress)
            except AgentError as error:
                pull.add("failed", {"error": error.message})
            except Exception as error:
                pull.add("failed", {"error": f"the download failed unexpectedly: {type(error).__name__}"})
            else:
                pull.add("completed", {"model": model, "backend": name})
            finally:
                await _close(manager)

        pull.task = asyncio.create_task(run())
        return PullStarted(pull_id=pull_id, model=model, backend=name)

    async def pull_events(self, owner_id: str, pull_id: str) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """Every event of the download, from the start, until ``completed`` or ``failed``."""
        pull = self._pulls.get(pull_id)
        if pull is None or pull.owner_id != owner_id:
            raise NotFoundError(f"no model download {pull_id!r}")
        return self._follow(pull)

    async def _follow(self, pull: _Pull) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        sent = 0
        while True:
            changed = pull.changed
            while sent < len(pull.events):
                event = pull.events[sent]
                sent += 1
                yield event
                if event[0] in PULL_TERMINAL:
                    return
            await changed.wait()

    async def aclose(self) -> None:
        """Cancel the downloads in flight."""
        tasks = [pull.task for pull in self._pulls.values() if pull.task is not None and not pull.task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5)


async def _close(manager: object) -> None:
    close = getattr(manager, "aclose", None)
    if close is not None:
        await close()
