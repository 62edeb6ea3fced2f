"""Products API on each SQL backend: CRUD, filters, sorting, pagination, ownership."""

from __future__ import annotations

import uuid

import pytest

pytestmark = pytest.mark.integration


async def test_create_returns_the_product_with_location(catalog, signer) -> None:
    seller = f"seller-{uuid.uuid4().hex[:8]}"
    response = await catalog.client.post(
        "/api/products", json=catalog.product_body(price="10.5"), headers=signer.headers(seller)
    )
    assert response.status_code == 201
    body = response.json()
    assert response.headers["location"] == f"/api/products/{body['id']}"
    assert body["seller_id"] == seller
    assert body["price"] == "10.50"  # decimal string, two places for EUR
    assert body["images"] == []
    fetched = await catalog.client.get(f"/api/products/{body['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == body


async def test_money_is_exact_on_every_backend(catalog, signer) -> None:
    body = await catalog.create_product(signer, "exact", price="99999999999.99", currency="USD")
    assert body["price"] == "99999999999.99"
    kwd = await catalog.create_product(signer, "exact", price="0.125", currency="KWD")
    assert (await catalog.client.get(f"/api/products/{kwd['id']}")).json()["price"] == "0.125"


@pytest.mark.parametrize(
    "overrides",
    [
        {"price": 19.99},  # a JSON number would be a float
        {"price": "12.345"},  # too many places for EUR
        {"price": "-1"},
        {"currency": "EURO"},
        {"currency": "XXX"},
        {"currency": "JPY", "price": "10.5"},
        {"stock": -1},
        {"name": ""},
        {"name": "x" * 201},
        {"unknown": 1},
    ],
)
async def test_invalid_products_are_422_problems(catalog, signer, overrides) -> None:
    response = await catalog.client.post(
        "/api/products", json=catalog.product_body(**overrides), headers=signer.headers("s1")
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["status"] == 422


async def test_missing_fields_and_bad_json_are_422(catalog, signer) -> None:
    headers = signer.headers("s1")
    response = await catalog.client.post("/api/products", json={"name": "x"}, headers=headers)
    assert response.status_code == 422
    response = await catalog.client.post(
        "/api/products",
        content=b"{not json",
        headers={**headers, "content-type": "application/json"},
    )
    assert response.status_code == 422


async def test_only_sellers_create(catalog, signer) -> None:
    anonymous = await catalog.client.post("/api/products", json=catalog.product_body())
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"].startswith("application/problem+json")
    customer = await catalog.client.post(
        "/api/products", json=catalog.product_body(), headers=signer.headers("c1", "customer")
    )
    assert customer.status_code == 403
    forged = await catalog.client.post(
        "/api/products", json=catalog.product_body(), headers={"Authorization": "Bearer not.a.jwt"}
    )
    assert forged.status_code == 401


async def test_list_filters_sorts_and_paginates(catalog, signer) -> None:
    seller = f"lister-{uuid.uuid4().hex[:8]}"
    category = f"cat-{uuid.uuid4().hex[:6]}"
    prices = ["5.00", "50.00", "0.99", "500.00", "12.30"]
    for index, price in enumerate(prices):
        await catalog.create_product(
            signer, seller, name=f"Lamp {index} 100%_brass", price=price, category=category
        )
    await catalog.create_product(signer, seller, name="Chair", category=f"{category}-other")

    page = (await catalog.client.get("/api/products", params={"category": category})).json()
    assert page["total"] == 5 and page["page"] == 1 and page["size"] == 20
    newest = [item["name"] for item in page["items"]]
    assert newest == [f"Lamp {i} 100%_brass" for i in reversed(range(5))]

    ascending = await catalog.client.get(
        "/api/products", params={"category": category, "sort": "price_asc"}
    )
    assert [i["price"] for i in ascending.json()["items"]] == sorted(prices, key=float)
    descending = await catalog.client.get(
        "/api/products", params={"category": category, "sort": "price_desc", "size": 2, "page": 2}
    )
    body = descending.json()
    assert [i["price"] for i in body["items"]] == ["12.30", "5.00"]
    assert (body["page"], body["size"], body["total"]) == (2, 2, 5)

    by_seller = await catalog.client.get("/api/products", params={"seller_id": seller})
    assert by_seller.json()["total"] == 6
    searched = await catalog.client.get(
        "/api/products", params={"q": "100%_BRASS", "seller_id": seller}
    )
    assert searched.json()["total"] == 5
    wildcard = await catalog.client.get("/api/products", params={"q": "%", "seller_id": seller})
    # Full-text: '%' is no word (and no wildcard), so it matches nothing rather than all.
    assert wildcard.json()["total"] == 0


@pytest.mark.parametrize(
    "params", [{"size": 101}, {"size": 0}, {"page": 0}, {"sort": "cheapest"}, {"page": "x"}]
)
async def test_bad_paging_is_422(catalog, params) -> None:
    response = await catalog.client.get("/api/products", params=params)
    assert response.status_code == 422


async def test_patch_is_for_the_owner_only(catalog, signer) -> None:
    product = await catalog.create_product(signer, "owner")
    url = f"/api/products/{product['id']}"
    other = await catalog.client.patch(url, json={"stock": 1}, headers=signer.headers("other"))
    assert other.status_code == 403
    missing = await catalog.client.patch(
        f"/api/products/{uuid.uuid4()}", json={"stock": 1}, headers=signer.headers("owner")
    )
    assert missing.status_code == 404
    mine = await catalog.client.patch(
        url, json={"stock": 7, "price": "1.10"}, headers=signer.headers("owner")
    )
    assert mine.status_code == 200
    assert (mine.json()["stock"], mine.json()["price"]) == (7, "1.10")
    assert mine.json()["updated_at"] >= product["updated_at"]
    bad = await catalog.client.patch(url, json={"currency": "JPY"}, headers=signer.headers("owner"))
    assert bad.status_code == 422  # 1.10 JPY does not exist
    null = await catalog.client.patch(url, json={"name": None}, headers=signer.headers("owner"))
    assert null.status_code == 422
    assert (await catalog.client.get(url)).json()["currency"] == "EUR"


async def test_delete_by_owner_or_admin(catalog, signer) -> None:
    first = await catalog.create_product(signer, "owner")
    second = await catalog.create_product(signer, "owner")
    attempts = [  # (product, user, role, status): others and customers are refused
        (first, "other", "seller", 403),
        (first, "owner", "customer", 403),
        (first, "owner", "seller", 204),
        (second, "root", "admin", 204),
    ]
    for product, user, role, status in attempts:
        answer = await catalog.client.delete(
            f"/api/products/{product['id']}", headers=signer.headers(user, role)
        )
        assert answer.status_code == status, (user, role, answer.text)
    for product in (first, second):
        assert (await catalog.client.get(f"/api/products/{product['id']}")).status_code == 404
    again = await catalog.client.delete(
        f"/api/products/{first['id']}", headers=signer.headers("owner")
    )
    assert again.status_code == 404


async def test_operations_surface(catalog) -> None:
    ready = await catalog.client.get("/healthz/ready")
    assert ready.status_code == 200, ready.text
    assert set(ready.json()["checks"]) == {"database", "object_store"}
    metrics = (await catalog.client.get("/metrics")).text
    assert "zipbob_products_registered_total" in metrics
    assert 'route="/api/products/{product_id}"' in metrics
