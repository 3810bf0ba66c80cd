"""The API's request and response bodies (Pydantic), and their mapping to the domain values.

Pydantic lives only in this package: requests are parsed here into plain values the use cases
validate, and responses are built here from the attrs domain values.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from application.service.events import stats_payload
from application.service.models import BackendView
from domain.messages import ChatMessage, Role, ToolCall
from domain.model_config import AIModel
from domain.service import AgentRecord, ConversationRecord, RunStats, User

# --- common ------------------------------------------------------------------------------------


class ErrorOut(BaseModel):
    message: str


class ValidationErrorOut(BaseModel):
    message: str
    errors: dict[str, list[str]]


class PageMeta(BaseModel):
    page: int
    per_page: int
    total: int


class StatsOut(BaseModel):
    turns: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int

    @classmethod
    def of(cls, stats: RunStats) -> StatsOut:
        return cls(**stats_payload(stats))


class UsageOut(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


# --- auth --------------------------------------------------------------------------------------


class RegisterIn(BaseModel):
    name: str = Field(min_length=1, max_length=255)
    email: str = Field(min_length=3, max_length=255)
    password: str = Field(min_length=8, max_length=1024)


class LoginIn(BaseModel):
    email: str = Field(max_length=255)
    password: str = Field(max_length=1024)


class UserOut(BaseModel):
    id: str
    name: str
    email: str

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(id=user.id, name=user.name, email=user.email)


class AuthOut(BaseModel):
    user: UserOut
    token: str


# --- backends ----------------------------------------------------------------------------------


class CapabilitiesOut(BaseModel):
    streaming: bool
    function_calling: bool
    vision: bool
    model_management: bool
    thinking: bool


class BackendOut(BaseModel):
    name: str
    driver: str
    is_default: bool
    model: str | None
    status: Literal["connected", "error"]
    capabilities: CapabilitiesOut
    error: str | None = None

    @classmethod
    def of(cls, view: BackendView) -> BackendOut:
        caps = view.capabilities
        return cls(
            name=view.name,
            driver=view.driver,
            is_default=view.is_default,
            model=view.model,
            status="connected" if view.error is None else "error",
            capabilities=CapabilitiesOut(
                streaming=caps.streaming,
                function_calling=caps.function_calling,
                vision=caps.vision,
                model_management=caps.model_management,
                thinking=view.thinking,
            ),
            error=view.error,
        )


class BackendsOut(BaseModel):
    backends: list[BackendOut]
    default_backend: str


class ModelOut(BaseModel):
    name: str
    owned_by: str | None = None
    description: str | None = None
    family: str | None = None
    size: int | None = None
    digest: str | None = None
    parameter_size: str | None = None
    quantization: str | None = None
    modified_at: str | None = None
    context_length: int | None = None
    capabilities: list[str] = []
    details: dict[str, Any] = {}

    @classmethod
    def of(cls, model: AIModel) -> ModelOut:
        return cls(
            name=model.name,
            owned_by=model.owned_by,
            description=model.description,
            family=model.family,
            size=model.size,
            digest=model.digest,
            parameter_size=model.parameter_size,
            quantization=model.quantization,
            modified_at=model.modified_at,
            context_length=model.context_length,
            capabilities=list(model.capabilities),
            details=dict(model.details),
        )


class ModelsOut(BaseModel):
    models: list[ModelOut]


class PullIn(BaseModel):
    model: str = Field(min_length=1, max_length=255)


class PullOut(BaseModel):
    pull_id: str
    model: str
    backend: str
    status: Literal["queued"]
    stream_url: str


# --- agents ------------------------------------------------------------------------------------


class AgentIn(BaseModel):
    """Every field optional here: the use case says which are required and why."""

    model_config = ConfigDict(populate_by_name=True)

    name: str | None = None
    description: str | None = None
    system_prompt: str | None = None
    ai_backend: str | None = None
    settings: dict[str, Any] | None = Field(default=None, alias="model_config")
    tools: list[str] | None = None
    status: str | None = None

    def fields(self) -> dict[str, Any]:
        """The fields the client sent (``model_config`` under its public name)."""
        return self.model_dump(exclude_unset=True, by_alias=True)


class AgentOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: str
    name: str
    description: str
    system_prompt: str
    ai_backend: str
    settings: dict[str, Any] = Field(alias="model_config")
    tools: list[str]
    status: Literal["active", "inactive"]
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, agent: AgentRecord) -> AgentOut:
        return cls.model_validate(
            {
                "id": agent.id,
                "name": agent.name,
                "description": agent.description,
                "system_prompt": agent.system_prompt,
                "ai_backend": agent.ai_backend,
                "model_config": dict(agent.model_config),
                "tools": list(agent.tools),
                "status": agent.status.value,
                "created_at": agent.created_at,
                "updated_at": agent.updated_at,
            }
        )


class AgentPage(BaseModel):
    data: list[AgentOut]
    meta: PageMeta


# --- conversations -----------------------------------------------------------------------------


class ToolSchemaIn(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    description: str = ""
    parameters: dict[str, Any] | None = None


class ConversationIn(BaseModel):
    title: str | None = Field(default=None, max_length=255)
    metadata: dict[str, Any] | None = None
    client_tool_schemas: list[ToolSchemaIn] = []


class ToolCallOut(BaseModel):
    call_id: str
    name: str
    arguments: dict[str, Any]

    @classmethod
    def of(cls, call: ToolCall) -> ToolCallOut:
        return cls(call_id=call.id, name=call.name, arguments=dict(call.arguments))


class MessageOut(BaseModel):
    position: int
    role: str
    content: str
    thinking: str | None = None
    tool_calls: list[ToolCallOut] = []
    tool_call_id: str | None = None
    name: str | None = None
    is_error: bool = False
    images: int = 0

    @classmethod
    def of(cls, position: int, message: ChatMessage) -> MessageOut:
        return cls(
            position=position,
            role=message.role.value,
            content=message.content,
            thinking=message.thinking,
            tool_calls=[ToolCallOut.of(call) for call in message.tool_calls],
            tool_call_id=message.tool_call_id,
            name=message.name,
            is_error=message.is_error,
            images=len(message.images),
        )


class ToolSchemaOut(BaseModel):
    name: str
    description: str
    parameters: dict[str, Any]


class ConversationOut(BaseModel):
    id: str
    agent_id: str
    title: str | None
    status: str
    metadata: dict[str, Any]
    client_tool_schemas: list[ToolSchemaOut]
    tool_requests: list[ToolCallOut]
    error: str | None
    stats: StatsOut
    usage: UsageOut
    created_at: dt.datetime
    updated_at: dt.datetime
    messages: list[MessageOut] | None = None

    @classmethod
    def of(
        cls, record: ConversationRecord, messages: tuple[ChatMessage, ...] | None = None
    ) -> ConversationOut:
        stats = record.stats
        return cls(
            id=record.id,
            agent_id=record.agent_id,
            title=record.title,
            status=record.status.value,
            metadata=dict(record.metadata),
            client_tool_schemas=[
                ToolSchemaOut(name=tool.name, description=tool.description, parameters=dict(tool.parameters))
                for tool in record.client_tool_schemas
            ],
            tool_requests=[
                ToolCallOut.of(call)
                for call in record.pending_tool_calls
                if call.id not in record.tool_results
            ],
            error=record.error,
            stats=StatsOut.of(stats),
            usage=UsageOut(
                prompt_tokens=stats.prompt_tokens,
                completion_tokens=stats.completion_tokens,
                total_tokens=stats.total_tokens,
            ),
            created_at=record.created_at,
            updated_at=record.updated_at,
            messages=None
            if messages is None
            else [MessageOut.of(position, message) for position, message in enumerate(messages, 1)],
        )


class ConversationPage(BaseModel):
    data: list[ConversationOut]
    meta: PageMeta


class MessageIn(BaseModel):
    content: str = Field(default="", max_length=1_000_000)
    images: list[str] = []


class RunOut(BaseModel):
    status: Literal["processing"]
    conversation_id: str
    run_id: str
    stream_url: str
    status_url: str


class StatusOut(BaseModel):
    status: str
    conversation_id: str
    tool_requests: list[ToolCallOut] | None = None
    error: str | None = None
    stats: StatsOut


class StopOut(BaseModel):
    status: Literal["cancelled"]


class ToolResultIn(BaseModel):
    call_id: str = Field(min_length=1, max_length=255)
    success: bool
    output: str | None = None
    error: str | None = None


class ToolResultOut(BaseModel):
    status: Literal["processing", "waiting_for_tool"]
    conversation_id: str
    pending: list[str]
    run_id: str | None = None
    stream_url: str | None = None


# --- ghost -------------------------------------------------------------------------------------


class ToolCallIn(BaseModel):
    call_id: str | None = None
    id: str | None = None
    name: str = Field(min_length=1)
    arguments: dict[str, Any] = {}


class MessageInGhost(BaseModel):
    role: Literal["user", "assistant", "tool", "system"]
    content: str = ""
    tool_calls: list[ToolCallIn] = []
    tool_call_id: str | None = None
    thinking: str | None = None
    name: str | None = None

    def to_domain(self) -> ChatMessage:
        role = Role(self.role)
        calls = tuple(
            ToolCall(id=call.call_id or call.id or f"call_{index}", name=call.name, arguments=call.arguments)
            for index, call in enumerate(self.tool_calls)
        )
        return ChatMessage(
            role=role,
            content=self.content,
            tool_calls=calls if role is Role.ASSISTANT else (),
            tool_call_id=(self.tool_call_id or "call") if role is Role.TOOL else None,
            thinking=self.thinking,
            name=self.name,
        )


class GhostIn(BaseModel):
    content: str = Field(max_length=1_000_000)
    messages: list[MessageInGhost] = []
    client_tool_schemas: list[ToolSchemaIn] = []
    max_turns: int | None = Field(default=None, ge=1, le=50)


class GhostOut(BaseModel):
    status: str
    messages: list[MessageOut]
    tool_requests: list[ToolCallOut]
    error: str | None = None
    stats: StatsOut
