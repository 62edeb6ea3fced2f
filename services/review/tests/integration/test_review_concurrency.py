"""Concurrent creates, edits and deletes leave the summary equal to the reviews stored."""

from __future__ import annotations

import asyncio
import random

import pytest
from review_factories import (
    auth,
    drop_database,
    review_body,
    review_settings,
    running_app,
)

from zipbob_devkit.testing import unique_name
from zipbob_platform import events

pytestmark = pytest.mark.integration


@pytest.fixture
async def client(mongo_url, redis_url, catalog):
    database = unique_name("zb_review_conc")
    settings = review_settings(
        mongo_url=mongo_url, redis_url=redis_url, catalog_url=catalog.url, database=database
    )
    async with running_app(settings) as client:
        yield client
    await drop_database(mongo_url, database)


async def _truth(client, product: str) -> dict:
    """The summary recomputed from every stored review (walking the cursor)."""
    histogram, cursor = dict.fromkeys("12345", 0), None
    while True:
        query = "size=100" + (f"&cursor={cursor}" if cursor else "")
        page = (await client.get(f"/api/products/{product}/reviews?{query}")).json()
        for item in page["items"]:
            histogram[str(item["rating"])] += 1
        cursor = page["next_cursor"]
        if cursor is None:
            return histogram


async def test_mixed_concurrent_writes_keep_the_summary_exact(client, catalog):
    product = catalog.add_product()
    rng = random.Random(5)
    authors = [f"conc{i}" for i in range(24)]
    created = await asyncio.gather(
        *(
            client.post(
                f"/api/products/{product}/reviews",
                json=review_body(rng.randint(1, 5)),
                headers=auth("customer", a),
            )
            for a in authors
        ),
        *(client.get(f"/api/products/{product}/reviews/summary") for _ in range(10)),
    )
    reviews = {r.json()["author_id"]: r.json() for r in created[: len(authors)]}
    assert all(r.status_code == 201 for r in created[: len(authors)])

    async def edit(author: str) -> None:
        response = await client.patch(
            f"/api/reviews/{reviews[author]['id']}",
            json={"rating": rng.randint(1, 5)},
            headers=auth("customer", author),
        )
        assert response.status_code in (200, 404)

    async def delete(author: str, role: str = "customer") -> None:
        response = await client.delete(
            f"/api/reviews/{reviews[author]['id']}", headers=auth(role, author)
        )
        assert response.status_code in (204, 404)

    operations = []
    for author in authors:
        choice = rng.random()
        if choice < 0.4:
            operations += [edit(author), edit(author)]
        elif choice < 0.7:
            operations += [edit(author), delete(author)]  # racing on the same review
        else:
            operations.append(delete(author, "admin"))
    operations += [client.get(f"/api/products/{product}/reviews/summary") for _ in range(10)]
    rng.shuffle(operations)
    await asyncio.gather(*operations)

    summary = (await client.get(f"/api/products/{product}/reviews/summary")).json()
    truth = await _truth(client, product)
    assert summary["histogram"] == truth
    assert summary["count"] == sum(truth.values())
    listing = (await client.get(f"/api/products/{product}/reviews")).json()
    assert listing["total"] == summary["count"]


async def test_same_author_racing_creates_get_exactly_one_201(client, catalog):
    product = catalog.add_product()
    responses = await asyncio.gather(
        *(
            client.post(
                f"/api/products/{product}/reviews",
                json=review_body(rating),
                headers=auth("customer", "racer"),
            )
            for rating in (1, 2, 3, 4, 5, 1, 2, 3)
        )
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 7
    summary = (await client.get(f"/api/products/{product}/reviews/summary")).json()
    assert summary["count"] == 1


async def test_create_racing_product_deletion_leaves_no_orphan(client, catalog):
    from zipbob_platform.cloudevents import new_event, to_http_binary

    product = catalog.add_product()
    event = new_event(events.PRODUCT_DELETED, "/catalog", {"product_id": product})
    headers, body = to_http_binary(event)
    creates = [
        client.post(
            f"/api/products/{product}/reviews",
            json=review_body(),
            headers=auth("customer", f"orphan{i}"),
        )
        for i in range(12)
    ]
    results = await asyncio.gather(
        *creates[:6], client.post("/internal/events", headers=headers, content=body), *creates[6:]
    )
    assert {r.status_code for r in results} <= {200, 201, 404}
    await asyncio.sleep(0)
    assert (await client.get(f"/api/products/{product}/reviews/summary")).json()["count"] == 0
    assert await _truth(client, product) == dict.fromkeys("12345", 0)
