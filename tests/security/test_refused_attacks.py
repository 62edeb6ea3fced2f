"""Attacks that already failed before issue 12, kept failing: token forgery, request
smuggling, path tricks, IDOR, against the platform as `make run` starts it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from .conftest import raw_exchange, signed_in, status_of

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def gateway(running_platform: dict[str, str]) -> str:
    return running_platform["gateway"]


def test_forged_tokens_are_401(gateway):
    user = signed_in(gateway, "seller")
    jwks = httpx.get(f"{gateway}/.well-known/jwks.json", timeout=10).json()
    kid = jwks["keys"][0]["kid"]
    public_pem = jwt.PyJWK(jwks["keys"][0]).key.public_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PublicFormat.SubjectPublicKeyInfo,
    )
    now = int(time.time())
    claims = {
        "sub": user["id"],
        "role": "admin",
        "iss": "zipbob-gateway",
        "aud": "zipbob",
        "iat": now,
        "exp": now + 600,
        "jti": "x",
    }
    payload = _b64(json.dumps(claims).encode())
    signing_input = f"{_b64(json.dumps({'alg': 'HS256', 'kid': kid}).encode())}.{payload}"
    hs256 = (
        signing_input
        + "."
        + _b64(hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest())
    )
    none = f"{_b64(json.dumps({'alg': 'none', 'kid': kid}).encode())}.{payload}."
    stranger = ec.generate_private_key(ec.SECP256R1())
    expired = jwt.encode(
        {**claims, "iat": now - 4000, "exp": now - 3000}, stranger, "ES256", headers={"kid": kid}
    )
    wrong_kid = jwt.encode(claims, stranger, "ES256", headers={"kid": "not-ours"})
    for token in (hs256, none, expired, wrong_kid):
        for method, path in (("GET", "/api/auth/me"), ("POST", "/api/products")):
            response = httpx.request(
                method,
                f"{gateway}{path}",
                headers={"Authorization": f"Bearer {token}"},
                json={} if method == "POST" else None,
                timeout=10,
            )
            assert response.status_code == 401, (token[:20], path, response.text)


async def test_request_smuggling_is_refused(gateway):
    port = urlsplit(gateway).port
    assert port
    smuggled = b"GET /internal/events HTTP/1.1\r\nHost: x\r\n\r\n"
    cl_te = (
        b"POST /api/products HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n%s" % (5 + len(smuggled), smuggled)
    )
    answer = await raw_exchange(port, cl_te)
    assert status_of(answer) == 400
    assert answer.count(b"HTTP/1.1 ") == 1  # the tail was never read as a second request
    double_length = (
        b"POST /api/products HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
        b"Content-Length: 40\r\n\r\nabcd"
    )
    assert status_of(await raw_exchange(port, double_length)) == 400


@pytest.mark.parametrize(
    "path",
    [
        "/internal/events",
        "/api/../internal/events",
        "/api/products/../../internal/events",
        "/api/%2e%2e/internal/events",
        "/api/products%2F..%2F..%2Finternal%2Fevents",
        "/api/products/%2e%2e/%2e%2e/internal/status",
        "//internal/events",
    ],
)
async def test_path_tricks_never_reach_internal_endpoints(gateway, path):
    port = urlsplit(gateway).port
    assert port
    answer = await raw_exchange(
        port, f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{{}}".encode()
    )
    assert status_of(answer) in (400, 401, 404), answer[:300]
    assert b'"outcome"' not in answer


def _created(url: str, body: dict[str, Any], owner: dict[str, Any]) -> str:
    answer = httpx.post(url, json=body, headers=owner["headers"], timeout=20)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def _intruder_statuses(url: str, change: dict[str, Any], intruder: dict[str, Any]) -> list[int]:
    """What a PATCH and a DELETE of someone else's ``url`` answer ``intruder``."""
    headers = intruder["headers"]
    return [
        httpx.patch(url, json=change, headers=headers, timeout=20).status_code,
        httpx.delete(url, headers=headers, timeout=20).status_code,
    ]


def test_no_idor_on_products_or_reviews(gateway):
    alice, bob = signed_in(gateway, "seller"), signed_in(gateway, "seller")
    customer, other = signed_in(gateway, "customer"), signed_in(gateway, "customer")
    product = {
        "name": "bowl",
        "description": "d",
        "price": "5.00",
        "currency": "EUR",
        "stock": 1,
        "category": "home",
    }
    pid = _created(f"{gateway}/api/products", product, alice)
    assert _intruder_statuses(f"{gateway}/api/products/{pid}", {"name": "mine"}, bob) == [403] * 2
    review = {"rating": 5, "title": "t", "body": "b"}
    rid = _created(f"{gateway}/api/products/{pid}/reviews", review, customer)
    assert _intruder_statuses(f"{gateway}/api/reviews/{rid}", {"rating": 1}, other) == [403] * 2
    assert httpx.get(f"{gateway}/api/products/{pid}", timeout=10).json()["name"] == "bowl"
