"""The catalog or MongoDB being down is a 503 problem+json with Retry-After, never a 500."""

from __future__ import annotations

import asyncio

import pytest
from review_factories import (
    CatalogStub,
    auth,
    metric_value,
    review_body,
    review_settings,
    running_app,
)

from zipbob_devkit.embedded import free_port
from zipbob_devkit.faults import TcpProxy
from zipbob_platform.breaker import CircuitBreaker
from zipbob_review.catalog.client import CatalogClient, CatalogUnavailable
from zipbob_review.settings import CatalogSettings

pytestmark = pytest.mark.integration


@pytest.fixture
async def catalog():
    stub = CatalogStub()
    await stub.start()
    yield stub
    await stub.stop()


@pytest.fixture
def settings(make_settings):
    return make_settings()


def assert_unavailable(response) -> dict:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert int(response.headers["retry-after"]) >= 1
    return response.json()


async def test_catalog_down_is_503_and_nothing_written(settings, catalog):
    product = catalog.add_product()
    async with running_app(settings) as client:
        await catalog.stop()
        before = metric_value("zipbob_catalog_lookups_total", outcome="unavailable")
        response = await client.post(
            f"/api/products/{product}/reviews", json=review_body(), headers=auth()
        )
        body = assert_unavailable(response)
        assert body["title"] == "Catalog unavailable"
        assert metric_value("zipbob_catalog_lookups_total", outcome="unavailable") == before + 1
        summary = (await client.get(f"/api/products/{product}/reviews/summary")).json()
        assert summary["count"] == 0  # reads never needed the catalog


@pytest.mark.parametrize("status", [500, 502, 429, 401])
async def test_catalog_errors_are_503(settings, catalog, status):
    catalog.status_override = status
    async with running_app(settings) as client:
        response = await client.post(
            f"/api/products/{catalog.add_product()}/reviews", json=review_body(), headers=auth()
        )
        assert_unavailable(response)


async def test_slow_catalog_times_out_to_503(settings, catalog):
    catalog.delay_seconds = 2.0  # it would say "exists" (201), but after the 0.5 s timeout
    async with running_app(settings) as client:
        response = await client.post(
            f"/api/products/{catalog.add_product()}/reviews", json=review_body(), headers=auth()
        )
        assert_unavailable(response)  # the timeout answered, not the catalog (no stopwatch)


async def test_breaker_opens_then_recovers(settings, catalog, clock):
    catalog.status_override = 503
    async with running_app(settings) as client:
        lookups = client.app.state.container.deps.catalog
        # The same breaker the app built, on a clock the test moves (no waiting on wall time).
        lookups.breaker = CircuitBreaker(
            "catalog",
            failure_threshold=settings.catalog.breaker_failures,
            open_seconds=settings.catalog.breaker_open_seconds,
            clock=clock,
        )
        for _ in range(settings.catalog.breaker_failures):
            assert_unavailable(
                await client.post(
                    f"/api/products/{catalog.add_product()}/reviews",
                    json=review_body(),
                    headers=auth(),
                )
            )
        calls = catalog.calls
        opened = await client.post(
            f"/api/products/{catalog.add_product()}/reviews", json=review_body(), headers=auth()
        )
        assert_unavailable(opened)
        assert catalog.calls == calls  # open: the catalog is not even asked
        assert (await client.get("/healthz/ready")).json()["checks"]["catalog_breaker"] == "open"
        catalog.status_override = None
        clock.advance(settings.catalog.breaker_open_seconds)
        product = catalog.add_product()
        response = await client.post(
            f"/api/products/{product}/reviews", json=review_body(), headers=auth()
        )
        assert response.status_code == 201  # half-open trial succeeded
        assert lookups.breaker.state == "closed"


async def test_a_cancelled_half_open_trial_does_not_close_the_circuit_for_ever(catalog, clock):
    """The bug review's own breaker had: a trial cancelled mid-call (the client went away)
    kept the trial slot, so every later lookup was refused as "circuit open"."""
    proxy = TcpProxy(catalog.port).start()  # a real socket path to the stub we can hang
    lookups = CatalogClient(
        CatalogSettings(
            url=f"http://{proxy.url_host_port}",
            timeout_seconds=30,
            breaker_failures=1,
            breaker_open_seconds=10,
        ),
        clock=clock,
    )
    try:
        catalog.status_override = 503
        with pytest.raises(CatalogUnavailable):
            await lookups.product_exists(catalog.add_product())
        assert lookups.breaker.state == "open"
        catalog.status_override = None
        clock.advance(10)
        proxy.blackhole()  # the trial's request is accepted and never answered
        calls, connections = catalog.calls, proxy.accepted
        trial = asyncio.create_task(lookups.product_exists(catalog.add_product()))
        async with asyncio.timeout(10):  # until the trial's request is on the wire
            while proxy.accepted == connections:
                await asyncio.sleep(0.01)
        trial.cancel()
        with pytest.raises(asyncio.CancelledError):
            await trial
        assert catalog.calls == calls  # it never reached the catalog
        proxy.restore()
        assert await lookups.product_exists(catalog.add_product()) is True  # a new trial ran
        assert catalog.calls == calls + 1
        assert lookups.breaker.state == "closed"
    finally:
        await lookups.close()
        proxy.stop()


async def test_known_products_are_cached(settings, catalog):
    product = catalog.add_product()
    async with running_app(settings) as client:
        for user in ("c1", "c2", "c3"):
            response = await client.post(
                f"/api/products/{product}/reviews",
                json=review_body(),
                headers=auth("customer", user),
            )
            assert response.status_code == 201
        assert catalog.calls == 1


@pytest.mark.slow
async def test_mongo_down_is_503_not_500(redis_url, catalog):
    dead = f"mongodb://127.0.0.1:{free_port()}/?directConnection=true"
    settings = review_settings(
        mongo_url=dead, redis_url=redis_url, catalog_url=catalog.url, database="unreachable"
    )
    async with running_app(settings, wait_for_storage=False) as client:
        product = catalog.add_product()
        for response in (
            await client.get(f"/api/products/{product}/reviews/summary"),
            await client.get(f"/api/products/{product}/reviews"),
            await client.post(
                f"/api/products/{product}/reviews", json=review_body(), headers=auth()
            ),
            await client.patch("/api/reviews/abc", json={"rating": 2}, headers=auth()),
            await client.delete("/api/reviews/abc", headers=auth("admin")),
        ):
            assert_unavailable(response)
        ready = await client.get("/healthz/ready")
        assert ready.status_code == 503
        assert ready.headers["content-type"].startswith("application/problem+json")
        assert (await client.get("/healthz/live")).status_code == 200
