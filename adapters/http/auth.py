"""``/auth``: register, log in, log out, who am I. Passwords argon2-hashed, tokens stored hashed."""

from __future__ import annotations

import asyncio
import re

from fastapi import APIRouter, Response

from adapters.auth import hash_password, hash_token, new_token, verify_password
from adapters.http.deps import CurrentUser, ForbiddenError, ServiceDep, Token, UnauthorizedError
from adapters.http.schemas import AuthOut, LoginIn, RegisterIn, UserOut
from application.service.errors import ValidationFailedError
from domain.errors import DuplicateError

router = APIRouter(prefix="/auth", tags=["auth"])

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@router.post("/register", status_code=201, response_model=AuthOut)
async def register(body: RegisterIn, service: ServiceDep) -> AuthOut:
    if not service.allow_registration:
        raise ForbiddenError("registration is closed on this server (CW_ALLOW_REGISTRATION=false)")
    email = body.email.strip()
    if not _EMAIL.match(email):
        raise ValidationFailedError({"email": ["give a valid email address"]})
    if not body.name.strip():
        raise ValidationFailedError({"name": ["the name is required"]})
    # argon2 takes tens of milliseconds of CPU: off the event loop, so other requests and streams go on.
    password_hash = await asyncio.to_thread(hash_password, body.password)
    try:
        user = await service.db.users.create_user(
            name=body.name.strip(), email=email, password_hash=password_hash
        )
    except DuplicateError:
        raise ValidationFailedError({"email": ["this email is already registered; log in instead"]}) from None
    token = new_token()
    await service.db.users.add_token(user_id=user.id, token_hash=hash_token(token), name="register")
    return AuthOut(user=UserOut.of(user), token=token)


@router.post("/login", response_model=AuthOut)
async def login(body: LoginIn, service: ServiceDep) -> AuthOut:
    found = await service.db.users.user_by_email(body.email.strip())
    # Verified even for an unknown email (against a stand-in hash): the reply takes as long.
    password_hash = found[1] if found is not None else None
    if not await asyncio.to_thread(verify_password, body.password, password_hash) or found is None:
        raise UnauthorizedError("wrong email or password")
    user = found[0]
    token = new_token()
    await service.db.users.add_token(user_id=user.id, token_hash=hash_token(token), name="login")
    return AuthOut(user=UserOut.of(user), token=token)


@router.post("/logout", status_code=204, response_class=Response)
async def logout(user: CurrentUser, token: Token, service: ServiceDep) -> Response:
    await service.db.users.revoke_token(hash_token(token))
    return Response(status_code=204)


@router.get("/user", response_model=UserOut)
async def current_user(user: CurrentUser) -> UserOut:
    return UserOut.of(user)
