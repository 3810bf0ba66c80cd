"""`OllamaModelManager`: download, inspect, list and remove models on an Ollama server.

This is the `ModelManagementPort` of the Ollama backend, which only a self-hosted server
offers. A pull streams NDJSON progress (``POST /api/pull``): each line goes to the caller's
callback as a `ModelPullProgress`, an ``{"error": …}`` line fails the pull, ``success`` ends
it, and a stream that stops before ``success`` is a `TruncatedStreamError` (pulls resume, so
running it again continues where it stopped). Pulls have no total deadline — a model is
gigabytes — but the idle clock still catches a server that went silent.

Wiring (the CLI's ``cw pull/rm/show/ps`` and the registry)::

    manager = OllamaModelManager(OllamaSettings.from_env(environ))
    async with manager:
        await manager.pull("llama3.2", on_progress=print)
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any

import attrs
import httpx

from adapters.llm._http import Clocks, HeldError, HTTPEngine, StatusFailure
from adapters.llm._ndjson import NDJSONDecoder
from domain.errors import LLMError, ModelNotFoundError, TruncatedStreamError
from domain.model_config import AIModel, ModelPullProgress
from domain.ports import PullProgressCallback

from . import wire
from ._io import (
    DELETE_PATH,
    PS_PATH,
    PULL_PATH,
    build_engine,
    fetch_models,
    fetch_show,
    ollama_unreachable,
    status_error,
)
from .settings import OllamaSettings

__all__ = ["PULL_IDLE_TIMEOUT", "OllamaModelManager"]

PULL_IDLE_TIMEOUT = 600.0
"""The longest silence accepted during a pull: verifying a large model's digest sends nothing."""


def _checked(model: str) -> str:
    """``model`` without surrounding blanks.

    Raises:
        ValueError: the name is empty (Ollama would answer with an obscure error).
    """
    name = model.strip()
    if not name:
        raise ValueError("a model name is required, such as llama3.1 or qwen3:8b")
    return name


def _not_installed(model: str, action: str) -> Callable[[StatusFailure], LLMError]:
    def hook(failure: StatusFailure) -> LLMError:
        error = status_error(failure)
        if failure.status != 404 or not isinstance(error, ModelNotFoundError):
            return error  # a 404 of a path the server lacks says to check OLLAMA_BASE_URL
        return ModelNotFoundError(
            f"Ollama has no model {model!r} to {action} ({wire.error_text(failure.body)}); "
            "list the installed ones with `cw models --backend ollama`",
            backend=wire.BACKEND,
            status=404,
            model=model,
        )

    return hook


def _pull_status_error(model: str) -> Callable[[StatusFailure], LLMError]:
    def hook(failure: StatusFailure) -> LLMError:
        general = status_error(failure)
        if failure.status == 404 and not isinstance(general, ModelNotFoundError):
            return general  # the server has no such path: check OLLAMA_BASE_URL
        error = wire.pull_error(model, wire.error_text(failure.body))
        if isinstance(error, ModelNotFoundError):
            error.status = failure.status
            return error
        return general

    return hook


class _PullDecoder:
    """NDJSON progress lines of one pull → `ModelPullProgress` values, ending at ``success``."""

    def __init__(self, model: str) -> None:
        self._model = model
        self._lines = NDJSONDecoder(backend=wire.BACKEND)
        self._finished = False
        self._held = HeldError()

    def start(self, headers: Mapping[str, str]) -> None:
        """Nothing in the headers changes how the progress lines read."""

    @property
    def done(self) -> bool:
        """Ollama reported success: the pull is over."""
        return self._finished or self._held.error is not None

    def feed(self, data: bytes) -> list[ModelPullProgress]:
        lines = self._lines.feed(data)  # a line that does not read fails before any progress
        progress: list[ModelPullProgress] = []
        try:
            self._take(lines, progress)
        except LLMError as error:
            self._held.hold(error, progress)
        return progress

    def close(self, cut: LLMError | None = None) -> list[ModelPullProgress]:
        self._held.release(cut)
        if self._finished:
            return []  # Ollama said success: what may follow is not ours to read
        progress: list[ModelPullProgress] = []
        self._take(self._lines.close(), progress)
        if not self._finished:
            raise TruncatedStreamError(
                f"the pull of {self._model!r} stopped before Ollama reported success; "
                f"run `cw pull {self._model} --backend ollama` again to resume it",
                backend=wire.BACKEND,
                model=self._model,
            )
        return progress

    def _take(self, lines: list[Any], progress: list[ModelPullProgress]) -> None:
        for line in lines:
            progress.append(wire.parse_pull_progress(line, model=self._model))
            if wire.is_pull_finished(progress[-1]):
                self._finished = True
                break

    def partial(self) -> None:
        return None


class OllamaModelManager:
    """The model-management port of an Ollama server (see the module docs).

    Args:
        settings: the server and its timeouts; defaults to a local server.
        transport: an ``httpx`` transport (tests pass ``httpx.MockTransport``).
        sleep: the back-off sleep between retries (tests pass one that does not wait).
    """

    def __init__(
        self,
        settings: OllamaSettings | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self.settings = settings or OllamaSettings()
        idle = max(self.settings.idle_timeout or self.settings.timeout, PULL_IDLE_TIMEOUT)
        clocks = Clocks(connect=self.settings.connect_timeout, idle=idle, total=self.settings.timeout)
        self._engine = build_engine(self.settings, clocks=clocks, transport=transport, sleep=sleep)

    def __repr__(self) -> str:
        return f"OllamaModelManager(base_url={self.settings.display_url!r})"

    def _with(self, hook: Callable[[StatusFailure], LLMError], *, no_deadline: bool = False) -> HTTPEngine:
        engine = attrs.evolve(self._engine, status_error=hook)
        if no_deadline:
            engine = attrs.evolve(engine, clocks=attrs.evolve(engine.clocks, total=None))
        return engine

    @contextlib.contextmanager
    def _installed(self, model: str, action: str) -> Iterator[tuple[str, HTTPEngine]]:
        """``model`` checked, and an engine whose 404 says the server does not have it (for
        ``action``), inside the guard that turns a refused connection into advice."""
        model = _checked(model)
        with ollama_unreachable(self.settings.display_url):
            yield model, self._with(_not_installed(model, action))

    async def pull(self, model: str, *, on_progress: PullProgressCallback | None = None) -> None:
        """Download ``model`` (``name:tag``), reporting each progress line to ``on_progress``.

        Raises:
            ModelNotFoundError: the library has no such model.
            TruncatedStreamError: the download stopped before ``success``.
            LLMError: any other failure (an ``{"error": …}`` line, a status, unreachable).
            ValueError: ``model`` is empty.
        """
        model = _checked(model)
        engine = self._with(_pull_status_error(model), no_deadline=True)
        with ollama_unreachable(self.settings.display_url):
            events = engine.stream(
                "POST",
                PULL_PATH,
                decoder=lambda: _PullDecoder(model),
                json={"model": model, "stream": True},
                model=model,
            )
            async with contextlib.aclosing(events):
                async for progress in events:
                    if on_progress is not None:
                        on_progress(progress)

    async def delete(self, model: str) -> None:
        """Remove ``model`` from the server (``DELETE /api/delete``).

        Raises:
            ModelNotFoundError: the server has no such model.
            ValueError: ``model`` is empty.
        """
        with self._installed(model, "delete") as (model, engine):
            await engine.request("DELETE", DELETE_PATH, json={"model": model}, model=model)

    async def show(self, model: str) -> AIModel:
        """Details of ``model``: context length, capabilities, template, parameters.

        Raises:
            ModelNotFoundError: the server has no such model.
            ValueError: ``model`` is empty.
        """
        with self._installed(model, "show") as (model, engine):
            return await fetch_show(engine, model)

    async def running(self) -> Sequence[AIModel]:
        """The models loaded in memory now (``GET /api/ps``), with expiry and VRAM use."""
        with ollama_unreachable(self.settings.display_url):
            payload, _ = await self._engine.request_json("GET", PS_PATH)
        return wire.parse_ps(payload)

    async def list_models(self, *, detailed: bool = False) -> Sequence[AIModel]:
        """The installed models; ``detailed`` adds what ``/api/show`` says about each."""
        with ollama_unreachable(self.settings.display_url):
            return await fetch_models(self._engine, detailed=detailed)

    async def has_model(self, model: str) -> bool:
        """Whether the server has ``model`` installed."""
        try:
            await self.show(model)
        except ModelNotFoundError:
            return False
        return True

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._engine.aclose()

    async def __aenter__(self) -> OllamaModelManager:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
