"""Forged and stale access tokens are refused (401 problem, counted by reason); key rotation
keeps tokens signed by the previous key valid."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from prometheus_client import REGISTRY

from zipbob_devkit.testing import TokenSigner, unique_name
from zipbob_gateway.keys.keyring import SigningKey, dump_private_keys

pytestmark = pytest.mark.integration


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(user_id: str, **overrides):
    return TokenSigner.claims(user_id, "seller", **overrides)  # the gateway's claim set


def _failures(reason: str) -> float:
    return REGISTRY.get_sample_value("zipbob_auth_failures_total", {"reason": reason}) or 0


@pytest.fixture
async def keyed_gateway(gateway_factory):
    key = SigningKey.generate()
    gateway = await gateway_factory(env={"ZIPBOB_JWT__PRIVATE_KEYS": dump_private_keys([key])})
    return gateway, key


async def test_forged_tokens_are_refused_and_counted(keyed_gateway, problem):
    gateway, key = keyed_gateway
    session = await gateway.signup_and_login()
    user_id = session["user"]["id"]
    public_pem = key.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "kid": key.kid, "typ": "JWT"}
    signing_input = (
        f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(_claims(user_id)).encode())}"
    )
    hs256_with_public_key = (
        signing_input
        + "."
        + _b64(hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest())
    )
    none_header = _b64(json.dumps({"alg": "none", "kid": key.kid}).encode())
    alg_none = f"{none_header}.{_b64(json.dumps(_claims(user_id)).encode())}."
    head, payload, signature = session["access_token"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["role"] = "admin"
    tampered = f"{head}.{_b64(json.dumps(claims).encode())}.{signature}"

    def signed(**overrides):
        return jwt.encode(
            _claims(user_id, **overrides), key.private_key, "ES256", headers={"kid": key.kid}
        )

    stranger = SigningKey.generate()
    cases = {
        "algorithm": [alg_none, hs256_with_public_key],
        "signature": [tampered],
        "audience": [signed(aud="someone-else")],
        "issuer": [signed(iss="https://evil.example")],
        "expired": [signed(iat=int(time.time()) - 4000, exp=int(time.time()) - 3000)],
        "unknown_key": [
            jwt.encode(_claims(user_id), stranger.private_key, "ES256", headers={"kid": "nope"})
        ],
        "malformed": ["not.a.jwt"],
    }
    for reason, tokens in cases.items():
        for token in tokens:
            before = _failures(reason)
            for path, method in (("/api/auth/me", "GET"), ("/api/products", "POST")):
                response = await gateway.client.request(
                    method,
                    path,
                    headers={"Authorization": f"Bearer {token}"},
                    json={} if method == "POST" else None,
                )
                assert problem(response)["status"] == 401, (reason, path)
            assert _failures(reason) == before + 2, reason


async def test_key_rotation_keeps_old_tokens_valid(gateway_factory, tmp_path):
    old, new = SigningKey.generate(), SigningKey.generate()
    sql_url = f"sqlite+aiosqlite:///{tmp_path / 'rotation.db'}"
    shared_redis = {"ZIPBOB_REDIS__KEY_PREFIX": unique_name("zbtest:gw")}
    before = await gateway_factory(
        sql_url=sql_url,
        env={"ZIPBOB_JWT__PRIVATE_KEYS": dump_private_keys([old]), **shared_redis},
    )
    session = await before.signup_and_login()
    assert jwt.get_unverified_header(session["access_token"])["kid"] == old.kid

    after = await gateway_factory(
        sql_url=sql_url,
        env={"ZIPBOB_JWT__PRIVATE_KEYS": dump_private_keys([new, old]), **shared_redis},
    )
    kids = [k["kid"] for k in (await after.client.get("/.well-known/jwks.json")).json()["keys"]]
    assert kids == [new.kid, old.kid]
    me = await after.client.get(
        "/api/auth/me", headers={"Authorization": f"Bearer {session['access_token']}"}
    )
    assert me.status_code == 200
    fresh = await after.client.post(
        "/api/auth/login", json={"email": session["email"], "password": session["password"]}
    )
    assert jwt.get_unverified_header(fresh.json()["access_token"])["kid"] == new.kid
    # The refresh token from before the rotation still works too (Redis, not the key).
    refreshed = await after.client.post(
        "/api/auth/refresh", json={"refresh_token": session["refresh_token"]}
    )
    assert refreshed.status_code == 200


async def test_generated_local_key_survives_a_restart(gateway_factory):
    first = await gateway_factory()
    session = await first.signup_and_login()
    second = await gateway_factory()
    me = await second.client.get(
        "/api/auth/me", headers={"Authorization": f"Bearer {session['access_token']}"}
    )
    assert me.status_code == 200
