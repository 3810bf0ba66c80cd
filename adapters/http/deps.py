"""What every route shares: the service, the signed-in user, and the URLs clients follow."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from adapters.auth import hash_token
from adapters.service import Service
from domain.errors import AgentError
from domain.service import User

__all__ = ["API_PREFIX", "CurrentUser", "ServiceDep", "Token", "UnauthorizedError", "get_service"]

API_PREFIX = "/api/v1"

_bearer = HTTPBearer(
    auto_error=False, description="An API token from /auth/register, /auth/login or `cw token create`."
)


class UnauthorizedError(AgentError):
    """No token, or one that does not authenticate anybody (401)."""


class ForbiddenError(AgentError):
    """The action is not allowed here (403)."""


def get_service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


ServiceDep = Annotated[Service, Depends(get_service)]


async def _token(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> str:
    if credentials is None or not credentials.credentials.strip():
        raise UnauthorizedError("sign in first: send 'Authorization: Bearer <token>'")
    return credentials.credentials.strip()


Token = Annotated[str, Depends(_token)]


async def _current_user(token: Token, service: ServiceDep) -> User:
    user = await service.db.users.user_by_token(hash_token(token))
    if user is None:
        raise UnauthorizedError("the token is invalid or was revoked; sign in again")
    return user


CurrentUser = Annotated[User, Depends(_current_user)]


def stream_url(conversation_id: str, after: int | None = None) -> str:
    base = f"{API_PREFIX}/conversations/{conversation_id}/stream"
    return base if after is None else f"{base}?after={after}"


def status_url(conversation_id: str) -> str:
    return f"{API_PREFIX}/conversations/{conversation_id}/status"
