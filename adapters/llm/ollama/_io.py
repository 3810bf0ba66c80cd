"""Plumbing shared by `OllamaLLM` and `OllamaModelManager`: engines, error advice, model listing.

Both talk to the same server through B's `HTTPEngine` (three clocks, retries, httpx error
mapping). What is Ollama's own: the status-error hook reads Ollama's ``{"error": …}`` body,
and a connection failure says what to do about a local server that is not running.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator, Sequence

import httpx

from adapters.llm._errors import parse_retry_after
from adapters.llm._http import Clocks, HTTPEngine, RetryPolicy, StatusFailure
from domain.errors import LLMError, UnreachableError
from domain.model_config import AIModel

from . import wire
from .settings import OllamaSettings

__all__ = [
    "BACKEND",
    "CHAT_PATH",
    "build_engine",
    "fetch_models",
    "fetch_show",
    "ollama_unreachable",
    "status_error",
]

BACKEND = wire.BACKEND
CHAT_PATH = "/api/chat"
TAGS_PATH = "/api/tags"
SHOW_PATH = "/api/show"
PS_PATH = "/api/ps"
PULL_PATH = "/api/pull"
DELETE_PATH = "/api/delete"

_SHOW_CONCURRENCY = 4


def status_error(failure: StatusFailure) -> LLMError:
    """The error for a non-2xx reply of any Ollama endpoint (chat advice: ``cw pull``)."""
    return wire.error_for_ollama(
        status=failure.status,
        text=wire.error_text(failure.body),
        model=failure.model,
        retry_after=parse_retry_after(failure.headers),
    )


def build_engine(
    settings: OllamaSettings,
    *,
    clocks: Clocks,
    transport: httpx.AsyncBaseTransport | None,
    sleep: Callable[[float], Awaitable[None]] | None = None,
    rand: Callable[[], float] | None = None,
) -> HTTPEngine:
    """An engine (with its own connection pool) for the server of ``settings``, with its key if set."""
    return HTTPEngine.open(
        backend=BACKEND,
        base_url=settings.base_url,
        clocks=clocks,
        retry=RetryPolicy(max_retries=settings.max_retries),
        status_error=status_error,
        transport=transport,
        # Ollama wants no key; one set (Ollama's hosted API, a proxy) goes as a bearer token.
        headers={"Authorization": f"Bearer {settings.api_key}"} if settings.api_key else None,
        limits=settings.limits,
        secrets=[*settings.secrets, settings.api_key or ""],
        sleep=sleep,
        rand=rand,
    )


@contextlib.contextmanager
def ollama_unreachable(base_url: str) -> Iterator[None]:
    """Turn the engine's generic "cannot reach" into advice about the local Ollama server."""
    try:
        yield
    except UnreachableError as error:
        cause = error.__cause__
        detail = f" ({type(cause).__name__}: {cause})" if cause is not None and str(cause) else ""
        raise UnreachableError(
            f"Ollama is not reachable at {base_url} — is `ollama serve` running? "
            f"Start it, or point OLLAMA_BASE_URL at your server{detail}",
            backend=BACKEND,
            model=error.model,
            partial=error.partial,
        ) from error


async def fetch_show(engine: HTTPEngine, model: str) -> AIModel:
    """``POST /api/show`` for ``model``.

    Raises:
        ModelNotFoundError: the server has no such model.
    """
    payload, _ = await engine.request_json("POST", SHOW_PATH, json={"model": model}, model=model)
    return wire.parse_show(model, payload)


async def fetch_models(engine: HTTPEngine, *, detailed: bool) -> Sequence[AIModel]:
    """The local models (``GET /api/tags``); ``detailed`` adds ``/api/show`` for each.

    A model whose details cannot be fetched is listed with what ``/api/tags`` said.
    """
    payload, _ = await engine.request_json("GET", TAGS_PATH)
    models = wire.parse_tags(payload)
    if not detailed or not models:
        return models
    limit = asyncio.Semaphore(_SHOW_CONCURRENCY)

    async def complete(listed: AIModel) -> AIModel:
        async with limit:
            try:
                shown = await fetch_show(engine, listed.name)
            except LLMError:
                return listed  # deleted meanwhile, or a model the server cannot describe
        return wire.merge_show(listed, shown)

    return tuple(await asyncio.gather(*(complete(model) for model in models)))
