"""`create_app`: the Chinese Worker API v1 (FastAPI) over a built `Service`.

Routes parse, call one use case and map the result; every failure leaves as JSON through the
one table in `_STATUS` — never a traceback, never a secret (messages are scrubbed of every
configured secret as a last line of defence). The app does not own the service: whoever built
it (``cw serve``, a test) closes it. The web page, when installed, is mounted at ``/``.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from adapters.cli.errors import scrub
from adapters.http import agents, auth, backends, conversations
from adapters.http.deps import API_PREFIX, ForbiddenError, UnauthorizedError
from adapters.http.schemas import ErrorOut, ValidationErrorOut
from adapters.service import Service
from application.service.errors import ConflictError, NotFoundError, ValidationFailedError
from domain.errors import (
    AgentError,
    ConfigError,
    LLMError,
    ModelNotFoundError,
    NotSupportedError,
    QueueUnavailableError,
    StorageError,
    UnknownBackendError,
)

__all__ = ["MAX_BODY_BYTES", "create_app"]

MAX_BODY_BYTES = 10 * 1024 * 1024
_log = logging.getLogger("cw.http")

_STATUS: Mapping[type[AgentError], int] = {
    ValidationFailedError: 422,
    NotFoundError: 404,
    UnknownBackendError: 404,
    ModelNotFoundError: 404,
    ConflictError: 409,
    UnauthorizedError: 401,
    ForbiddenError: 403,
    NotSupportedError: 400,
    ConfigError: 400,
    LLMError: 502,
    QueueUnavailableError: 503,
    StorageError: 503,
}
"""`AgentError` subclass → HTTP status; a subclass takes its nearest listed ancestor's."""

_COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "Not supported by this backend"},
    401: {"model": ErrorOut, "description": "Missing or invalid token"},
    403: {"model": ErrorOut, "description": "Not allowed"},
    404: {"model": ErrorOut, "description": "Not found (also another user's data)"},
    409: {"model": ErrorOut, "description": "Conflicts with the current state"},
    413: {"model": ErrorOut, "description": "Body over 10 MiB"},
    422: {"model": ValidationErrorOut, "description": "Invalid input"},
    502: {"model": ErrorOut, "description": "The AI backend failed"},
    503: {"model": ErrorOut, "description": "Try again shortly"},
}


def status_for(error: AgentError) -> int:
    for cls in type(error).__mro__:
        status = _STATUS.get(cls)
        if status is not None:
            return status
    return 500


def _one_line(text: str) -> str:
    return " ".join(text.split())


def create_app(service: Service) -> FastAPI:
    """The API app over ``service`` (built and closed by the caller)."""
    app = FastAPI(
        title="Chinese Worker API",
        version="1.0",
        description="Agents, conversations with background runs streamed over SSE, client tools.",
    )
    app.add_middleware(_BodyLimit, limit=MAX_BODY_BYTES)
    app.state.service = service
    secrets = tuple(service.settings.secrets())

    def error_response(status: int, message: str, **extra: Any) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse(
            {"message": scrub(_one_line(message), secrets), **extra}, status_code=status, headers=headers
        )

    @app.exception_handler(AgentError)
    async def agent_error(request: Request, error: AgentError) -> JSONResponse:
        status = status_for(error)
        if isinstance(error, ValidationFailedError):
            errors = {
                field: [scrub(m, secrets) for m in messages] for field, messages in error.errors.items()
            }
            return error_response(422, error.message, errors=errors)
        if isinstance(error, NotSupportedError) and "model" in error.message.lower():
            return error_response(400, "This backend does not support model management")
        if status == 500:
            _log.error("unmapped error on %s %s: %s", request.method, request.url.path, type(error).__name__)
        return error_response(status, error.message)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        errors: dict[str, list[str]] = {}
        for item in error.errors():
            location = [
                str(part) for part in item.get("loc", ()) if part not in ("body", "query", "path", "header")
            ]
            message = str(item.get("msg", "is invalid"))
            if item.get("type") == "json_invalid":  # loc is ("body", <offset>): name the body, not "0"
                location = []
                message = "the request body is not valid JSON"
            field = ".".join(location) or "body"
            errors.setdefault(field, []).append(message)
        first = next(iter(errors.items()))
        return error_response(422, f"{first[0]}: {first[1][0]}", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        messages = {
            404: "no such endpoint; the API lives under /api/v1 (see /docs)",
            405: "this endpoint does not take that method",
            413: f"the request body is over {MAX_BODY_BYTES // (1024 * 1024)} MiB",
        }
        message = messages.get(error.status_code, str(error.detail))
        return error_response(error.status_code, message)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        # The traceback is what an operator needs; it goes through the same scrub as replies.
        trace = scrub("".join(traceback.format_exception(error)), secrets)
        _log.error(
            "unexpected %s on %s %s\n%s", type(error).__name__, request.method, request.url.path, trace
        )
        return error_response(500, "the server failed unexpectedly; the error was logged")

    for router in (auth.router, backends.router, agents.router, conversations.router):
        app.include_router(router, prefix=API_PREFIX, responses=_COMMON_RESPONSES)
    _mount_web(app)
    return app


class _TooLargeError(StarletteHTTPException):
    """A chunked body found to be over the limit while read. An HTTPException, because FastAPI
    turns any other error raised while it reads a body into a 400 "error parsing the body"."""

    def __init__(self) -> None:
        super().__init__(413)


class _BodyLimit:
    """Refuses a request body over ``limit`` bytes with a JSON 413, whether its length is
    announced (Content-Length) or only found out while reading (chunked)."""

    def __init__(self, app: Any, *, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await self._refuse(send)
                return
        received = 0
        started = False

        async def limited_receive() -> Any:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise _TooLargeError()
            return message

        async def tracking_send(message: Any) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLargeError:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send: Any) -> None:
        response = JSONResponse(
            {"message": f"the request body is over {self.limit // (1024 * 1024)} MiB"}, status_code=413
        )
        await response({"type": "http"}, _no_receive, send)


async def _no_receive() -> Any:  # pragma: no cover - a response never reads
    return {"type": "http.disconnect"}


def _mount_web(app: FastAPI) -> None:
    """The web page at ``/`` and its files under ``/static`` (`adapters.web.mount_web`)."""
    from adapters.web import mount_web

    mount_web(app)
