"""Browser sessions: the API's tokens live in HttpOnly cookies, refreshed for the user.

Cookies (``__Host-`` prefixed and ``Secure`` outside the local profile, always HttpOnly and
SameSite=Lax): the access token (Max-Age = its lifetime), the refresh token, and a random
session id that CSRF tokens are bound to. Nothing readable by page scripts.

Refresh rotation: when the access token is missing or about to expire and a refresh token
is there, the session trades it for a new pair before the page talks to the API; an API
401 also triggers one refresh and a retry. The gateway revokes a whole token family when a
used refresh token comes back, so concurrent requests of one browser (a page load and the
photo-status poll) must not both spend the same one: ``RefreshCoordinator`` lets one of them
refresh and hands the others its result for a short while.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import jwt

from . import csrf
from .api import ApiError, GatewayClient, error_from

REMEMBER_SECONDS = 60.0
REMEMBER_MAX = 10_000


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> TokenPair:
        return cls(
            access_token=str(body["access_token"]),
            refresh_token=str(body.get("refresh_token") or ""),
            expires_in=int(body.get("expires_in") or 0),
        )


@dataclass(frozen=True)
class User:
    id: str
    role: str
    email: str

    @property
    def is_seller(self) -> bool:
        return self.role == "seller"

    @property
    def is_customer(self) -> bool:
        return self.role == "customer"


def unverified_claims(token: str) -> dict[str, Any]:
    """What the token says about its holder, for display and for timing the refresh only:
    the API verifies every token itself, so nothing here is trusted for access."""
    try:
        claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return {}
    return claims


class RefreshCoordinator:
    """One refresh per refresh token in this process; late callers get the same result."""

    def __init__(self, client: GatewayClient) -> None:
        self.client = client
        self._inflight: dict[str, asyncio.Future[TokenPair | None]] = {}
        self._recent: OrderedDict[str, tuple[float, TokenPair | None]] = OrderedDict()

    async def refresh(self, refresh_token: str) -> TokenPair | None:
        key = hashlib.sha256(refresh_token.encode()).hexdigest()
        remembered = self._recent.get(key)
        if remembered and remembered[0] > time.monotonic():
            return remembered[1]
        running = self._inflight.get(key)
        if running is not None:
            return await asyncio.shield(running)
        future: asyncio.Future[TokenPair | None] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            result = await self._refresh(refresh_token)
            future.set_result(result)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning without waiters
            raise
        finally:
            del self._inflight[key]
        self._recent[key] = (time.monotonic() + REMEMBER_SECONDS, result)
        while len(self._recent) > REMEMBER_MAX:
            self._recent.popitem(last=False)
        return result

    async def _refresh(self, refresh_token: str) -> TokenPair | None:
        response = await self.client.request(
            "POST", "/api/auth/refresh", json={"refresh_token": refresh_token}
        )
        if response.status_code == 200:
            return TokenPair.from_json(response.json())
        if response.status_code in (400, 401, 403, 422):
            return None  # dead, expired or revoked: the user logs in again
        raise error_from(response)


@dataclass
class CookiePolicy:
    secure: bool
    refresh_max_age: int

    def name(self, base: str) -> str:
        return f"__Host-zb_{base}" if self.secure else f"zb_{base}"

    def header(self, base: str, value: str, max_age: int | None) -> str:
        parts = [f"{self.name(base)}={value}", "Path=/", "HttpOnly", "SameSite=Lax"]
        if max_age is not None:
            parts.append(f"Max-Age={max_age}")
        if self.secure:
            parts.append("Secure")
        return "; ".join(parts)


@dataclass
class WebSession:
    """One request's view of the browser's session; cookie changes are collected in
    ``set_cookies`` and written onto the response by the middleware."""

    policy: CookiePolicy
    coordinator: RefreshCoordinator
    key: bytes
    margin_seconds: int
    sid: str | None = None
    access_token: str | None = None
    refresh_token: str | None = None
    flash: str | None = None
    set_cookies: list[str] = field(default_factory=list)

    @classmethod
    def from_cookies(cls, cookies: dict[str, str], **kwargs: Any) -> WebSession:
        session = cls(**kwargs)
        name = session.policy.name
        session.sid = cookies.get(name("sid")) or None
        session.access_token = cookies.get(name("at")) or None
        session.refresh_token = cookies.get(name("rt")) or None
        session.flash = cookies.get(name("flash")) or None
        if session.flash:
            session.set_cookies.append(session.policy.header("flash", "", 0))
        if session.sid is None:
            session._new_sid()
        return session

    def _new_sid(self) -> None:
        self.sid = csrf.new_session_id()
        self.set_cookies.append(self.policy.header("sid", self.sid, None))

    @property
    def csrf_token(self) -> str:
        assert self.sid is not None
        return csrf.token_for(self.key, self.sid)

    def csrf_valid(self, presented: str | None) -> bool:
        return csrf.valid(self.key, self.sid, presented)

    @property
    def user(self) -> User | None:
        if not self.access_token:
            return None
        claims = unverified_claims(self.access_token)
        if not claims.get("sub"):
            return None
        return User(
            id=str(claims["sub"]),
            role=str(claims.get("role", "")),
            email=str(claims.get("email", "")),
        )

    def _expiring(self) -> bool:
        if not self.access_token:
            return True
        exp = unverified_claims(self.access_token).get("exp")
        return not isinstance(exp, int | float) or exp - self.margin_seconds <= time.time()

    async def ensure_fresh(self) -> None:
        """Before a page talks to the API: trade the refresh token if the access one is
        gone (its cookie expired) or about to expire."""
        if self.refresh_token and self._expiring():
            await self.refresh()

    async def refresh(self) -> bool:
        if not self.refresh_token:
            self.end()
            return False
        pair = await self.coordinator.refresh(self.refresh_token)
        if pair is None:
            self.end()
            return False
        self.start(pair, rotate_sid=False)
        return True

    def start(self, pair: TokenPair, *, rotate_sid: bool = True) -> None:
        self.access_token = pair.access_token
        self.refresh_token = pair.refresh_token or None
        self.set_cookies.append(self.policy.header("at", pair.access_token, pair.expires_in))
        if pair.refresh_token:
            self.set_cookies.append(
                self.policy.header("rt", pair.refresh_token, self.policy.refresh_max_age)
            )
        if rotate_sid:  # a new session id at log-in: no fixation of a planted one
            self._new_sid()

    def end(self) -> None:
        self.access_token = self.refresh_token = None
        self.set_cookies.append(self.policy.header("at", "", 0))
        self.set_cookies.append(self.policy.header("rt", "", 0))

    def set_flash(self, code: str) -> None:
        self.set_cookies.append(self.policy.header("flash", code, 60))

    async def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """An API call as this user; a 401 refreshes once and retries."""
        client = self.coordinator.client
        for attempt in (1, 2):
            response = await client.request(method, path, token=self.access_token, **kwargs)
            if response.status_code == 401 and attempt == 1 and self.access_token:
                if not await self.refresh():
                    raise error_from(response)
                _rewind(kwargs.get("files"))
                continue
            if response.status_code >= 400:
                raise error_from(response)
            return None if response.status_code == 204 or not response.content else response.json()
        raise AssertionError("unreachable")


def _rewind(files: Any) -> None:
    for _, handle, _ in (files or {}).values():
        handle.seek(0)


__all__ = ["ApiError", "CookiePolicy", "RefreshCoordinator", "TokenPair", "User", "WebSession"]
