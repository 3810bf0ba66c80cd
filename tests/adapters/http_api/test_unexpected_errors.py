"""A failure nobody mapped: the client gets JSON without details; the log gets the scrubbed traceback."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest

from adapters.http import create_app
from adapters.service import build_service
from adapters.settings import Settings
from tests.adapters.http_api.conftest import open_database

pytestmark = pytest.mark.anyio

SECRET = "sk-proj-" + "NeverInTheLog" * 3


async def test_an_unexpected_error_is_a_500_in_json_and_a_scrubbed_traceback_in_the_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings.load({"CW_ENV": "test", "OPENAI_API_KEY": SECRET})
    service = await build_service(settings, db=await open_database(tmp_path))
    app = create_app(service)

    def explode() -> None:
        raise RuntimeError(f"the upstream said no to key {SECRET}")

    app.add_api_route("/api/v1/explode", explode)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            with caplog.at_level(logging.ERROR):
                response = await client.get("/api/v1/explode")
    finally:
        await service.aclose()

    assert response.status_code == 500
    assert response.json() == {"message": "the server failed unexpectedly; the error was logged"}
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "RuntimeError" in logged
    assert "Traceback" in logged  # where it failed, for the operator
    assert "in explode" in logged
    assert "the upstream said no to key ***" in logged
    assert SECRET not in logged
