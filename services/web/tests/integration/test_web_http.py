"""The console over plain HTTP (no JavaScript), through the gateway of a whole platform:
headers and cookies, CSRF, inline problem+json errors, uploads refused with nothing
stored, silent refresh (also under concurrency) and logout."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest
from web_helpers import csrf_token, new_account, photo_jpeg

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
MIB = 1024 * 1024


def browser_like(platform) -> httpx.Client:
    return httpx.Client(base_url=platform.gateway, timeout=60, follow_redirects=True)


def sign_up(client: httpx.Client, role: str):
    account = new_account(role)
    token = csrf_token(client.get("/auth/signup").text)
    page = client.post(
        "/auth/signup",
        data={"csrf_token": token, "email": account.email, "password": account.password,
              "display_name": account.name, "role": role},
    )  # fmt: skip
    assert page.status_code == 200 and "Welcome" in page.text, page.text[:2000]
    return account


def me(platform, client: httpx.Client) -> dict:
    token = client.cookies.get("zb_at")
    with platform.api() as api:
        return api.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"}).json()


def product_count(platform, seller_id: str) -> int:
    with platform.api() as api:
        return int(api.get("/api/products", params={"seller_id": seller_id}).json()["total"])


def test_pages_carry_a_strict_csp_and_cookies_scripts_cannot_read(platform):
    with browser_like(platform) as client:
        home = client.get("/")
    assert home.status_code == 200
    csp = home.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    img_src = next(part for part in csp.split("; ") if part.startswith("img-src"))
    assert re.search(r"http://127\.0\.0\.1:\d+", img_src), "the object store's origin"
    assert home.headers["x-content-type-options"] == "nosniff"
    cookie = home.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # the local profile serves plain http://127.0.0.1
    with browser_like(platform) as client:
        asset = client.get("/static/app.js")
    assert asset.status_code == 200 and "set-cookie" not in asset.headers
    with platform.api() as api:
        missing = api.get("/api/nothing-here")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")


def test_a_form_without_its_csrf_token_is_refused_and_does_nothing(platform):
    account = new_account("customer")
    fields = {"email": account.email, "password": account.password,
              "display_name": account.name, "role": "customer"}  # fmt: skip
    with browser_like(platform) as client:
        client.get("/auth/signup")
        refused = client.post("/auth/signup", data=fields)
        forged = client.post("/auth/signup", data={**fields, "csrf_token": "0" * 64})
    assert refused.status_code == 403 and "Form refused" in refused.text
    assert forged.status_code == 403
    with platform.api() as api:
        login = api.post("/api/auth/login", json={"email": account.email, "password": "x" * 12})
    assert login.status_code == 401  # no account was created


def test_the_apis_problems_show_inline(platform):
    with browser_like(platform) as client:
        token = csrf_token(client.get("/auth/signup").text)
        short = client.post(
            "/auth/signup",
            data={"csrf_token": token, "email": "someone@example.com", "password": "short",
                  "display_name": "Some One", "role": "customer"},
        )  # fmt: skip
        assert short.status_code == 422
        assert 'id="password-error"' in short.text and "at least 10 characters" in short.text
        account = sign_up(client, "customer")
    with browser_like(platform) as other:
        token = csrf_token(other.get("/auth/signup").text)
        taken = other.post(
            "/auth/signup",
            data={"csrf_token": token, "email": account.email, "password": account.password,
                  "display_name": "Again", "role": "customer"},
        )  # fmt: skip
        assert taken.status_code == 409 and "exists already" in taken.text
        token = csrf_token(other.get("/auth/login").text)
        away = other.post(
            "/auth/login",
            data={"csrf_token": token, "email": account.email, "password": account.password,
                  "next": "//evil.example/steal"},
        )  # fmt: skip
        assert away.status_code == 200 and str(away.url).startswith(platform.gateway)


def test_uploads_without_javascript_refuse_bad_photos_and_store_nothing(platform):
    with browser_like(platform) as client:
        sign_up(client, "seller")
        seller_id = me(platform, client)["id"]
        form = {"name": "Lamp", "category": "lighting", "price": "9.90", "currency": "EUR",
                "stock": "2", "description": ""}  # fmt: skip
        token = csrf_token(client.get("/seller/products/new").text)
        text = client.post(
            "/seller/products/new",
            data={**form, "csrf_token": token},
            files={"image": ("photo.jpg", b"not an image at all\n" * 20, "image/jpeg")},
        )
        assert text.status_code == 415
        assert 'role="alert"' in text.text and "JPEG, PNG" in text.text
        big = client.post(
            "/seller/products/new",
            data={**form, "csrf_token": token},
            files={"image": ("big.jpg", b"\xff\xd8\xff" + b"\0" * (20 * MIB), "image/jpeg")},
        )
        assert big.status_code == 413 and "too large" in big.text
        assert product_count(platform, seller_id) == 0

        good = client.post(
            "/seller/products/new",
            data={**form, "csrf_token": token},
            files={"image": ("photo.jpg", photo_jpeg(400, 300), "image/jpeg")},
        )
        assert good.status_code == 200 and "Product registered" in good.text
        assert product_count(platform, seller_id) == 1


def _tampered(token: str) -> str:
    """Same claims (not expired), broken signature: the API answers 401."""
    head, body, signature = token.split(".")
    return f"{head}.{body}.{'A' * len(signature)}"


def test_a_rejected_access_token_is_refreshed_and_the_call_retried(platform):
    with browser_like(platform) as client:
        sign_up(client, "seller")
        old_refresh = client.cookies.get("zb_rt")
        client.cookies.set("zb_at", _tampered(client.cookies.get("zb_at")))
        mine = client.get("/seller/products")
        assert mine.status_code == 200 and "My products" in mine.text
        assert client.cookies.get("zb_rt") != old_refresh


async def test_concurrent_requests_share_one_refresh_and_keep_the_session(platform):
    with browser_like(platform) as setup:
        sign_up(setup, "seller")
        refresh = setup.cookies.get("zb_rt")
    stale = {"Cookie": f"zb_rt={refresh}; zb_sid=fixed-session-id"}  # the access one expired
    async with httpx.AsyncClient(base_url=platform.gateway, timeout=60) as client:
        pages = await asyncio.gather(
            *(client.get("/seller/products", headers=stale) for _ in range(6))
        )
    assert [p.status_code for p in pages] == [200] * 6
    rotated = {p.cookies.get("zb_rt") for p in pages}
    assert len(rotated) == 1 and refresh not in rotated  # one refresh, shared
    with browser_like(platform) as client:
        client.cookies.set("zb_rt", rotated.pop())
        again = client.get("/seller/products")
    assert again.status_code == 200 and "My products" in again.text  # family alive


def test_logout_revokes_the_refresh_family(platform):
    with browser_like(platform) as client:
        sign_up(client, "customer")
        refresh = client.cookies.get("zb_rt")
        token = csrf_token(client.get("/").text)
        out = client.post("/auth/logout", data={"csrf_token": token})
        assert out.status_code == 200 and "You are logged out." in out.text
        assert client.cookies.get("zb_rt") is None
    with platform.api() as api:
        assert api.post("/api/auth/refresh", json={"refresh_token": refresh}).status_code == 401
