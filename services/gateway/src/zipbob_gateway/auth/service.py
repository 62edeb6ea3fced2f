"""Signup, login, refresh, logout and me: plain functions over the gateway's components."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from prometheus_client import Counter
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from zipbob_platform.auth import AuthError, Principal
from zipbob_platform.metrics import get_or_create
from zipbob_platform.problems import PROBLEM_BASE, Problem

from ..keys.issuer import AccessTokenIssuer
from ..ratelimit.login import LoginLimiter
from ..ratelimit.metrics import rate_limited_total
from .passwords import PasswordHashing
from .refresh_tokens import RefreshOutcome, RefreshTokenStore
from .repository import EmailTaken, UserRepository
from .schemas import TokenPair, UserRead

log = logging.getLogger("zipbob.gateway.auth")

users_registered_total = get_or_create(
    Counter, "zipbob_users_registered_total", "Accounts created, by role", ("role",)
)


_LOGIN_REFUSALS = {
    "ip_email": "too many failed logins for this account from your address; try again later",
    "ip": "too many failed logins from your address; try again later",
    "email": "too many failed logins for this account; try again later from an address "
    "you have signed in from before",
}


@dataclass
class AuthComponents:
    sessions: async_sessionmaker[AsyncSession]
    issuer: AccessTokenIssuer
    refresh_tokens: RefreshTokenStore
    login_limiter: LoginLimiter
    passwords: PasswordHashing


def _read(user: object) -> UserRead:
    return UserRead.model_validate(user, from_attributes=True)


def _refresh_unavailable(exc: Exception) -> Problem:
    log.warning("refresh token store unavailable: %s", type(exc).__name__)
    return Problem(
        503,
        "sessions cannot be refreshed right now; log in again later",
        headers={"Retry-After": "5"},
    )


async def signup(
    components: AuthComponents, *, email: str, password: str, display_name: str, role: str
) -> UserRead:
    password_hash = await components.passwords.hash(password)
    async with components.sessions() as session:
        try:
            user = await UserRepository(session).add(
                email=email, password_hash=password_hash, display_name=display_name, role=role
            )
        except EmailTaken:
            raise Problem(
                409, "an account with this email already exists", type_=PROBLEM_BASE + "conflict"
            ) from None
    users_registered_total.labels(role).inc()
    log.info("user registered", extra={"user_id": user.id, "role": role})
    return _read(user)


async def login(components: AuthComponents, *, email: str, password: str, ip: str) -> TokenPair:
    attempt = await components.login_limiter.attempt(ip=ip, email=email)
    if not attempt.allowed:
        rate_limited_total.labels("login").inc()
        raise Problem(
            429,
            _LOGIN_REFUSALS.get(attempt.refused_by or "", _LOGIN_REFUSALS["ip_email"]),
            headers={"Retry-After": str(attempt.retry_after_seconds)},
        )
    async with components.sessions() as session:
        user = await UserRepository(session).by_email(email)
    verified = await components.passwords.verify(user.password_hash if user else None, password)
    if not verified or user is None:
        raise AuthError("bad_credentials", "email or password is wrong")
    await components.login_limiter.succeeded(attempt)
    access = components.issuer.issue(user_id=user.id, role=user.role, email=user.email)
    try:
        refresh_token: str | None = await components.refresh_tokens.start_family(user_id=user.id)
    except RedisError as exc:
        # Login keeps working without Redis; the session just cannot be refreshed.
        log.warning("login without refresh token, Redis unavailable: %s", type(exc).__name__)
        refresh_token = None
    return TokenPair(
        access_token=access.token, refresh_token=refresh_token, expires_in=access.expires_in
    )


async def refresh(components: AuthComponents, *, refresh_token: str) -> TokenPair:
    try:
        rotation = await components.refresh_tokens.rotate(refresh_token)
    except RedisError as exc:
        raise _refresh_unavailable(exc) from None
    if rotation.outcome is RefreshOutcome.REUSED:
        log.warning("refresh token reused; family revoked", extra={"user_id": rotation.user_id})
        raise AuthError("refresh_reused", "this refresh token was already used; log in again")
    if rotation.outcome is not RefreshOutcome.ROTATED or rotation.user_id is None:
        raise AuthError("refresh_invalid", "the refresh token is not valid; log in again")
    async with components.sessions() as session:
        user = await UserRepository(session).by_id(rotation.user_id)
    if user is None:
        raise AuthError("refresh_invalid", "the account no longer exists")
    access = components.issuer.issue(user_id=user.id, role=user.role, email=user.email)
    return TokenPair(
        access_token=access.token, refresh_token=rotation.new_token, expires_in=access.expires_in
    )


async def logout(components: AuthComponents, *, principal: Principal, refresh_token: str) -> None:
    """Revokes the token's family when it belongs to the caller; unknown tokens are a no-op."""
    try:
        await components.refresh_tokens.revoke(refresh_token, user_id=principal.user_id)
    except RedisError as exc:
        raise _refresh_unavailable(exc) from None


async def me(components: AuthComponents, *, principal: Principal) -> UserRead:
    async with components.sessions() as session:
        user = await UserRepository(session).by_id(principal.user_id)
    if user is None:
        raise AuthError("unknown_user", "the account no longer exists")
    return _read(user)
