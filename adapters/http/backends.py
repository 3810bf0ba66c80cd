"""``/ai-backends``: the backends, their models, and model downloads (with an SSE progress stream)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent

from adapters.http.deps import API_PREFIX, CurrentUser, ServiceDep
from adapters.http.schemas import BackendOut, BackendsOut, ModelOut, ModelsOut, PullIn, PullOut
from domain.errors import ConfigError, LLMError

router = APIRouter(prefix="/ai-backends", tags=["ai-backends"])


class BackendFailedError(LLMError):
    """The backend's server failed while answering us (502)."""


@router.get("", response_model=BackendsOut)
async def list_backends(user: CurrentUser, service: ServiceDep) -> BackendsOut:
    views = await service.models.list_backends()
    return BackendsOut(
        backends=[BackendOut.of(v) for v in views], default_backend=service.models.default_backend()
    )


@router.get("/{name}", response_model=BackendOut)
async def get_backend(name: str, user: CurrentUser, service: ServiceDep) -> BackendOut:
    return BackendOut.of(await service.models.backend(name))


@router.get("/{name}/models", response_model=ModelsOut)
async def list_models(name: str, user: CurrentUser, service: ServiceDep, detailed: bool = False) -> ModelsOut:
    try:
        models = await service.models.models(name, detailed=detailed)
    except ConfigError as error:
        raise BackendFailedError(error.message, backend=name) from error
    return ModelsOut(models=[ModelOut.of(model) for model in models])


@router.post("/{name}/models/pull", status_code=202, response_model=PullOut)
async def pull_model(name: str, body: PullIn, user: CurrentUser, service: ServiceDep) -> PullOut:
    started = await service.models.pull(user.id, name, body.model.strip())
    return PullOut(
        pull_id=started.pull_id,
        model=started.model,
        backend=started.backend,
        status="queued",
        stream_url=f"{API_PREFIX}/ai-backends/{name}/models/pull/{started.pull_id}/stream",
    )


async def _pull_events(
    pull_id: str, user: CurrentUser, service: ServiceDep
) -> AsyncIterator[tuple[str, Any]]:
    # A dependency, so an unknown (or another user's) download is a 404 before the stream starts.
    return await service.models.pull_events(user.id, pull_id)


@router.get("/{name}/models/pull/{pull_id}/stream", response_class=EventSourceResponse)
async def pull_stream(
    name: str, events: Annotated[AsyncIterator[tuple[str, Any]], Depends(_pull_events)]
) -> AsyncIterator[ServerSentEvent]:
    async for type, data in events:
        yield ServerSentEvent(event=type, data=data)


@router.get("/{name}/models/{model:path}", response_model=ModelOut)
async def show_model(name: str, model: str, user: CurrentUser, service: ServiceDep) -> ModelOut:
    return ModelOut.of(await service.models.show(name, model))


@router.delete("/{name}/models/{model:path}", status_code=204, response_class=Response)
async def delete_model(name: str, model: str, user: CurrentUser, service: ServiceDep) -> Response:
    await service.models.delete(name, model)
    return Response(status_code=204)
