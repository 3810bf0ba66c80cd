"""The API over httpx's ASGI transport, on a migrated SQLite file, with the scripted fake backend.

``api`` is a client already signed in as a fresh user; ``scripted`` adds replies to the fake
backend's script (each model call takes the next one).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
from dependency_injector import providers

from adapters.container import build_container
from adapters.http import create_app
from adapters.service import Service, build_service
from adapters.settings import Settings
from adapters.storage.sql import Database

_TEMPLATE: dict[str, bytes] = {}


@attrs.define
class Api:
    service: Service
    client: httpx.AsyncClient
    token: str = ""
    script: Callable[..., None] = attrs.field(default=lambda *steps: None)

    def auth(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token}"}

    async def request(
        self, method: str, path: str, *, token: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        headers = {**self.auth(token), **kwargs.pop("headers", {})}
        return await self.client.request(method, "/api/v1" + path, headers=headers, **kwargs)

    async def register(self, email: str = "ada@example.com", name: str = "Ada") -> str:
        response = await self.client.post(
            "/api/v1/auth/register", json={"name": name, "email": email, "password": "correct horse"}
        )
        assert response.status_code == 201, response.text
        return str(response.json()["token"])

    async def agent(self, **fields: Any) -> dict[str, Any]:
        body = {"name": "helper", "ai_backend": "fake", **fields}
        response = await self.request("POST", "/agents", json=body)
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def conversation(self, agent_id: str, **fields: Any) -> dict[str, Any]:
        response = await self.request("POST", f"/agents/{agent_id}/conversations", json=fields)
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def stream(self, conversation_id: str, *, after: int | None = None, **headers: str) -> list[Any]:
        from tests.adapters.http_api.sse import parse_sse

        params = {"after": after} if after is not None else {}
        response = await self.request(
            "GET", f"/conversations/{conversation_id}/stream", params=params, headers=headers
        )
        assert response.status_code == 200, response.text
        return parse_sse(response.text)


async def open_database(tmp_path: Path) -> Database:
    path = tmp_path / "cw.db"
    if "db" not in _TEMPLATE:
        template = tmp_path / "template.db"
        db = Database(f"sqlite:///{template}")
        await db.upgrade()
        await db.aclose()
        _TEMPLATE["db"] = template.read_bytes()
    path.write_bytes(_TEMPLATE["db"])
    return Database(f"sqlite:///{path}")


async def make_api(
    tmp_path: Path, environ: dict[str, str] | None = None, *, backends: Any = None
) -> AsyncIterator[Api]:
    """The API on a fresh database; ``backends`` replaces the backend registry (a test double)."""
    settings = Settings.load({"CW_ENV": "test", **(environ or {})})
    container = build_container(settings=settings)
    container.fake_script.override(providers.Object(()))
    if backends is not None:
        container.backends.override(providers.Object(backends))
    db = await open_database(tmp_path)
    service = await build_service(settings, container=container, db=db)
    app = create_app(service)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        api = Api(
            service=service, client=client, script=lambda *steps: container.fake_transport().add(*steps)
        )
        try:
            yield api
        finally:
            await service.aclose()


@pytest.fixture
async def anon(tmp_path: Path) -> AsyncIterator[Api]:
    """The API with nobody signed in."""
    async for api in make_api(tmp_path):
        yield api


@pytest.fixture
async def api(anon: Api) -> Api:
    """The API signed in as a fresh user."""
    anon.token = await anon.register()
    return anon
