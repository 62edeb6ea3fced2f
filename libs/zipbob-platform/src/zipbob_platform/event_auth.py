"""Who may deliver events over HTTP: one check for every receiver (SPEC 4, issue 12).

Three modes, chosen by ``event_auth.mode``:

- ``signed`` (Kubernetes with the RabbitMQ Broker): the event itself carries its sender's
  proof. The sender adds the CloudEvent extension ``zipbobsig`` = ``v1.<kid>.<mac>``, an
  HMAC-SHA256 (key from a Secret, ``event_auth.signing.key``) over the canonical
  attributes (id, source, type, subject, time, datacontenttype) and a SHA-256 of the data;
  the receiver recomputes it in constant time. ``kid`` is derived from the key, so during a
  rotation a receiver accepts the key and ``signing.previous_key``. An extension survives
  every hop (AMQP ``ce-*`` header, Broker ingress, Trigger dispatcher, HTTP ``ce-*``
  header), whereas eventing-rabbitmq mints no OIDC token and a Trigger cannot add headers
  (docs/deployment.md, "Event sender identity").
- ``oidc`` (Brokers and Channels that support it): Knative Eventing's sender identity
  (feature flag ``authentication-oidc``). Sources, Brokers and Channels add ``Authorization: Bearer
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
import base64
import contextlib
import hashlib
import hmac
import json
import ssl
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar, cast

import jwt
from prometheus_client import Counter
from pydantic import Field, SecretStr

from .cloudevents import CloudEvent, InvalidEvent, encode_data, from_http
from .metrics import get_or_create
from .problems import PROBLEM_BASE, Problem
from .settings import Section

DEFAULT_HEADER = "X-ZipBob-Event-Token"
ALLOWED_ALGORITHMS = frozenset({"RS256", "ES256"})
MIN_REFETCH_SECONDS = 5.0
# CloudEvents extension names: lowercase letters and digits, at most 20 characters.
SIGNATURE_EXTENSION = "zipbobsig"
SIGNATURE_VERSION = "v1"
SIGNED_ATTRIBUTES = ("id", "source", "type", "subject", "time", "datacontenttype")

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


class SigningSettings(Section):
    # From ZIPBOB_EVENT_AUTH__SIGNING__KEY (Secret key event-auth-signing-key): signs what
    # this service sends and verifies what it receives. 32+ random bytes, the same value in
    # every service of an environment.
    key: SecretStr | None = None
    # Accepted too while keys rotate (ZIPBOB_EVENT_AUTH__SIGNING__PREVIOUS_KEY); never used
    # to sign.
    previous_key: SecretStr | None = None


class EventAuthSettings(Section):
    mode: Literal["shared_secret", "oidc", "signed"] = "shared_secret"
    header: str = DEFAULT_HEADER
    # From ZIPBOB_EVENT_AUTH__SHARED_SECRET (a Secret); None or empty: every sender refused.
    shared_secret: SecretStr | None = None
    oidc: OidcSettings = OidcSettings()
    signing: SigningSettings = SigningSettings()

    def unused_parts(self) -> dict[str, str]:
        """Secrets of the modes not chosen are not required (zipbob_platform.settings)."""
        unused = {}
        if self.mode != "signed":
            unused["signing"] = f"event_auth.mode is {self.mode}"
        if self.mode != "shared_secret":
            unused["shared_secret"] = f"event_auth.mode is {self.mode}"
        return unused


class EventRefused(Problem):
    def __init__(self, service: str, status: int, reason: str, detail: str) -> None:
        super().__init__(
            status,
            detail,
            type_=PROBLEM_BASE + ("unauthorized" if status == 401 else "forbidden"),
        )
        self.reason = reason
        events_refused_total.labels(service, reason).inc()


# --- signed events ------------------------------------------------------------------------


def key_id(key: bytes) -> str:
    """A key's public name: the first 12 hex digits of its SHA-256 (no separate config to
    drift from the key, and nothing of the key itself)."""
    return hashlib.sha256(b"zipbob-event-key:" + key).hexdigest()[:12]


def _canonical_time(value: str | None) -> str:
    # Knative's Go SDK parses `time` and writes it back as RFC 3339 in UTC ("…Z", trailing
    # zeros of the fraction dropped); compare instants, not spellings.
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _data_digest(event: CloudEvent) -> str:
    raw = encode_data(event)
    content_type = event.datacontenttype
    if raw and (content_type is None or "json" in content_type):
        with contextlib.suppress(ValueError):  # the value, not its spelling (order, spaces)
            raw = json.dumps(
                json.loads(raw), sort_keys=True, separators=(",", ":"), ensure_ascii=False
            ).encode()
    return hashlib.sha256(raw).hexdigest()


def signing_input(event: CloudEvent, kid: str) -> bytes:
    values = {name: getattr(event, name) or "" for name in SIGNED_ATTRIBUTES}
    values["time"] = _canonical_time(event.time)
    fields = [SIGNATURE_VERSION, kid, *(values[name] for name in SIGNED_ATTRIBUTES)]
    fields.append(_data_digest(event))
    return "\n".join(fields).encode()


def _mac(key: bytes, event: CloudEvent, kid: str) -> str:
    digest = hmac.new(key, signing_input(event, kid), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class EventSigner:
    """Signs outgoing events (``sign``) and verifies incoming ones (``verify``)."""

    def __init__(self, key: bytes, previous_key: bytes | None = None) -> None:
        if not key:
            raise ValueError("an event signing key is needed")
        self._kid = key_id(key)
        self._key = key
        self._accepted = {self._kid: key}
        if previous_key:
            self._accepted.setdefault(key_id(previous_key), previous_key)

    @classmethod
    def from_settings(cls, settings: EventAuthSettings) -> EventSigner | None:
        """The signer of a ``signed`` configuration; None in the other modes."""
        signing = settings.signing
        if settings.mode != "signed" or signing.key is None:
            return None
        previous = signing.previous_key.get_secret_value() if signing.previous_key else ""
        return cls(signing.key.get_secret_value().encode(), previous.encode() or None)

    def sign(self, event: CloudEvent) -> CloudEvent:
        event.extensions.pop(SIGNATURE_EXTENSION, None)
        mac = _mac(self._key, event, self._kid)
        event.extensions[SIGNATURE_EXTENSION] = f"{SIGNATURE_VERSION}.{self._kid}.{mac}"
        return event

    def verify(self, event: CloudEvent) -> str | None:
        """The key id that signed ``event``, or None (missing, unknown key, wrong MAC)."""
        version, _, rest = event.extensions.get(SIGNATURE_EXTENSION, "").partition(".")
        kid, _, presented = rest.partition(".")
        key = self._accepted.get(kid)
        if version != SIGNATURE_VERSION or key is None:
            return None
        expected = _mac(key, event, kid)
        return kid if hmac.compare_digest(presented.encode(), expected.encode()) else None


P = TypeVar("P")


class _SigningPublisher:
    def __init__(self, publisher: Any, signer: EventSigner) -> None:
        self._publisher = publisher
        self._signer = signer

    async def publish(self, event: CloudEvent) -> None:
        await self._publisher.publish(self._signer.sign(event))

    async def publish_batch(self, events: Any) -> Any:
        return await self._publisher.publish_batch([self._signer.sign(e) for e in events])

    def __getattr__(self, name: str) -> Any:  # connect, close, … of the wrapped publisher
        return getattr(self._publisher, name)


def signing_publisher(publisher: P, settings: EventAuthSettings) -> P:
    """``publisher``, signing every event first when ``event_auth.mode`` is ``signed``."""
    signer = EventSigner.from_settings(settings)
    return publisher if signer is None else cast(P, _SigningPublisher(publisher, signer))


def sign_event(event: CloudEvent, settings: EventAuthSettings) -> CloudEvent:
    """``event`` signed when ``event_auth.mode`` is ``signed`` (a reply, a direct send)."""
    signer = EventSigner.from_settings(settings)
    return event if signer is None else signer.sign(event)


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
    """``await auth.check(request.headers, body)`` before handling an event; returns the
    sender (the OIDC subject, ``shared-secret`` or ``signed:<kid>``)."""

    def __init__(self, settings: EventAuthSettings, *, service: str) -> None:
        self.settings = settings
        self.service = service
        self._signer = EventSigner.from_settings(settings)
        self._keys: dict[str, tuple[Any, str]] = {}
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()

    def refuse(self, status: int, reason: str, detail: str) -> EventRefused:
        return EventRefused(self.service, status, reason, detail)

    async def check(self, headers: Mapping[str, str], body: bytes | None = None) -> str:
        if self.settings.mode == "oidc":
            return await self._check_oidc(headers)
        if self.settings.mode == "signed":
            return self._check_signature(headers, body)
        return self._check_secret(headers)

    # --- signed events ------------------------------------------------------------------
    def _check_signature(self, headers: Mapping[str, str], body: bytes | None) -> str:
        if self._signer is None:
            raise self.refuse(401, "bad_signature", "no event signing key is configured")
        if body is None:
            raise TypeError("signed mode checks the event: pass the request body")
        try:
            event = from_http(headers, body)
        except InvalidEvent:
            raise self.refuse(401, "missing", "events need a zipbobsig signature") from None
        if SIGNATURE_EXTENSION not in event.extensions:
            raise self.refuse(401, "missing", "events need a zipbobsig signature")
        kid = self._signer.verify(event)
        if kid is None:
            raise self.refuse(401, "bad_signature", "the event signature does not verify")
        return f"signed:{kid}"

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
