"""`ManageAgents`: create, read, update and delete an owner's agents, validating every field.

Validation happens here, not in the web layer, so every driving adapter refuses the same
input with the same messages. Errors are collected per field path (``model_config.temperature``)
and raised together as one `ValidationFailedError`.
"""

from __future__ import annotations

import builtins
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from application.model_config import CONFIG_KEYS
from application.registry import BackendRegistry
from application.service.clock import new_id, now
from application.service.errors import NotFoundError, require
from domain.errors import ConfigError
from domain.model_config import Agent
from domain.ports import AgentRepositoryPort
from domain.service import AgentRecord, AgentStatus, Page

__all__ = ["AGENT_FIELDS", "ManageAgents", "to_runtime_agent"]

AGENT_FIELDS = ("name", "description", "system_prompt", "ai_backend", "model_config", "tools", "status")
"""The fields a client may set."""

# name: (low, high, integer?) — the ranges the API documents.
_RANGES: Mapping[str, tuple[float, float | None, bool]] = {
    "temperature": (0, 2, False),
    "max_tokens": (1, 200_000, True),
    "top_p": (0, 1, False),
    "top_k": (1, None, True),
    "context_length": (1024, 1_000_000, True),
    "timeout": (10, 3600, False),
}
_PROVIDER_POLICIES = ("fastest", "cheapest")
_PROVIDER_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_MAX_TEXT = 100_000


def to_runtime_agent(record: AgentRecord, *, extra_tools: Sequence[str] = ()) -> Agent:
    """The `Agent` the agent loop runs for a stored agent (plus, say, a conversation's client tools)."""
    return Agent(
        name=record.name,
        system_prompt=record.system_prompt,
        backend=record.ai_backend,
        model_config=record.model_config,
        tools=(*record.tools, *(name for name in extra_tools if name not in record.tools)),
    )


@attrs.define
class ManageAgents:
    """An owner's agents.

    Attributes:
        agents: where agents are kept.
        backends: the registered backends (an agent's ``ai_backend`` must be one of them).
        server_tools: the builtin tools an agent may name (``read``, ``glob``, ``grep``).
        workspace_configured: whether those tools have a folder to work in; without one an
            agent naming them is refused.
        provider_backends: the backends that route to providers (``model_config.provider``).
    """

    agents: AgentRepositoryPort
    backends: BackendRegistry
    server_tools: tuple[str, ...] = ()
    workspace_configured: bool = False
    provider_backends: frozenset[str] = frozenset()

    async def create(self, owner_id: str, fields: Mapping[str, Any]) -> AgentRecord:
        """A new agent from ``fields``; `ValidationFailedError` lists every invalid field."""
        values = {"ai_backend": self.backends.default_backend, **fields}
        require(self._errors(values, creating=True))
        stamp = now()
        record = AgentRecord(
            id=new_id(),
            owner_id=owner_id,
            **_stored_fields(values),
            created_at=stamp,
            updated_at=stamp,
        )
        return await self.agents.add(record)

    async def get(self, owner_id: str, agent_id: str) -> AgentRecord:
        """The owner's agent; `NotFoundError` otherwise."""
        agent = await self.agents.get(owner_id, agent_id)
        if agent is None:
            raise NotFoundError(f"no agent {agent_id!r}")
        return agent

    async def list(self, owner_id: str, *, page: int = 1, per_page: int = 15) -> Page:
        """One page of the owner's agents."""
        require(_page_errors(page, per_page))
        return await self.agents.list(owner_id, page=page, per_page=per_page)

    async def update(self, owner_id: str, agent_id: str, fields: Mapping[str, Any]) -> AgentRecord:
        """Change the fields given (the others stay); `NotFoundError`, `ValidationFailedError`."""
        current = await self.get(owner_id, agent_id)
        values: dict[str, Any] = {
            "name": current.name,
            "description": current.description,
            "system_prompt": current.system_prompt,
            "ai_backend": current.ai_backend,
            "model_config": dict(current.model_config),
            "tools": list(current.tools),
            "status": current.status,
        }
        values.update(fields)
        require(self._errors(values, creating=False, given=fields))
        updated = attrs.evolve(
            current,
            **_stored_fields(values),
            updated_at=now(),
        )
        return await self.agents.update(updated)

    async def delete(self, owner_id: str, agent_id: str) -> None:
        """Remove the agent (and its conversations); `NotFoundError` when there is none."""
        if not await self.agents.delete(owner_id, agent_id):
            raise NotFoundError(f"no agent {agent_id!r}")

    # --- validation ---------------------------------------------------------------------------

    def _errors(
        self, values: Mapping[str, Any], *, creating: bool, given: Mapping[str, Any] | None = None
    ) -> dict[str, builtins.list[str]]:
        errors: dict[str, builtins.list[str]] = {}

        def add(field: str, message: str) -> None:
            errors.setdefault(field, []).append(message)

        name = values.get("name")
        if not isinstance(name, str) or not name.strip():
            add("name", "the name is required (1 to 255 characters)")
        elif len(name) > 255:
            add("name", "the name may have at most 255 characters")
        for field in ("description", "system_prompt"):
            text = values.get(field)
            if text is not None and not isinstance(text, str):
                add(field, f"the {field} must be text")
            elif text is not None and len(text) > _MAX_TEXT:
                add(field, f"the {field} may have at most {_MAX_TEXT} characters")
        status = values.get("status")
        if status is not None and status not in tuple(AgentStatus):
            add("status", "the status must be active or inactive")
        backend = values.get("ai_backend")
        names = self.backends.names()
        if not isinstance(backend, str) or backend not in names:
            add("ai_backend", f"ai_backend must be one of the registered backends: {', '.join(names)}")
            backend = None
        config = values.get("model_config")
        if config is not None and not isinstance(config, Mapping):
            add("model_config", "model_config must be an object")
        elif config:
            self._config_errors(config, backend, add)
        tools = values.get("tools")
        if tools is not None and (
            not isinstance(tools, list | tuple) or not all(isinstance(tool, str) for tool in tools)
        ):
            add("tools", "tools must be a list of builtin tool names")
        elif tools:
            unknown = [tool for tool in tools if tool not in self.server_tools]
            if unknown:
                add(
                    "tools",
                    f"unknown tool(s) {', '.join(map(repr, unknown))}; "
                    f"the builtin tools are {', '.join(self.server_tools) or '(none)'}",
                )
            elif not self.workspace_configured:
                add(
                    "tools",
                    "the builtin tools read, glob and grep need a workspace: set CW_WORKSPACE "
                    "to the folder they may read on the server",
                )
            if len(set(tools)) != len(tools):
                add("tools", "a tool is named twice")
        return errors

    def _config_errors(self, config: Mapping[str, Any], backend: str | None, add: Any) -> None:
        unknown = sorted(key for key in config if key not in CONFIG_KEYS)
        for key in unknown:
            add(f"model_config.{key}", f"unknown model setting; valid keys: {', '.join(CONFIG_KEYS)}")
        model = config.get("model")
        if model is not None and (not isinstance(model, str) or not model.strip()):
            add("model_config.model", "the model must be a non-empty string")
        elif isinstance(model, str) and len(model) > 255:
            add("model_config.model", "the model may have at most 255 characters")
        for key, (low, high, integer) in _RANGES.items():
            value = config.get(key)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                add(f"model_config.{key}", f"{key} must be a number")
                continue
            if integer and not float(value).is_integer():
                add(f"model_config.{key}", f"{key} must be a whole number")
            elif value < low or (high is not None and value > high):
                bound = f"at least {_plain(low)}"
                span = bound if high is None else f"between {_plain(low)} and {_plain(high)}"
                add(f"model_config.{key}", f"{key} must be {span}")
        provider = config.get("provider")
        if provider is not None:
            if backend is not None and backend not in self.provider_backends:
                routed = ", ".join(sorted(self.provider_backends)) or "none"
                add(
                    "model_config.provider",
                    f"provider applies only to backends that route to providers ({routed})",
                )
            elif not isinstance(provider, str) or not (
                provider in _PROVIDER_POLICIES or _PROVIDER_NAME.match(provider)
            ):
                add("model_config.provider", "provider must be fastest, cheapest or a provider name")
        if unknown or backend is None:
            return
        # What the ranges above do not cover (types of the other settings) the normaliser checks.
        checked = {key: value for key, value in config.items() if value is not None}
        checked.setdefault("model", "model")
        try:
            self.backends.config_for_backend(backend, checked)
        except ConfigError as error:
            add("model_config", error.message)
        except (TypeError, ValueError) as error:  # a value no setting can take (a nested object…)
            add("model_config", f"invalid model_config: {error}")


def _stored_fields(values: Mapping[str, Any]) -> dict[str, Any]:
    """The agent's editable fields as stored, from validated ``values`` (defaults filled in)."""
    return {
        "name": str(values["name"]).strip(),
        "description": values.get("description") or "",
        "system_prompt": values.get("system_prompt") or "",
        "ai_backend": values["ai_backend"],
        "model_config": _without_none(values.get("model_config") or {}),
        "tools": tuple(values.get("tools") or ()),
        "status": values.get("status") or AgentStatus.ACTIVE,
    }


def _without_none(config: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in config.items() if value is not None}


def _page_errors(page: int, per_page: int) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if page < 1:
        errors["page"] = ["page counts from 1"]
    if not 1 <= per_page <= 100:
        errors["per_page"] = ["per_page must be between 1 and 100"]
    return errors


page_errors = _page_errors


def _plain(number: float) -> str:
    """1000000 as ``1000000``, not ``1e+06`` as ``:g`` would write it; 0.5 as ``0.5``."""
    return str(int(number)) if float(number).is_integer() else f"{number:g}"
