"""Pure parts of the console: CSRF tokens, redirects, CSP, problem parsing, pictures,
paging, cookie policy, settings, and the single-flight refresh (with an in-memory API)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from zipbob_platform.settings import ConfigError, load_settings
from zipbob_web import csrf
from zipbob_web.api import GatewayClient, browser_forwarded_for, error_from, forwarded_chain
from zipbob_web.catalog import pager, picture, stars
from zipbob_web.middleware import content_security_policy
from zipbob_web.pages import safe_next
from zipbob_web.session import CookiePolicy, RefreshCoordinator, TokenPair
from zipbob_web.settings import WebSettings


def test_csrf_tokens_are_bound_to_the_session_and_the_key():
    token = csrf.token_for(b"key", "sid-1")
    assert csrf.valid(b"key", "sid-1", token)
    assert not csrf.valid(b"key", "sid-2", token)
    assert not csrf.valid(b"other", "sid-1", token)
    assert not csrf.valid(b"key", "sid-1", None)
    assert not csrf.valid(b"key", None, token)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/seller/products?q=a", "/seller/products?q=a"),
        ("//evil.example/x", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("", "/"),
        (None, "/"),
    ],
)
def test_next_only_goes_to_paths_on_this_site(value, expected):
    assert safe_next(value) == expected


def test_the_csp_allows_scripts_from_us_only_and_photos_from_the_object_store():
    csp = content_security_policy(["https://images.example"])
    assert "script-src 'self'" in csp and "style-src 'self'" in csp
    assert "img-src 'self' data: https://images.example" in csp
    assert "unsafe" not in csp


def test_problem_json_becomes_a_message_and_field_errors():
    response = httpx.Response(
        422,
        json={
            "title": "Validation failed",
            "detail": "price: bad",
            "errors": [{"loc": ["body", "price"], "msg": "Value error, price must be ..."}],
        },
    )
    error = error_from(response)
    assert error.field_errors == {"price": "price must be ..."}
    assert error.message == "Please correct the fields marked below."
    assert error_from(httpx.Response(409, json={"detail": "email taken"})).message == "email taken"
    limited = error_from(httpx.Response(429, headers={"Retry-After": "30"}, json={}))
    assert "30 s" in limited.message
    assert "not reachable" in error_from(httpx.Response(502, text="<html>")).message


def test_a_ready_image_gets_a_srcset_over_its_variants():
    image = {
        "id": "i1",
        "status": "ready",
        "variants": {
            name: {"url": f"http://s3/{name}.jpg", "width": w, "height": w // 2}
            for name, w in (("large", 1600), ("thumbnail", 200), ("medium", 800))
        },
    }
    shown = picture(image)
    assert shown.srcset == (
        "http://s3/thumbnail.jpg 200w, http://s3/medium.jpg 800w, http://s3/large.jpg 1600w"
    )
    assert (shown.src, shown.width, shown.height) == ("http://s3/medium.jpg", 800, 400)
    failed = picture({"id": "i2", "status": "failed", "error": "truncated_image"})
    assert (failed.status, failed.srcset) == ("failed", "")
    assert failed.error.startswith("the file is cut short")
    assert picture({"id": "i3", "status": "failed", "error": "new_code"}).error == "new_code"


def test_pages_follow_the_total_and_trust_a_cursor_past_an_estimate():
    assert pager({"total": 25}, page=1, size=12).pages == 3
    estimated = pager({"total": 24, "total_exact": False, "next_cursor": "c"}, page=2, size=12)
    assert (estimated.pages, estimated.has_next, estimated.exact) == (3, True, False)
    assert stars(3.6) == "★★★★☆" and stars(None) == ""


def test_cookies_are_host_prefixed_and_secure_outside_local():
    secure = CookiePolicy(secure=True, refresh_max_age=60).header("rt", "v", 60)
    assert secure.startswith("__Host-zb_rt=v; Path=/; HttpOnly; SameSite=Lax")
    assert secure.endswith("Secure")
    local = CookiePolicy(secure=False, refresh_max_age=60).header("rt", "v", None)
    assert local == "zb_rt=v; Path=/; HttpOnly; SameSite=Lax"


def test_prod_refuses_to_start_without_a_secret_key(tmp_path):
    env = {"ZIPBOB_DATA_DIR": str(tmp_path)}
    with pytest.raises(ConfigError, match="ZIPBOB_WEB__SECRET_KEY"):
        load_settings("web", WebSettings, profile="prod", env=env)
    # The gateway's credential for the console (the launcher passes one in dev).
    env["ZIPBOB_WEB__GATEWAY_PROXY_TOKEN"] = "p" * 32
    prod = load_settings(
        "web", WebSettings, profile="prod", env={**env, "ZIPBOB_WEB__SECRET_KEY": "s" * 32}
    )
    assert prod.secure_cookies and prod.web.gateway_url == "http://gateway"
    assert prod.web.gateway_proxy_token.get_secret_value() == "p" * 32
    dev = load_settings("web", WebSettings, profile="dev", env=env)  # one machine: generated
    assert dev.secure_cookies and len(dev.signing_key()) >= 32
    local = load_settings("web", WebSettings, profile="local", env=env)
    assert not local.secure_cookies
    assert local.signing_key() == local.signing_key()  # generated once, then kept


class FakeGateway:
    """Answers POST /api/auth/refresh like the gateway: a used token is dead."""

    def __init__(self) -> None:
        self.calls = 0
        self.live = {"rt-0"}

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        self.calls += 1
        await asyncio.sleep(0.01)  # a round trip, so concurrent callers overlap
        token = kwargs["json"]["refresh_token"]
        if token not in self.live:
            return httpx.Response(401, json={"detail": "revoked"})
        self.live.discard(token)
        new = f"rt-{self.calls}"
        self.live.add(new)
        return httpx.Response(
            200, json={"access_token": "at", "refresh_token": new, "expires_in": 900}
        )


async def test_concurrent_refreshes_of_one_token_make_one_call():
    fake = FakeGateway()
    coordinator = RefreshCoordinator(fake)  # type: ignore[arg-type]
    results = await asyncio.gather(*(coordinator.refresh("rt-0") for _ in range(5)))
    assert fake.calls == 1
    assert set(results) == {TokenPair("at", "rt-1", 900)}
    assert await coordinator.refresh("rt-0") == TokenPair("at", "rt-1", 900)  # remembered
    assert await coordinator.refresh("unknown") is None


def test_templates_escape_what_users_wrote():
    from zipbob_web.pages import TEMPLATES

    hostile = "<script>alert(1)</script>"
    html = TEMPLATES.get_template("_photos.html").render(
        product={"name": hostile},
        pictures=[picture({"id": "i", "status": "failed", "error": hostile})],
    )
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_the_browsers_chain_is_handed_back_whole():
    scope = {
        "headers": [
            (b"x-forwarded-for", b"203.0.113.5, 10.1.2.3"),
            (b"x-forwarded-for", b"127.0.0.1"),
        ]
    }
    assert forwarded_chain(scope) == "203.0.113.5, 10.1.2.3, 127.0.0.1"
    assert forwarded_chain({"headers": []}) is None


async def test_calls_for_a_browser_carry_its_address_and_the_token():
    seen: list[httpx.Headers] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers)
        return httpx.Response(204)

    client = GatewayClient("http://gateway.test", timeout=5, proxy_token="the-credential")
    client.http = httpx.AsyncClient(
        base_url="http://gateway.test", transport=httpx.MockTransport(record)
    )
    await client.call("GET", "/api/products")  # no browser request: the console's own call
    forwarded = browser_forwarded_for.set("203.0.113.5, 127.0.0.1")
    try:
        await client.call("GET", "/api/products")
    finally:
        browser_forwarded_for.reset(forwarded)
    await client.close()
    assert "x-forwarded-for" not in seen[0] and "x-zipbob-proxy-token" not in seen[0]
    assert seen[1]["x-forwarded-for"] == "203.0.113.5, 127.0.0.1"
    assert seen[1]["x-zipbob-proxy-token"] == "the-credential"
