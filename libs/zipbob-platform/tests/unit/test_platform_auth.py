"""JWT verification against a JWKS: what every service relies on to trust the gateway."""

import base64
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from zipbob_devkit.testing import TokenSigner
from zipbob_platform.auth import AuthError, JwksVerifier, bearer_token, static_jwks_source
from zipbob_platform.metrics import REGISTRY
from zipbob_platform.settings import AuthSettings

SETTINGS = AuthSettings(issuer="zipbob-gateway", audience="zipbob")


# The shared test signer (zipbob_devkit.testing): these tests sign with its key and
# publish its JWK.
SIGNER = TokenSigner(kid="k1")
KEY, JWK = SIGNER.key, SIGNER.jwk


def make_key(kid: str) -> tuple[Any, dict[str, Any]]:
    other = TokenSigner(kid=kid)
    return other.key, other.jwk


def claims(**overrides: Any) -> dict[str, Any]:
    return TokenSigner.claims(**{"user_id": "user-1", "role": "seller", **overrides})


def sign(payload: dict[str, Any], key: Any = KEY, kid: str = "k1") -> str:
    return jwt.encode(payload, key, algorithm="ES256", headers={"kid": kid})


def verifier(*jwks: dict[str, Any]) -> JwksVerifier:
    return JwksVerifier(SETTINGS, static_jwks_source({"keys": list(jwks) or [JWK]}))


def failures(reason: str) -> float:
    return REGISTRY.get_sample_value("zipbob_auth_failures_total", {"reason": reason}) or 0.0


async def test_valid_token_gives_the_principal() -> None:
    principal = await verifier().verify(sign(claims()))
    assert (principal.user_id, principal.role) == ("user-1", "seller")


async def test_verified_token_is_served_from_cache_until_expiry() -> None:
    v = verifier()
    token = sign(claims())
    first = await v.verify(token)
    assert v.cached(token) is first


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def test_alg_none_is_refused() -> None:
    header = b64(json.dumps({"alg": "none", "kid": "k1"}).encode())
    token = f"{header}.{b64(json.dumps(claims()).encode())}."
    before = failures("algorithm")
    with pytest.raises(AuthError) as caught:
        await verifier().verify(token)
    assert caught.value.reason == "algorithm"
    assert failures("algorithm") == before + 1


async def test_hs256_signed_with_the_public_key_is_refused() -> None:
    public_pem = KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = b64(json.dumps({"alg": "HS256", "kid": "k1", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims(role="admin")).encode())
    import hashlib
    import hmac

    signature = hmac.new(public_pem, f"{header}.{body}".encode(), hashlib.sha256).digest()
    with pytest.raises(AuthError) as caught:
        await verifier().verify(f"{header}.{body}.{b64(signature)}")
    assert caught.value.reason == "algorithm"


async def test_tampered_claims_are_refused() -> None:
    header, _, signature = sign(claims()).split(".")
    forged = b64(json.dumps(claims(role="admin")).encode())
    with pytest.raises(AuthError) as caught:
        await verifier().verify(f"{header}.{forged}.{signature}")
    assert caught.value.reason == "signature"


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"aud": "someone-else"}, "audience"),
        ({"iss": "evil"}, "issuer"),
        ({"exp": int(time.time()) - 3600, "iat": int(time.time()) - 4000}, "expired"),
        ({"role": None}, "claims"),
        ({"role": "superuser"}, "claims"),
    ],
)
async def test_wrong_claims_are_refused(overrides: dict[str, Any], reason: str) -> None:
    with pytest.raises(AuthError) as caught:
        await verifier().verify(sign(claims(**overrides)))
    assert caught.value.reason == reason
    assert caught.value.status == 401


async def test_token_from_an_unknown_key_is_refused() -> None:
    other, _ = make_key("k9")
    with pytest.raises(AuthError) as caught:
        await verifier().verify(sign(claims(), key=other, kid="k9"))
    assert caught.value.reason == "unknown_key"


async def test_rotated_key_is_picked_up_without_restart() -> None:
    new_key, new_jwk = make_key("k2")
    published = {"keys": [JWK]}

    async def source() -> dict[str, Any]:
        return published

    v = JwksVerifier(SETTINGS, source)
    assert (await v.verify(sign(claims()))).user_id == "user-1"
    published = {"keys": [new_jwk, JWK]}
    v._fetched_at -= 60  # the unknown-kid refetch is rate limited; pretend time passed
    assert (await v.verify(sign(claims(sub="u2"), key=new_key, kid="k2"))).user_id == "u2"
    assert (await v.verify(sign(claims(sub="u3")))).user_id == "u3"


@pytest.mark.parametrize("header", [None, "", "Basic abc", "Bearer ", "Token x"])
def test_authorization_header_must_be_bearer(header: str | None) -> None:
    with pytest.raises(AuthError):
        bearer_token(header)


async def test_fastapi_dependencies_verify_the_bearer_and_enforce_roles() -> None:
    from typing import Annotated

    from fastapi import Depends, FastAPI
    from httpx import ASGITransport, AsyncClient

    from zipbob_platform.app import install_platform
    from zipbob_platform.auth import Principal, require_principal, require_role
    from zipbob_platform.settings import ServiceSettings

    app = FastAPI()
    install_platform(app, ServiceSettings(service="deps", profile="test"))
    app.state.jwks_verifier = verifier()

    @app.get("/me")
    async def me(who: Annotated[Principal, Depends(require_principal)]) -> dict[str, str]:
        return {"id": who.user_id}

    @app.post("/admin-only")
    async def admin(_: Annotated[Principal, Depends(require_role("admin"))]) -> dict[str, str]:
        return {}

    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as http:
        headers = {"Authorization": f"Bearer {sign(claims())}"}
        assert (await http.get("/me", headers=headers)).json() == {"id": "user-1"}
        assert (await http.get("/me")).status_code == 401
        assert (await http.post("/admin-only", headers=headers)).status_code == 403
