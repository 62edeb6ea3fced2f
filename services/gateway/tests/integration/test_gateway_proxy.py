"""The proxy against real HTTP upstreams: routing, headers, bodies, retries, timeouts, breaker."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import REGISTRY

pytestmark = pytest.mark.integration
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def _route(settings, route_id):
    return next(r for r in settings.routes if r.id == route_id)


async def test_most_specific_route_wins_and_gets_are_anonymous(gateway_factory, upstreams):
    gateway = await gateway_factory()
    products = await gateway.client.get("/api/products?q=shoe&page=2")
    assert products.status_code == 200
    assert products.json()["service"] == "catalog"
    assert upstreams["catalog"].last["path"] == "/api/products?q=shoe&page=2"

    reviews = await gateway.client.get("/api/products/p1/reviews/summary")
    assert reviews.json()["service"] == "review"
    assert (await gateway.client.get("/api/products/p1/reviews")).json()["service"] == "review"
    assert (await gateway.client.get("/api/products/p1")).json()["service"] == "catalog"
    assert (await gateway.client.get("/api/reviews/r1")).json()["service"] == "review"

    metrics = (await gateway.client.get("/metrics")).text
    assert 'route="/api/products/*/reviews/**"' in metrics
    assert 'route="/api/products/**"' in metrics
    assert "/api/products/p1" not in metrics  # the template labels metrics, never the raw path
    assert 'zipbob_upstream_requests_total{outcome="ok",upstream="review"}' in metrics
    ready = await gateway.client.get("/healthz/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok"}


async def test_unrouted_internal_and_wrong_methods(gateway_factory, upstreams, problem):
    gateway = await gateway_factory()
    assert problem(await gateway.client.post("/internal/events", json={}))["status"] == 404
    assert problem(await gateway.client.get("/nothing/here"))["status"] == 404
    wrong = await gateway.client.put("/api/products/p1", json={})
    assert problem(wrong)["status"] == 405
    assert "PATCH" in wrong.headers["allow"]
    assert upstreams["catalog"].requests == []


async def test_writes_need_a_valid_token_and_forward_it(gateway_factory, upstreams, problem):
    gateway = await gateway_factory()
    anonymous = await gateway.client.post("/api/products", json={"name": "x"})
    assert problem(anonymous)["status"] == 401
    assert upstreams["catalog"].requests == []

    session = await gateway.signup_and_login()
    bearer = f"Bearer {session['access_token']}"
    created = await gateway.client.post(
        "/api/products", json={"name": "x"}, headers={"Authorization": bearer}
    )
    assert created.status_code == 201
    assert upstreams["catalog"].last["headers"]["authorization"] == bearer

    bad = await gateway.client.get("/api/products", headers={"Authorization": "Bearer nope"})
    assert problem(bad)["status"] == 401  # a presented token is checked even on GET


async def test_headers_forwarded_and_hop_by_hop_dropped(gateway_factory, upstreams):
    gateway = await gateway_factory()
    response = await gateway.client.get(
        "/api/products/p1",
        headers={
            "X-Request-ID": "req-abc-123",
            "traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01",
            "Connection": "keep-alive, X-Drop-Me",
            "X-Drop-Me": "secret",
            "Keep-Alive": "timeout=5",
            "TE": "trailers",
            "Proxy-Authorization": "Basic Zm9vOmJhcg==",
            "X-Forwarded-For": "203.0.113.9",
            "X-Custom": "kept",
        },
    )
    assert response.status_code == 200
    seen = upstreams["catalog"].last["headers"]
    assert seen["x-request-id"] == "req-abc-123"
    assert seen["traceparent"].split("-")[1] == TRACE_ID  # same trace, the gateway's span
    assert seen["traceparent"].split("-")[2] != "00f067aa0ba902b7"
    for dropped in ("x-drop-me", "keep-alive", "te", "proxy-authorization"):
        assert dropped not in seen
    # The peer (127.0.0.1) is no trusted proxy: what the client claims is not passed on.
    assert seen["x-forwarded-for"] == "127.0.0.1"
    assert seen["x-forwarded-proto"] == "http"
    assert seen["x-forwarded-host"].startswith("127.0.0.1:")
    assert seen["x-custom"] == "kept"
    assert response.headers["x-request-id"] == "req-abc-123"
    assert response.headers["x-upstream"] == "catalog"
    assert "proxy-authenticate" not in response.headers


async def test_large_bodies_stream_both_ways(gateway_factory, upstreams):
    gateway = await gateway_factory()
    session = await gateway.signup_and_login()
    size = 8 * 1024 * 1024

    async def chunks():
        for _ in range(size // 65536):
            yield b"y" * 65536

    uploaded = await gateway.client.post(
        "/api/products/p1/images",
        content=chunks(),
        headers={"Authorization": f"Bearer {session['access_token']}"},
    )
    assert uploaded.status_code == 201
    assert upstreams["catalog"].last["body_bytes"] == size

    download = await gateway.client.get("/api/products/large")
    assert len(download.content) == 32 * 65536


async def test_bodies_over_the_limit_get_413(gateway_factory, upstreams, problem):
    gateway = await gateway_factory(env={"ZIPBOB_PROXY__MAX_BODY_BYTES": str(1024 * 1024)})
    session = await gateway.signup_and_login()
    auth = {"Authorization": f"Bearer {session['access_token']}"}
    declared = await gateway.client.post(
        "/api/products", content=b"z" * (2 * 1024 * 1024), headers=auth
    )
    assert problem(declared)["status"] == 413
    assert upstreams["catalog"].requests == []

    async def chunks():
        for _ in range(64):
            yield b"z" * 65536

    streamed = await gateway.client.post("/api/products", content=chunks(), headers=auth)
    assert problem(streamed)["status"] == 413


async def test_only_idempotent_methods_are_retried(gateway_factory, upstreams):
    gateway = await gateway_factory()
    catalog = upstreams["catalog"]
    catalog.fail_times = 2
    got = await gateway.client.get("/api/products/p1")
    assert got.status_code == 200
    assert len(catalog.requests) == 3

    session = await gateway.signup_and_login()
    catalog.requests.clear()
    catalog.fail_times = 1
    posted = await gateway.client.post(
        "/api/products", json={}, headers={"Authorization": f"Bearer {session['access_token']}"}
    )
    assert posted.status_code == 503  # the upstream's answer, not retried
    assert len(catalog.requests) == 1


async def test_route_timeout_gives_504(gateway_factory, upstreams, problem):
    gateway = await gateway_factory(
        customize=lambda s: setattr(_route(s, "products"), "timeout_seconds", 0.3)
    )
    upstreams["catalog"].delay_seconds = 1.5
    slow = await gateway.client.get("/api/products/p1")
    assert problem(slow)["status"] == 504


@pytest.mark.slow
async def test_circuit_breaker_opens_and_closes_again(gateway_factory, upstreams, problem):
    gateway = await gateway_factory(
        env={
            "ZIPBOB_UPSTREAMS__REVIEW__BREAKER__FAILURE_THRESHOLD": "2",
            "ZIPBOB_UPSTREAMS__REVIEW__BREAKER__OPEN_SECONDS": "0.5",
        }
    )
    review = upstreams["review"]
    review.fail_with = 502
    for _ in range(2):
        assert (await gateway.client.get("/api/reviews/r1")).status_code == 502
    refused = await gateway.client.get("/api/reviews/r1")
    assert problem(refused)["status"] == 503
    assert int(refused.headers["retry-after"]) >= 1
    assert len(review.requests) == 2  # the open breaker did not call the upstream
    assert REGISTRY.get_sample_value("zipbob_circuit_breaker_open", {"upstream": "review"}) == 1
    # Catalog has its own breaker and is unaffected.
    assert (await gateway.client.get("/api/products/p1")).status_code == 200

    review.fail_with = None
    async with asyncio.timeout(10):  # the breaker opens for 0.5 s; poll, never sleep a guess
        while (probe := await gateway.client.get("/api/reviews/r1")).status_code == 503:
            await asyncio.sleep(0.05)
    assert probe.status_code == 200  # the half-open trial
    assert len(review.requests) == 3  # the refusals before it never reached the upstream
    assert (await gateway.client.get("/api/reviews/r1")).status_code == 200
    assert REGISTRY.get_sample_value("zipbob_circuit_breaker_open", {"upstream": "review"}) == 0


async def test_unreachable_upstream_gives_502_problem(gateway_factory, problem):
    from zipbob_devkit.embedded import free_port

    gateway = await gateway_factory(env={"ZIPBOB_REVIEW_PORT": str(free_port())})
    response = await gateway.client.get("/api/reviews/r1")
    assert problem(response)["status"] == 502
    assert response.headers["x-request-id"]
