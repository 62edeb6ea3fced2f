"""Who may deliver events over HTTP: one check for every receiver (SPEC 4, issue 12).

Two modes, chosen by ``event_auth.mode``:

- ``oidc`` (Kubernetes): Knative Eventing's sender identity (feature flag
  ``authentication-oidc``). Sources, Brokers and Channels add ``Authorization: Bearer
  <token>``, a service-account token the cluster issued for the receiver's audience. We
  verify it against the cluster issuer's JWKS (RS256/ES256 only, key chosen by ``kid``),
  the configured issuer and audience, expiry, and optionally the allowed subjects
  (``system:serviceaccount:<namespace>:<name>``).
- ``shared_secret`` (everywhere else): the sender puts a secret from a Secret (or the
  one ``make run`` generates per run) in a configured header; compared in constant time.
  No secret configured means nobody gets in.

Refusals are 401 (no or bad credential) or 403 (a valid identity that may not send), and
are counted in ``zipbob_events_refused_total{service, reason}``.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import ssl
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import jwt
from prometheus_client import Counter
from pydantic import Field, SecretStr

from .cloudevents import InvalidEvent
from .metrics import get_or_create
from .problems import PROBLEM_BASE, Problem
from .settings import Section

DEFAULT_HEADER = "X-ZipBob-Event-Token"
ALLOWED_ALGORITHMS = frozenset({"RS256", "ES256"})
MIN_REFETCH_SECONDS = 5.0

events_refused_total = get_or_create(
    Counter,
    "zipbob_events_refused_total",
    "Events refused at an HTTP receiver (unauthenticated sender or foreign bucket/key)",
    ("service", "reason"),
)


class OidcSettings(Section):
    issuer: str = ""  # e.g. https://kubernetes.default.svc.cluster.local
    jwks_url: str = ""  # e.g. https://kubernetes.default.svc/openid/v1/jwks
    audience: str = ""  # the receiver's .status.address.audience
    subjects: list[str] = []  # allowed `sub` values; empty: any identity from the issuer
    # Bearer token for reading the JWKS (the API server may not serve it anonymously).
    jwks_token_file: str = ""
    ca_file: str = ""
    jwks_cache_seconds: int = Field(300, ge=1)
    leeway_seconds: int = Field(10, ge=0, le=120)


class EventAuthSettings(Section):
    mode: Literal["shared_secret", "oidc"] = "shared_secret"
    header: str = DEFAULT_HEADER
    # From ZIPBOB_EVENT_AUTH__SHARED_SECRET (a Secret); None or empty: every sender refused.
    shared_secret: SecretStr | None = None
    oidc: OidcSettings = OidcSettings()


class EventRefused(Problem):
    def __init__(self, service: str, status: int, reason: str, detail: str) -> None:
        super().__init__(
            status,
            detail,
            type_=PROBLEM_BASE + ("unauthorized" if status == 401 else "forbidden"),
        )
        self.reason = reason
        events_refused_total.labels(service, reason).inc()


def outgoing_headers(settings: EventAuthSettings) -> dict[str, str]:
    """Headers a sender outside Kubernetes adds to each event it POSTs."""
    secret = settings.shared_secret.get_secret_value() if settings.shared_secret else ""
    return {settings.header: secret} if secret and settings.mode == "shared_secret" else {}


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        value = headers.get(name.lower())
    return value


class EventSenderAuth:
    """``await auth.check(request.headers)`` before reading an event; returns the sender."""

    def __init__(self, settings: EventAuthSettings, *, service: str) -> None:
        self.settings = settings
        self.service = service
        self._keys: dict[str, tuple[Any, str]] = {}
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()

    def refuse(self, status: int, reason: str, detail: str) -> EventRefused:
        return EventRefused(self.service, status, reason, detail)

    async def check(self, headers: Mapping[str, str]) -> str:
        if self.settings.mode == "oidc":
            return await self._check_oidc(headers)
        return self._check_secret(headers)

    # --- shared secret ------------------------------------------------------------------
    def _check_secret(self, headers: Mapping[str, str]) -> str:
        secret = self.settings.shared_secret
        expected = secret.get_secret_value().encode() if secret else b""
        presented = _header(headers, self.settings.header)
        if not presented:
            raise self.refuse(401, "missing", f"events need the {self.settings.header} header")
        if not expected or not hmac.compare_digest(presented.encode("utf-8", "replace"), expected):
            raise self.refuse(401, "bad_secret", "the event sender is not known")
        return "shared-secret"

    # --- OIDC ---------------------------------------------------------------------------
    async def _check_oidc(self, headers: Mapping[str, str]) -> str:
        oidc = self.settings.oidc
        authorization = _header(headers, "Authorization") or ""
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise self.refuse(401, "missing", "events need an OIDC bearer token")
        token = token.strip()
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise self.refuse(401, "malformed", "the event token is not a JWT") from None
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in ALLOWED_ALGORITHMS or not isinstance(kid, str):
            raise self.refuse(401, "algorithm", f"event token algorithm {alg!r} not accepted")
        key, key_alg = await self._key_for(kid)
        if key_alg != alg:
            raise self.refuse(401, "algorithm", "the token algorithm does not match its key")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[key_alg],
                audience=oidc.audience,
                issuer=oidc.issuer,
                leeway=oidc.leeway_seconds,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise self.refuse(401, "expired", "the event token has expired") from None
        except jwt.InvalidAudienceError:
            raise self.refuse(401, "audience", "the event token is for another audience") from None
        except jwt.PyJWTError as exc:
            raise self.refuse(401, "invalid", f"the event token is invalid: {exc}") from None
        subject = str(claims["sub"])
        if oidc.subjects and subject not in oidc.subjects:
            raise self.refuse(403, "subject", f"{subject} may not send events here")
        return subject

    async def _key_for(self, kid: str) -> tuple[Any, str]:
        stale = time.monotonic() - self._fetched_at >= self.settings.oidc.jwks_cache_seconds
        if stale or kid not in self._keys:
            try:
                await self._refresh()
            except Exception as exc:
                if kid not in self._keys:
                    raise Problem(503, f"cannot load the event issuer's keys: {exc}") from None
        if kid not in self._keys:
            raise self.refuse(401, "unknown_key", "the event token was signed by an unknown key")
        return self._keys[kid]

    async def _refresh(self) -> None:
        async with self._lock:
            if time.monotonic() - self._fetched_at < MIN_REFETCH_SECONDS:
                return
            document = await asyncio.to_thread(self._fetch_jwks)
            keys: dict[str, tuple[Any, str]] = {}
            for jwk in document.get("keys", []):
                alg = jwk.get("alg") or {"RSA": "RS256", "EC": "ES256"}.get(jwk.get("kty", ""))
                if alg in ALLOWED_ALGORITHMS and jwk.get("kid"):
                    keys[jwk["kid"]] = (jwt.PyJWK(jwk, algorithm=alg).key, alg)
            self._keys, self._fetched_at = keys, time.monotonic()

    def _fetch_jwks(self) -> dict[str, Any]:
        import urllib.request

        oidc = self.settings.oidc
        request = urllib.request.Request(oidc.jwks_url)  # noqa: S310 - configured URL
        if oidc.jwks_token_file:
            token = Path(oidc.jwks_token_file).read_text().strip()
            request.add_header("Authorization", f"Bearer {token}")
        context = ssl.create_default_context(cafile=oidc.ca_file or None)
        with urllib.request.urlopen(request, timeout=5, context=context) as response:  # noqa: S310
            document: dict[str, Any] = json.loads(response.read())
        return document


def sender_auth(state: Any, service: str) -> EventSenderAuth:
    """The app's authenticator, built once from ``state.settings.event_auth``."""
    auth: EventSenderAuth | None = getattr(state, "event_sender_auth", None)
    if auth is None:
        auth = EventSenderAuth(state.settings.event_auth, service=service)
        state.event_sender_auth = auth
    return auth


class ForeignObject(InvalidEvent):
    """An event names a bucket, key or image that is not the platform's for its product."""


def check_object(bucket: str, key: str, *, expected_bucket: str, expected_key: str) -> None:
    """Refuse any object but the one the platform would have written for this product."""
    if bucket != expected_bucket or key != expected_key:
        raise ForeignObject(
            f"object {bucket}/{key} is not this image's (expected {expected_bucket}/{expected_key})"
        )
