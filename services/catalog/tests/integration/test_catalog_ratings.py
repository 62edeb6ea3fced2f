"""The rating read model on each SQL backend: review.summary.changed applied once and in
version order, rating sort and filter, and the rebuild from a real review service."""

from __future__ import annotations

import asyncio
import random
import time
import uuid

import httpx
import pytest
import uvicorn
from sqlalchemy import update

from zipbob_catalog.products.models import Product
from zipbob_catalog.ratings.rebuild import rebuild_ratings
from zipbob_catalog.ratings.schemas import SUMMARY_CHANGED
from zipbob_devkit.embedded import free_port
from zipbob_devkit.testing import unique_name
from zipbob_platform.auth import static_jwks_source
from zipbob_platform.cloudevents import new_event, to_http_binary

pytestmark = pytest.mark.integration


async def _product(catalog, signer, *, category: str) -> str:
    body = {
        "name": "Rated thing",
        "price": "10.00",
        "currency": "EUR",
        "stock": 1,
        "category": category,
    }
    response = await catalog.client.post(
        "/api/products", json=body, headers=signer.headers("rated-seller")
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _summary(product_id: str, *, version: int, count: int, average: float | None) -> dict:
    return {
        "product_id": product_id,
        "count": count,
        "average": average,
        "histogram": {str(n): 0 for n in range(1, 6)},
        "version": version,
    }


async def _send(catalog, data: dict, *, event_id: str | None = None) -> str:
    event = new_event(SUMMARY_CHANGED, "/review", data, subject=data["product_id"])
    if event_id is not None:
        event.id = event_id
    headers, body = to_http_binary(event)
    response = await catalog.client.post("/internal/events", content=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["outcome"]


async def _rating(catalog, product_id: str) -> dict:
    return (await catalog.client.get(f"/api/products/{product_id}")).json()["rating"]


async def test_summaries_apply_once_and_only_newer_versions(catalog, signer) -> None:
    product_id = await _product(catalog, signer, category=f"r-{uuid.uuid4().hex[:6]}")
    assert await _rating(catalog, product_id) == {"average": None, "count": 0}
    event_id = str(uuid.uuid4())
    first = _summary(product_id, version=2, count=3, average=4.33)
    assert await _send(catalog, first, event_id=event_id) == "applied"
    assert await _rating(catalog, product_id) == {"average": 4.33, "count": 3}
    assert await _send(catalog, first, event_id=event_id) == "duplicate"
    older = _summary(product_id, version=1, count=1, average=1.0)
    assert await _send(catalog, older) == "stale"  # arrived late: never undoes a newer one
    same = _summary(product_id, version=2, count=9, average=2.0)
    assert await _send(catalog, same) == "stale"
    assert await _rating(catalog, product_id) == {"average": 4.33, "count": 3}
    gone = _summary(product_id, version=3, count=0, average=None)
    assert await _send(catalog, gone) == "applied"  # every review deleted
    assert await _rating(catalog, product_id) == {"average": None, "count": 0}
    unknown = _summary(str(uuid.uuid4()), version=1, count=1, average=5.0)
    assert await _send(catalog, unknown) == "stale"


async def test_shuffled_concurrent_deliveries_end_at_the_newest(catalog, signer) -> None:
    product_id = await _product(catalog, signer, category=f"r-{uuid.uuid4().hex[:6]}")
    versions = list(range(1, 16))
    random.Random(7).shuffle(versions)
    summaries = [
        _summary(product_id, version=v, count=v, average=round(1 + v * 0.25, 2)) for v in versions
    ]
    outcomes = await asyncio.gather(*(_send(catalog, s) for s in summaries))
    assert outcomes.count("applied") >= 1
    assert await _rating(catalog, product_id) == {"average": 4.75, "count": 15}


@pytest.mark.parametrize(
    "data",
    [
        {"product_id": "p", "count": 2, "average": None, "version": 1},
        {"product_id": "p", "count": -1, "average": 3.0, "version": 1},
        {"product_id": "p", "count": 1, "average": 7.0, "version": 1},
        {"product_id": "p", "count": 1, "average": 3.0},
    ],
)
async def test_unreadable_summaries_are_refused(catalog, data) -> None:
    event = new_event(SUMMARY_CHANGED, "/review", data)
    headers, body = to_http_binary(event)
    response = await catalog.client.post("/internal/events", content=body, headers=headers)
    assert response.status_code == 400


async def test_rating_sort_and_min_rating(catalog, signer) -> None:
    category = f"r-{uuid.uuid4().hex[:6]}"
    ids = [await _product(catalog, signer, category=category) for _ in range(4)]
    for product_id, average in zip(ids[:3], (3.5, 4.8, 4.2), strict=True):
        await _send(catalog, _summary(product_id, version=1, count=2, average=average))
    listing = (
        await catalog.client.get(
            "/api/products", params={"category": category, "sort": "rating_desc"}
        )
    ).json()
    assert [item["rating"]["average"] for item in listing["items"]] == [4.8, 4.2, 3.5, None]
    good = (
        await catalog.client.get("/api/products", params={"category": category, "min_rating": "4"})
    ).json()
    assert {item["id"] for item in good["items"]} == {ids[1], ids[2]}
    bad = await catalog.client.get("/api/products", params={"min_rating": "6"})
    assert bad.status_code == 422


def _review_settings(*, mongo_url: str, redis_url: str, catalog_url: str, database: str):
    from zipbob_review.settings import ReviewSettings

    return ReviewSettings.model_validate(
        {
            "service": "review",
            "profile": "test",
            "logging": {"access_log": False, "level": "WARNING"},
            "mongo": {
                "url": mongo_url,
                "database": database,
                "server_selection_timeout_ms": 10_000,
                "socket_timeout_ms": 20_000,
            },
            "redis": {"url": redis_url},
            "catalog": {"url": catalog_url, "timeout_seconds": 5},
            "review": {"cache": {"key_prefix": unique_name("zbtest:catalog-ratings")}},
        }
    )


async def test_rebuild_recomputes_ratings_from_a_real_review_service(
    catalog, signer, mongo_url, redis_url
) -> None:
    """The review service runs for real (uvicorn on a loopback port, its MongoDB the
    nx-27017 server), checks products against this very catalog, and answers the rebuild."""
    from zipbob_review.main import create_app as create_review_app

    category = f"rebuild-{uuid.uuid4().hex[:6]}"
    ids = [await _product(catalog, signer, category=category) for _ in range(3)]
    settings = _review_settings(
        mongo_url=mongo_url,
        redis_url=redis_url,
        catalog_url=catalog.url,
        database=unique_name("zb_catalog_ratings"),
    )
    app = create_review_app(settings, jwks_source=static_jwks_source(signer.jwks))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, loop="asyncio")
    )
    task = asyncio.create_task(server.serve())
    review_url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=review_url, timeout=30) as review:
            deadline = time.monotonic() + 60
            while not server.started:
                assert not task.done(), "the review service did not start"
                assert time.monotonic() < deadline, "the review service did not start in 60s"
                await asyncio.sleep(0.025)
            while (await review.get("/healthz/ready")).status_code != 200:
                assert time.monotonic() < deadline, "the review service never became ready"
                await asyncio.sleep(0.05)
            deps = getattr(app.state, "review_deps", None)
            while deps is not None and not getattr(deps.repository, "schema_ready", True):
                assert time.monotonic() < deadline, "review storage not prepared"
                await asyncio.sleep(0.05)
            for product_id, ratings in zip(ids[:2], ([5, 4], [2]), strict=True):
                for rating in ratings:
                    response = await review.post(
                        f"/api/products/{product_id}/reviews",
                        json={"rating": rating, "title": "t", "body": "b"},
                        headers=signer.headers(unique_name("customer"), role="customer"),
                    )
                    assert response.status_code == 201, response.text
        # The read model is lost/corrupt: nothing here matches the reviews.
        async with catalog.runtime.sessions() as session, session.begin():
            await session.execute(
                update(Product)
                .where(Product.category == category)
                .values(rating_hundredths=123, rating_count=99)
            )
        report = await rebuild_ratings(sessions=catalog.runtime.sessions, review_url=review_url)
        assert report.failed == 0 and report.products >= 3
        assert [await _rating(catalog, product_id) for product_id in ids] == [
            {"average": 4.5, "count": 2},
            {"average": 2.0, "count": 1},
            {"average": None, "count": 0},
        ]
        again = await rebuild_ratings(sessions=catalog.runtime.sessions, review_url=review_url)
        assert again.changed == 0  # idempotent
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)
