"""Access-token verification against the gateway's JWKS, shared by every service.

Only asymmetric algorithms are accepted, and the algorithm is taken from the key, never
from the token header alone: ``alg=none`` and HS256-signed-with-the-public-key fail.
Verified tokens are cached by their raw text until they expire; failures are never cached.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import jwt
from prometheus_client import Counter
from starlette.requests import Request

from .metrics import get_or_create
from .problems import PROBLEM_BASE, Problem
from .settings import AuthSettings

ALLOWED_ALGORITHMS = frozenset({"ES256", "RS256"})
REQUIRED_CLAIMS = ("exp", "iat", "iss", "aud", "sub", "jti", "role")
ROLES = frozenset({"customer", "seller", "admin"})
# An unknown kid makes us refetch the JWKS (rotation), but not more often than this.
MIN_REFETCH_SECONDS = 5.0
TOKEN_CACHE_MAX = 50_000

auth_failures_total = get_or_create(
    Counter,
    "zipbob_auth_failures_total",
    "Requests refused for a missing or invalid credential, by reason",
    ("reason",),
)

JwksSource = Callable[[], Awaitable[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: str
    role: str
    token_id: str
    expires_at: float
    email: str | None = None

    def has_role(self, *roles: str) -> bool:
        return self.role in roles


class AuthError(Problem):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(
            401,
            detail,
            title="Unauthorized",
            type_=PROBLEM_BASE + "unauthorized",
            headers={"WWW-Authenticate": f'Bearer error="invalid_token", reason="{reason}"'},
        )
        self.reason = reason
        auth_failures_total.labels(reason).inc()


def forbidden(detail: str) -> Problem:
    return Problem(403, detail, type_=PROBLEM_BASE + "forbidden")


def http_jwks_source(url: str, *, timeout_seconds: float = 3.0) -> JwksSource:
    """Fetch the JWKS over HTTP; one aiohttp session per source, created lazily."""
    import aiohttp

    session: aiohttp.ClientSession | None = None

    async def fetch() -> dict[str, Any]:
        nonlocal session
        if session is None or session.closed:
            session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_seconds))
        async with session.get(url) as response:
            response.raise_for_status()
            document: dict[str, Any] = await response.json(content_type=None)
            return document

    return fetch


class JwksVerifier:
    def __init__(self, settings: AuthSettings, source: JwksSource) -> None:
        self.settings = settings
        self.source = source
        self._keys: dict[str, tuple[Any, str]] = {}
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()
        self._verified: dict[str, Principal] = {}

    async def _refresh(self, *, force: bool) -> None:
        async with self._lock:
            age = time.monotonic() - self._fetched_at
            if age < MIN_REFETCH_SECONDS or (not force and age < self.settings.jwks_cache_seconds):
                return
            document = await self.source()
            keys: dict[str, tuple[Any, str]] = {}
            for jwk in document.get("keys", []):
                alg = jwk.get("alg")
                if alg not in ALLOWED_ALGORITHMS or not jwk.get("kid"):
                    continue
                keys[jwk["kid"]] = (jwt.PyJWK(jwk, algorithm=alg).key, alg)
            self._keys = keys
            self._fetched_at = time.monotonic()

    async def _key_for(self, kid: str) -> tuple[Any, str]:
        if time.monotonic() - self._fetched_at >= self.settings.jwks_cache_seconds:
            try:
                await self._refresh(force=False)
            except Exception as exc:
                if not self._keys:
                    raise Problem(503, f"cannot load signing keys: {exc}") from None
        if kid not in self._keys:
            try:
                await self._refresh(force=True)
            except Exception as exc:
                raise Problem(503, f"cannot load signing keys: {exc}") from None
        if kid not in self._keys:
            raise AuthError("unknown_key", "the token was signed by an unknown key")
        return self._keys[kid]

    def cached(self, token: str) -> Principal | None:
        principal = self._verified.get(token)
        if principal is None:
            return None
        if principal.expires_at + self.settings.leeway_seconds < time.time():
            self._verified.pop(token, None)
            return None
        return principal

    async def verify(self, token: str) -> Principal:
        principal = self.cached(token)
        if principal is not None:
            return principal
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise AuthError("malformed", "the access token is not a JWT") from None
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in ALLOWED_ALGORITHMS:
            raise AuthError("algorithm", f"algorithm {alg!r} is not accepted")
        if not isinstance(kid, str):
            raise AuthError("malformed", "the access token has no key id")
        key, key_alg = await self._key_for(kid)
        if alg != key_alg:
            raise AuthError("algorithm", "the token algorithm does not match its key")
        principal = self.decode(token, key, key_alg)
        if len(self._verified) >= TOKEN_CACHE_MAX:
            self._verified.clear()
        self._verified[token] = principal
        return principal

    def decode(self, token: str, key: Any, alg: str) -> Principal:
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=self.settings.audience,
                issuer=self.settings.issuer,
                leeway=self.settings.leeway_seconds,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("expired", "the access token has expired") from None
        except jwt.InvalidAudienceError:
            raise AuthError("audience", "the access token is for another audience") from None
        except jwt.InvalidIssuerError:
            raise AuthError("issuer", "the access token has an unknown issuer") from None
        except jwt.MissingRequiredClaimError as exc:
            raise AuthError("claims", f"the access token lacks a claim: {exc.claim}") from None
        except jwt.InvalidSignatureError:
            raise AuthError("signature", "the access token signature is invalid") from None
        except jwt.PyJWTError as exc:
            raise AuthError("malformed", f"the access token is invalid: {exc}") from None
        if claims["role"] not in ROLES:
            raise AuthError("claims", "the access token has an unknown role")
        return Principal(
            user_id=str(claims["sub"]),
            role=claims["role"],
            token_id=str(claims["jti"]),
            expires_at=float(claims["exp"]),
            email=claims.get("email"),
        )


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise AuthError("missing", "this endpoint needs a bearer access token")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("malformed", "the Authorization header must be 'Bearer <token>'")
    return token.strip()


def static_jwks_source(document: dict[str, Any]) -> JwksSource:
    """A JWKS held in memory (the gateway verifying its own tokens, tests)."""
    frozen: dict[str, Any] = json.loads(json.dumps(document))

    async def fetch() -> dict[str, Any]:
        return frozen

    return fetch


async def require_principal(request: Request) -> Principal:
    """FastAPI/Starlette dependency: the verified caller (app.state.jwks_verifier verifies)."""
    verifier: JwksVerifier = request.app.state.jwks_verifier
    return await verifier.verify(bearer_token(request.headers.get("authorization")))


def require_role(*roles: str) -> Callable[[Request], Awaitable[Principal]]:
    async def dependency(request: Request) -> Principal:
        principal = await require_principal(request)
        if not principal.has_role(*roles):
            raise forbidden(f"this action needs the role {' or '.join(roles)}")
        return principal

    return dependency
