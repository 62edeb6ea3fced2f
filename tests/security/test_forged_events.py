"""Issue 12 finding 7: event receivers authenticate the sender and refuse foreign objects.

Against the whole platform as `make run` starts it (the relay, resizer and catalog must
present the per-run secret for a photo to become ready), plus Knative's OIDC mode against
a real JWKS server.
"""

from __future__ import annotations

import io
import os
import time
from typing import Any

import httpx
import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families

from zipbob_devkit.testing import serve_app
from zipbob_platform.cloudevents import new_event, to_http_binary
from zipbob_platform.event_auth import EventAuthSettings, EventRefused, EventSenderAuth

from .conftest import signed_in

pytestmark = [pytest.mark.integration, pytest.mark.slow]
HEADER = "X-ZipBob-Event-Token"


def _secret() -> dict[str, str]:
    return {HEADER: os.environ["ZIPBOB_EVENT_AUTH__SHARED_SECRET"]}


def _user(gateway: str, role: str) -> dict[str, str]:
    return signed_in(gateway, role)["headers"]


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (320, 240), (120, 80, 40)).save(out, "JPEG")
    return out.getvalue()


@pytest.fixture(scope="module")
def world(running_platform: dict[str, str]) -> dict[str, Any]:
    gateway = running_platform["gateway"]
    seller, customer = _user(gateway, "seller"), _user(gateway, "customer")
    products = []
    for name in ("lamp", "vase"):
        created = httpx.post(
            f"{gateway}/api/products",
            data={
                "name": name,
                "description": "d",
                "price": "9.90",
                "currency": "EUR",
                "stock": "3",
                "category": "home",
            },
            files={"image": ("p.jpg", _jpeg(), "image/jpeg")},
            headers=seller,
            timeout=30,
        )
        assert created.status_code == 201, created.text
        products.append(created.json())
    review = httpx.post(
        f"{gateway}/api/products/{products[0]['id']}/reviews",
        json={"rating": 5, "title": "ok", "body": "fine"},
        headers=customer,
        timeout=20,
    )
    assert review.status_code == 201, review.text
    return {**running_platform, "products": products, "seller": seller}


def _refused(service_url: str, reason: str) -> float:
    text = httpx.get(f"{service_url}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "zipbob_events_refused_total" and sample.labels["reason"] == reason:
                return sample.value
    return 0.0


def _resized(product: dict[str, Any], bucket: str, key: str | None = None) -> Any:
    image_id = product["images"][0]["id"]
    variant = {
        "bucket": bucket,
        "key": key or f"products/{product['id']}/{image_id}/large.jpg",
        "width": 10,
        "height": 10,
        "bytes": 1,
        "content_type": "image/jpeg",
    }
    data = {"product_id": product["id"], "image_id": image_id, "variants": {"large": variant}}
    return new_event("com.zipbob.resizer.image.resized", "/resizer", data)


def _post(url: str, event: Any, extra: dict[str, str] | None = None) -> httpx.Response:
    headers, body = to_http_binary(event)
    return httpx.post(url, content=body, headers={**headers, **(extra or {})}, timeout=20)


def test_the_platforms_own_senders_are_let_in(world):
    """The relay, the resizer and the catalog present the per-run secret: photos get ready."""
    gateway = world["gateway"]
    deadline = time.monotonic() + 60
    statuses: list[str] = []
    while time.monotonic() < deadline:
        statuses = [
            httpx.get(f"{gateway}/api/products/{p['id']}", timeout=10).json()["images"][0]["status"]
            for p in world["products"]
        ]
        if all(s == "ready" for s in statuses):
            break
        time.sleep(0.2)
    assert statuses == ["ready", "ready"]


def test_catalog_refuses_unauthenticated_and_foreign_results(world):
    catalog, product, other = world["catalog"], world["products"][0], world["products"][1]
    url = f"{catalog}/internal/events"
    missing, bad, foreign = (
        _refused(catalog, r) for r in ("missing", "bad_secret", "foreign_object")
    )
    payroll = _resized(product, "secret-bucket", "payroll.csv")
    assert _post(url, payroll).status_code == 401
    assert _post(url, payroll, {HEADER: "guess"}).status_code == 401
    # An authenticated sender still cannot name an object that is not this image's variant.
    assert _post(url, payroll, _secret()).status_code == 403
    wrong_key = _resized(product, "resized-images", "products/elsewhere/x/large.jpg")
    assert _post(url, wrong_key, _secret()).status_code == 403
    # Nor pass another product's image off as this one's.
    mixed = _resized(product, "resized-images")
    mixed.data["image_id"] = other["images"][0]["id"]
    mixed.data["variants"]["large"]["key"] = (
        f"products/{product['id']}/{other['images'][0]['id']}/large.jpg"
    )
    assert _post(url, mixed, _secret()).status_code == 403
    assert _refused(catalog, "missing") == missing + 1
    assert _refused(catalog, "bad_secret") == bad + 1
    assert _refused(catalog, "foreign_object") == foreign + 3
    page = httpx.get(f"{world['gateway']}/api/products/{product['id']}", timeout=10).json()
    assert "payroll" not in str(page) and "secret-bucket" not in str(page)


def test_review_refuses_a_forged_product_deleted(world):
    review, product = world["review"], world["products"][0]
    forged = new_event(
        "com.zipbob.catalog.product.deleted",
        "/catalog",
        {"product_id": product["id"], "image_ids": []},
    )
    assert _post(f"{review}/internal/events", forged).status_code == 401
    assert _post(f"{review}/internal/events", forged, {HEADER: "x" * 32}).status_code == 401
    summary = httpx.get(
        f"{world['gateway']}/api/products/{product['id']}/reviews/summary", timeout=10
    ).json()
    assert summary["count"] == 1
    new_review = httpx.post(
        f"{world['gateway']}/api/products/{product['id']}/reviews",
        json={"rating": 4, "title": "t", "body": "b"},
        headers=_user(world["gateway"], "customer"),
        timeout=20,
    )
    assert new_review.status_code == 201  # the product was not tombstoned


def test_resizer_refuses_unauthenticated_and_foreign_originals(world):
    resizer, product = world["resizer"], world["products"][0]
    image_id = product["images"][0]["id"]
    data = {
        "product_id": product["id"],
        "image_id": image_id,
        "seller_id": "s",
        "bucket": "secret-bucket",
        "key": "payroll.csv",
        "content_type": "image/jpeg",
        "bytes": 1,
    }
    event = new_event("com.zipbob.catalog.image.uploaded", "/catalog", data)
    assert _post(f"{resizer}/", event).status_code == 401
    assert _post(f"{resizer}/", event, _secret()).status_code == 403
    data["bucket"], data["key"] = "original-images", f"products/other/{image_id}/original"
    assert _post(f"{resizer}/", event, _secret()).status_code == 403
    assert _refused(resizer, "foreign_object") >= 2


# --- Knative OIDC mode: real JWKS server, real RS256 tokens ---------------------------------
ISSUER = "https://kubernetes.default.svc.cluster.local"
AUDIENCE = "catalog.zipbob.svc"
SENDER = "system:serviceaccount:knative-eventing:oidc-trigger-results"


@pytest.fixture(scope="module")
async def oidc() -> Any:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    jwks = {"keys": [{**public, "kid": "k1", "alg": "RS256", "use": "sig"}]}
    app = web.Application()
    app.router.add_get("/openid/v1/jwks", lambda _: web.json_response(jwks))
    runner, port = await serve_app(app)
    settings = EventAuthSettings.model_validate(
        {
            "mode": "oidc",
            "oidc": {
                "issuer": ISSUER,
                "audience": AUDIENCE,
                "jwks_url": f"http://127.0.0.1:{port}/openid/v1/jwks",
                "subjects": [SENDER],
            },
        }
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    yield {"auth": EventSenderAuth(settings, service="catalog"), "key": key, "pem": pem}
    await runner.cleanup()


def _token(key: Any, *, kid: str = "k1", alg: str = "RS256", **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": ISSUER, "aud": AUDIENCE, "sub": SENDER, "iat": now, "exp": now + 300}
    return jwt.encode({**body, **claims}, key, alg, headers={"kid": kid})


async def test_knative_oidc_tokens_are_verified(oidc):
    auth, key = oidc["auth"], oidc["key"]
    assert await auth.check({"Authorization": f"Bearer {_token(key)}"}) == SENDER
    now = int(time.time())
    forged = {
        "missing": None,
        "audience": _token(key, aud="someone-else"),
        "expired": _token(key, iat=now - 4000, exp=now - 3000),
        "unknown_key": _token(key, kid="nope"),
        "issuer": _token(key, iss="https://evil.example"),
        "alg_none": jwt.encode({"sub": SENDER}, None, "none", headers={"kid": "k1"}),
        "hs256_public_key": jwt.encode(
            {"iss": ISSUER, "aud": AUDIENCE, "sub": SENDER, "exp": now + 60, "iat": now},
            "a-shared-string-that-is-not-the-key-but-long-enough",
            "HS256",
            headers={"kid": "k1"},
        ),
    }
    for name, token in forged.items():
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        with pytest.raises(EventRefused) as refused:
            await auth.check(headers)
        assert refused.value.status == 401, name
    with pytest.raises(EventRefused) as stranger:
        await auth.check(
            {"Authorization": f"Bearer {_token(key, sub='system:serviceaccount:x:y')}"}
        )
    assert stranger.value.status == 403
