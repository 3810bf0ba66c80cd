"""The API's auth and agents endpoints: exact statuses, fields and the 422 error shape."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.adapters.http_api.conftest import Api, make_api

pytestmark = pytest.mark.anyio


async def test_register_login_logout_and_user(anon: Api) -> None:
    registered = await anon.client.post(
        "/api/v1/auth/register", json={"name": "Ada", "email": "ada@example.com", "password": "longenough"}
    )
    assert registered.status_code == 201
    body = registered.json()
    assert set(body) == {"user", "token"}
    assert set(body["user"]) == {"id", "name", "email"}
    assert len(body["token"]) >= 43
    login = await anon.client.post(
        "/api/v1/auth/login", json={"email": "ADA@example.com", "password": "longenough"}
    )
    assert login.status_code == 200
    token = login.json()["token"]
    me = await anon.request("GET", "/auth/user", token=token)
    assert me.json() == body["user"]
    assert (await anon.request("POST", "/auth/logout", token=token)).status_code == 204
    after = await anon.request("GET", "/auth/user", token=token)
    assert after.status_code == 401
    assert "message" in after.json()
    still = await anon.request("GET", "/auth/user", token=body["token"])
    assert still.status_code == 200


async def test_auth_errors_are_json(anon: Api) -> None:
    await anon.register()
    taken = await anon.client.post(
        "/api/v1/auth/register", json={"name": "Bob", "email": "ada@example.com", "password": "longenough"}
    )
    assert taken.status_code == 422
    assert "email" in taken.json()["errors"]
    short = await anon.client.post(
        "/api/v1/auth/register", json={"name": "Bob", "email": "bob@example.com", "password": "short"}
    )
    assert short.status_code == 422
    assert "password" in short.json()["errors"]
    wrong = await anon.client.post(
        "/api/v1/auth/login", json={"email": "ada@example.com", "password": "nope-nope"}
    )
    assert wrong.status_code == 401
    missing = await anon.client.get("/api/v1/agents")
    assert missing.status_code == 401
    assert missing.json()["message"]
    bogus = await anon.request("GET", "/agents", token="cw_not-a-token")
    assert bogus.status_code == 401


async def test_registration_can_be_closed(tmp_path: Path) -> None:
    async for api in make_api(tmp_path, {"CW_ALLOW_REGISTRATION": "false"}):
        closed = await api.client.post(
            "/api/v1/auth/register",
            json={"name": "Ada", "email": "ada@example.com", "password": "longenough"},
        )
        assert closed.status_code == 403
        assert "CW_ALLOW_REGISTRATION" in closed.json()["message"]


async def test_an_agent_round_trips_with_every_field(api: Api) -> None:
    created = await api.agent(
        name="helper",
        description="d",
        system_prompt="be brief",
        model_config={"model": "fake-model", "temperature": 0.5, "max_tokens": 100},
    )
    assert set(created) >= {
        "id", "name", "description", "system_prompt", "ai_backend", "model_config",
        "tools", "status", "created_at", "updated_at",
    }  # fmt: skip
    assert created["status"] == "active"
    assert created["model_config"] == {"model": "fake-model", "temperature": 0.5, "max_tokens": 100}
    patched = await api.request("PATCH", f"/agents/{created['id']}", json={"description": "new"})
    assert patched.status_code == 200
    assert patched.json()["description"] == "new"
    assert patched.json()["system_prompt"] == "be brief"
    fetched = await api.request("GET", f"/agents/{created['id']}")
    assert fetched.json()["description"] == "new"
    listed = await api.request("GET", "/agents", params={"page": 1, "per_page": 10})
    assert listed.json()["meta"] == {"page": 1, "per_page": 10, "total": 1}
    assert [a["id"] for a in listed.json()["data"]] == [created["id"]]
    assert (await api.request("DELETE", f"/agents/{created['id']}")).status_code == 204
    assert (await api.request("GET", f"/agents/{created['id']}")).status_code == 404


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ({"model_config": {"temperature": 3}}, "model_config.temperature"),
        ({"model_config": {"max_tokens": 0}}, "model_config.max_tokens"),
        ({"model_config": {"max_tokens": 200001}}, "model_config.max_tokens"),
        ({"model_config": {"top_p": 1.5}}, "model_config.top_p"),
        ({"model_config": {"top_k": 0}}, "model_config.top_k"),
        ({"model_config": {"context_length": 1000}}, "model_config.context_length"),
        ({"model_config": {"timeout": 5}}, "model_config.timeout"),
        ({"model_config": {"model": "x" * 256}}, "model_config.model"),
        ({"model_config": {"provider": "fastest"}}, "model_config.provider"),
        ({"name": ""}, "name"),
        ({"name": "n" * 256}, "name"),
        ({"ai_backend": "anthropic"}, "ai_backend"),
        ({"tools": ["rm_rf"]}, "tools"),
        ({"tools": ["read"]}, "tools"),
        ({"status": "error"}, "status"),
    ],
)
async def test_invalid_agents_are_422_with_errors_by_field(api: Api, fields: dict, path: str) -> None:  # type: ignore[type-arg]
    response = await api.request("POST", "/agents", json={"name": "a", "ai_backend": "fake", **fields})
    assert response.status_code == 422, response.text
    body = response.json()
    assert set(body) == {"message", "errors"}
    assert path in body["errors"], body
    assert all(isinstance(m, str) and m for m in body["errors"][path])


async def test_range_messages_write_the_bounds_as_plain_numbers(api: Api) -> None:
    body = {"name": "a", "ai_backend": "fake", "model_config": {"context_length": 1000001}}
    response = await api.request("POST", "/agents", json=body)
    assert response.json()["errors"]["model_config.context_length"] == [
        "context_length must be between 1024 and 1000000"
    ]


async def test_the_backend_error_lists_the_registered_backends(api: Api) -> None:
    response = await api.request("POST", "/agents", json={"name": "a", "ai_backend": "anthropic"})
    message = response.json()["errors"]["ai_backend"][0]
    assert "huggingface" in message
    assert "claude" in message


async def test_provider_is_accepted_on_huggingface(api: Api) -> None:
    for provider in ("fastest", "cheapest", "together"):
        response = await api.request(
            "POST",
            "/agents",
            json={"name": "a", "ai_backend": "huggingface", "model_config": {"provider": provider}},
        )
        assert response.status_code == 201, response.text


async def test_builtin_tools_need_a_workspace_and_work_with_one(tmp_path: Path) -> None:
    async for api in make_api(tmp_path, {"CW_WORKSPACE": str(tmp_path)}):
        api.token = await api.register()
        agent = await api.agent(tools=["read", "grep"])
        assert agent["tools"] == ["read", "grep"]


async def test_another_users_agent_is_404(api: Api) -> None:
    agent = await api.agent()
    other = await api.register(email="eve@example.com", name="Eve")
    for method in ("GET", "PATCH", "PUT", "DELETE"):
        response = await api.request(method, f"/agents/{agent['id']}", token=other, json={"name": "x"})
        assert response.status_code == 404, method
        assert "message" in response.json()
    conversation = await api.request("POST", f"/agents/{agent['id']}/conversations", token=other, json={})
    assert conversation.status_code == 404


async def test_unknown_endpoints_and_huge_bodies_are_json(api: Api) -> None:
    missing = await api.request("GET", "/nothing-here")
    assert missing.status_code == 404
    assert missing.json()["message"]
    huge = await api.request(
        "POST", "/agents", content=b'{"name": "' + b"x" * (10 * 1024 * 1024 + 10) + b'"}',
        headers={"content-type": "application/json"},
    )  # fmt: skip
    assert huge.status_code == 413
    assert huge.json()["message"]


async def test_a_body_that_is_not_json_is_a_422_on_body(api: Api) -> None:
    headers = {"content-type": "application/json"}
    response = await api.request("POST", "/agents", content=b"not json", headers=headers)
    assert response.status_code == 422
    assert list(response.json()["errors"]) == ["body"]
    assert response.json()["message"] == "body: the request body is not valid JSON"


async def test_a_chunked_body_over_10_mib_is_413_not_400(api: Api) -> None:
    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the size is found while reading
        yield b'{"name": "'
        for _ in range(11):
            yield b"x" * (1024 * 1024)
        yield b'"}'

    headers = {"content-type": "application/json"}
    huge = await api.request("POST", "/agents", content=chunks(), headers=headers)
    assert huge.status_code == 413
    assert huge.json() == {"message": "the request body is over 10 MiB"}


async def test_backends_are_listed_with_status_and_capabilities(api: Api) -> None:
    response = await api.request("GET", "/ai-backends")
    assert response.status_code == 200
    body = response.json()
    assert body["default_backend"] == "fake"
    hf = next(b for b in body["backends"] if b["name"] == "huggingface")
    assert set(hf["capabilities"]) == {
        "streaming",
        "function_calling",
        "vision",
        "model_management",
        "thinking",
    }
    assert hf["status"] == "error"
    assert "HUGGINGFACE_API_KEY" in hf["error"]
    one = await api.request("GET", "/ai-backends/huggingface")
    assert one.json() == hf
    assert (await api.request("GET", "/ai-backends/nope")).status_code == 404
    models = await api.request("GET", "/ai-backends/huggingface/models")
    assert models.status_code == 200
    assert any(m["name"] == "meta-llama/Llama-3.1-8B-Instruct" for m in models.json()["models"])
    pull = await api.request("POST", "/ai-backends/huggingface/models/pull", json={"model": "x"})
    assert pull.status_code == 400
    assert pull.json() == {"message": "This backend does not support model management"}
    show = await api.request("GET", "/ai-backends/huggingface/models/meta-llama/Llama-3.1-8B-Instruct")
    assert show.status_code == 400
    delete = await api.request("DELETE", "/ai-backends/huggingface/models/org/m:1.5")
    assert delete.status_code == 400
