"""``/agents``: an owner's agents (paginated list, create, read, update, partial update, delete)."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response

from adapters.http.deps import CurrentUser, ServiceDep
from adapters.http.schemas import AgentIn, AgentOut, AgentPage, PageMeta

router = APIRouter(prefix="/agents", tags=["agents"])


@router.get("", response_model=AgentPage)
async def list_agents(
    user: CurrentUser,
    service: ServiceDep,
    page: int = Query(1, ge=1, le=1_000_000),
    per_page: int = Query(15, ge=1, le=100),
) -> AgentPage:
    result = await service.agents.list(user.id, page=page, per_page=per_page)
    return AgentPage(
        data=[AgentOut.of(agent) for agent in result.items],
        meta=PageMeta(page=result.page, per_page=result.per_page, total=result.total),
    )


@router.post("", status_code=201, response_model=AgentOut)
async def create_agent(body: AgentIn, user: CurrentUser, service: ServiceDep) -> AgentOut:
    return AgentOut.of(await service.agents.create(user.id, body.fields()))


@router.get("/{agent_id}", response_model=AgentOut)
async def get_agent(agent_id: str, user: CurrentUser, service: ServiceDep) -> AgentOut:
    return AgentOut.of(await service.agents.get(user.id, agent_id))


@router.put("/{agent_id}", response_model=AgentOut)
async def replace_agent(agent_id: str, body: AgentIn, user: CurrentUser, service: ServiceDep) -> AgentOut:
    return AgentOut.of(await service.agents.update(user.id, agent_id, body.fields()))


@router.patch("/{agent_id}", response_model=AgentOut)
async def update_agent(agent_id: str, body: AgentIn, user: CurrentUser, service: ServiceDep) -> AgentOut:
    return AgentOut.of(await service.agents.update(user.id, agent_id, body.fields()))


@router.delete("/{agent_id}", status_code=204, response_class=Response)
async def delete_agent(agent_id: str, user: CurrentUser, service: ServiceDep) -> Response:
    await service.agents.delete(user.id, agent_id)
    return Response(status_code=204)
