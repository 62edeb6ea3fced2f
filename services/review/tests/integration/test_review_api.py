"""Every status in the SPEC 3 Reviews table, against nx-27017 (or a real MongoDB) and Redis."""

from __future__ import annotations

import pytest
from review_factories import (
    auth,
    review_body,
    review_settings,
    running_app,
)

pytestmark = pytest.mark.integration
PROBLEM = "application/problem+json"


@pytest.fixture
async def client(mongo_url, redis_url, catalog, database):
    settings = review_settings(
        mongo_url=mongo_url, redis_url=redis_url, catalog_url=catalog.url, database=database
    )
    async with running_app(settings) as client:
        yield client


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status and body["title"] and "trace_id" in body
    return body


async def test_customer_creates_review_201(client, catalog):
    product = catalog.add_product()
    customer = auth("customer", "alice")
    response = await client.post(
        f"/api/products/{product}/reviews", json=review_body(5), headers=customer
    )
    assert response.status_code == 201, response.text
    review = response.json()
    assert review["rating"] == 5 and review["author_id"] == "alice"
    assert review["product_id"] == product
    assert response.headers["location"] == f"/api/reviews/{review['id']}"
    fetched = await client.get(response.headers["location"])
    assert fetched.status_code == 200 and fetched.json() == review
    assert_problem(await client.get("/api/reviews/missing"), 404)
    assert response.headers["x-request-id"]


async def test_unknown_product_is_404(client):
    response = await client.post(
        "/api/products/no-such-product/reviews", json=review_body(), headers=auth()
    )
    assert_problem(response, 404)


async def test_second_review_by_same_author_is_409(client, catalog):
    product = catalog.add_product()
    customer = auth("customer", "bob")
    first = await client.post(
        f"/api/products/{product}/reviews", json=review_body(), headers=customer
    )
    assert first.status_code == 201
    again = await client.post(
        f"/api/products/{product}/reviews", json=review_body(1), headers=customer
    )
    assert_problem(again, 409)
    summary = (await client.get(f"/api/products/{product}/reviews/summary")).json()
    assert summary["count"] == 1 and summary["histogram"]["4"] == 1


@pytest.mark.parametrize(
    "body",
    [
        {"rating": 0, "title": "x"},
        {"rating": 6, "title": "x"},
        {"rating": "5", "title": "x"},
        {"rating": 4.5, "title": "x"},
        {"rating": 3},
        {"rating": 3, "title": "   "},
        {"rating": 3, "title": "x" * 201},
        {"rating": 3, "title": "x", "extra": 1},
    ],
)
async def test_invalid_review_is_422_and_nothing_written(client, catalog, body):
    product = catalog.add_product()
    response = await client.post(f"/api/products/{product}/reviews", json=body, headers=auth())
    assert_problem(response, 422)
    summary = (await client.get(f"/api/products/{product}/reviews/summary")).json()
    assert summary["count"] == 0


async def test_writing_needs_a_token_401(client, catalog):
    product = catalog.add_product()
    response = await client.post(f"/api/products/{product}/reviews", json=review_body())
    assert_problem(response, 401)
    bad = await client.post(
        f"/api/products/{product}/reviews",
        json=review_body(),
        headers={"Authorization": "Bearer not-a-jwt"},
    )
    assert_problem(bad, 401)


@pytest.mark.parametrize("role", ["seller", "admin"])
async def test_only_customers_write_reviews_403(client, catalog, role):
    product = catalog.add_product()
    response = await client.post(
        f"/api/products/{product}/reviews", json=review_body(), headers=auth(role)
    )
    assert_problem(response, 403)


async def _create(client, product: str, user: str, rating: int = 4) -> dict:
    response = await client.post(
        f"/api/products/{product}/reviews", json=review_body(rating), headers=auth("customer", user)
    )
    assert response.status_code == 201, response.text
    return response.json()


async def test_author_edits_200_others_403(client, catalog):
    product = catalog.add_product()
    review = await _create(client, product, "carol", 2)
    edited = await client.patch(
        f"/api/reviews/{review['id']}",
        json={"rating": 5, "title": "Changed my mind"},
        headers=auth("customer", "carol"),
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["rating"] == 5 and edited.json()["title"] == "Changed my mind"
    assert edited.json()["body"] == review["body"]
    for role, user in (("customer", "dave"), ("admin", "root"), ("seller", "carol2")):
        other = await client.patch(
            f"/api/reviews/{review['id']}", json={"rating": 1}, headers=auth(role, user)
        )
        assert_problem(other, 403)
    assert_problem(
        await client.patch(
            f"/api/reviews/{review['id']}", json={}, headers=auth("customer", "carol")
        ),
        422,
    )
    assert_problem(await client.patch("/api/reviews/nope", json={"rating": 1}, headers=auth()), 404)
    summary = (await client.get(f"/api/products/{product}/reviews/summary")).json()
    assert summary == {
        "count": 1,
        "average": 5.0,
        "histogram": {"1": 0, "2": 0, "3": 0, "4": 0, "5": 1},
    }


async def test_author_and_admin_delete_204_others_403(client, catalog):
    product = catalog.add_product()
    mine = await _create(client, product, "erin", 3)
    theirs = await _create(client, product, "frank", 1)
    assert_problem(
        await client.delete(f"/api/reviews/{mine['id']}", headers=auth("customer", "frank")), 403
    )
    assert_problem(
        await client.delete(f"/api/reviews/{mine['id']}", headers=auth("seller", "erin2")), 403
    )
    assert_problem(await client.delete(f"/api/reviews/{mine['id']}"), 401)
    own = await client.delete(f"/api/reviews/{mine['id']}", headers=auth("customer", "erin"))
    assert own.status_code == 204 and own.content == b""
    admin = await client.delete(f"/api/reviews/{theirs['id']}", headers=auth("admin", "root"))
    assert admin.status_code == 204
    assert_problem(await client.delete(f"/api/reviews/{theirs['id']}", headers=auth("admin")), 404)
    summary = (await client.get(f"/api/products/{product}/reviews/summary")).json()
    assert summary["count"] == 0 and summary["average"] is None


async def test_listing_pages_sorts_and_bounds(client, catalog):
    product = catalog.add_product()
    ratings = [3, 5, 1, 4, 5, 2, 3]
    created = [await _create(client, product, f"user{i}", r) for i, r in enumerate(ratings)]
    newest = (await client.get(f"/api/products/{product}/reviews?size=3")).json()
    assert newest["total"] == 7 and newest["page"] == 1 and newest["size"] == 3
    assert [r["id"] for r in newest["items"]] == [r["id"] for r in created[::-1][:3]]
    page3 = (await client.get(f"/api/products/{product}/reviews?size=3&page=3")).json()
    assert [r["id"] for r in page3["items"]] == [created[0]["id"]]
    assert page3["next_cursor"] is None
    desc = (await client.get(f"/api/products/{product}/reviews?sort=rating_desc&size=100")).json()
    assert [r["rating"] for r in desc["items"]] == sorted(ratings, reverse=True)
    # equal ratings: newest first in both directions
    fives = [r["id"] for r in desc["items"] if r["rating"] == 5]
    assert fives == [created[4]["id"], created[1]["id"]]
    asc = (await client.get(f"/api/products/{product}/reviews?sort=rating_asc")).json()
    assert [r["rating"] for r in asc["items"]] == sorted(ratings)
    threes = [r["id"] for r in asc["items"] if r["rating"] == 3]
    assert threes == [created[6]["id"], created[0]["id"]]
    for bad in ("size=101", "size=0", "page=0", "sort=oldest", "page=abc"):
        assert_problem(await client.get(f"/api/products/{product}/reviews?{bad}"), 422)
    # deeper than max_offset by page number: refused with a pointer to the cursor
    assert_problem(await client.get(f"/api/products/{product}/reviews?size=100&page=12"), 422)
    assert_problem(await client.get(f"/api/products/{product}/reviews?cursor=%%%"), 422)


async def test_keyset_cursor_walks_every_review_once(client, catalog):
    product = catalog.add_product()
    for i in range(9):
        await _create(client, product, f"walker{i}", i % 5 + 1)
    for sort in ("newest", "rating_desc", "rating_asc"):
        seen, cursor = [], None
        for _ in range(10):
            query = f"sort={sort}&size=4" + (f"&cursor={cursor}" if cursor else "")
            page = (await client.get(f"/api/products/{product}/reviews?{query}")).json()
            seen += page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == 9 and len({r["id"] for r in seen}) == 9
        full = (await client.get(f"/api/products/{product}/reviews?sort={sort}&size=9")).json()
        assert [r["id"] for r in seen] == [r["id"] for r in full["items"]]


async def test_reading_an_unreviewed_product(client):
    summary = await client.get("/api/products/never-reviewed/reviews/summary")
    assert summary.status_code == 200
    assert summary.json() == {
        "count": 0,
        "average": None,
        "histogram": {"1": 0, "2": 0, "3": 0, "4": 0, "5": 0},
    }
    listing = (await client.get("/api/products/never-reviewed/reviews")).json()
    assert listing == {
        "items": [],
        "page": 1,
        "size": 20,
        "total": 0,
        "total_exact": True,
        "sort": "newest",
        "next_cursor": None,
    }


async def test_path_ids_are_bounded_422(client):
    long_id = "p" * 101
    assert_problem(await client.get(f"/api/products/{long_id}/reviews/summary"), 422)
    assert_problem(
        await client.post(f"/api/products/{long_id}/reviews", json=review_body(), headers=auth()),
        422,
    )
    assert_problem(await client.delete(f"/api/reviews/{long_id}", headers=auth("admin")), 422)


async def test_body_only_edit_keeps_the_rating(client, catalog):
    product = catalog.add_product()
    review = await _create(client, product, "gina", 2)
    edited = await client.patch(
        f"/api/reviews/{review['id']}",
        json={"body": "Longer text"},
        headers=auth("customer", "gina"),
    )
    assert edited.status_code == 200 and edited.json()["rating"] == 2
    assert edited.json()["body"] == "Longer text"
    assert edited.json()["updated_at"] >= review["updated_at"]


async def test_readiness_reports_each_dependency(client):
    ready = await client.get("/healthz/ready")
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ready",
        "checks": {"mongo": "ok", "redis": "ok", "catalog_breaker": "closed"},
    }


async def test_domain_errors_answer_with_the_same_problem_fields_as_before(client, catalog):
    """The service raises domain errors now; the wire answer is what it was (type, title,
    detail, instance), answered once by the platform's handler."""
    base = "https://zipbob.dev/problems/"
    product = catalog.add_product()
    customer = auth("customer", "dora")
    review = (
        await client.post(f"/api/products/{product}/reviews", json=review_body(), headers=customer)
    ).json()
    answers = {
        ("not-found", 404): await client.get("/api/reviews/nope"),
        ("conflict", 409): await client.post(
            f"/api/products/{product}/reviews", json=review_body(), headers=customer
        ),
        ("forbidden", 403): await client.patch(
            f"/api/reviews/{review['id']}", json={"rating": 1}, headers=auth("customer", "eve")
        ),
        ("validation", 422): await client.get(
            f"/api/products/{product}/reviews", params={"cursor": "not-ours"}
        ),
    }
    for (kind, status), response in answers.items():
        body = assert_problem(response, status)
        assert body["type"] == base + kind
        assert body["instance"] == response.request.url.path
    details = {kind: response.json()["detail"] for (kind, _), response in answers.items()}
    assert details["not-found"] == "review nope not found"
    assert details["forbidden"] == "only the author may edit a review"
