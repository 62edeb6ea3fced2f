"""Full-text search, keyset cursors, capped totals and ETags on each SQL backend."""

from __future__ import annotations

import base64
import json
import random
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import delete, insert

from zipbob_catalog.main import create_app
from zipbob_catalog.products.cursor import _tag
from zipbob_catalog.products.fastpath import PublicReadFastPath
from zipbob_catalog.products.models import Product
from zipbob_catalog.products.schemas import ProductQuery

pytestmark = pytest.mark.integration


async def _create(catalog, signer, seller="searcher", **overrides):
    return await catalog.create_product(signer, seller, **overrides)


async def _list(catalog, **params):
    response = await catalog.client.get("/api/products", params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def test_relevance_order_words_and_prefixes(catalog, signer) -> None:
    category = f"wood-{uuid.uuid4().hex[:6]}"
    for index in range(6):  # filler, so no searched word is in every row (IDF > 0)
        await _create(catalog, signer, name=f"Steel rack {index}", category=category)
    in_name = await _create(
        catalog,
        signer,
        name="Walnut bowl",
        description="A walnut bowl turned from one walnut block",
        category=category,
    )
    in_description = await _create(
        catalog,
        signer,
        name="Serving dish",
        description="Holds fruit; looks like a bowl, made of walnut",
        category=category,
    )
    shelf = await _create(catalog, signer, name="Walnut shelf", category=category)

    both = await _list(catalog, q="walnut bowl", category=category)
    # Every word must match; "bowl, walnut" in another order matches too; name weighs more.
    assert [item["id"] for item in both["items"]] == [in_name["id"], in_description["id"]]
    assert both["total"] == 2 and both["total_exact"] is True
    reordered = await _list(catalog, q="BOWL walnut", category=category)
    assert {item["id"] for item in reordered["items"]} == {in_name["id"], in_description["id"]}

    prefix = await _list(catalog, q="wal", category=category)
    assert {item["id"] for item in prefix["items"]} == {
        in_name["id"],
        in_description["id"],
        shelf["id"],
    }
    assert (await _list(catalog, q="waln sh", category=category))["items"][0]["id"] == shelf["id"]
    # Another sort applies to the matches; relevance is only the default.
    by_price = await _list(catalog, q="walnut", category=category, sort="price_asc")
    assert by_price["total"] == 3


async def test_search_sees_updates_and_deletes(catalog, signer) -> None:
    seller = f"s-{uuid.uuid4().hex[:6]}"
    marker = f"zq{uuid.uuid4().hex[:8]}"
    product = await _create(catalog, signer, seller, name=f"Lamp {marker}")
    assert (await _list(catalog, q=marker))["total"] == 1
    renamed = await catalog.client.patch(
        f"/api/products/{product['id']}",
        json={"name": "Lamp renamed", "description": f"was {marker}x"},
        headers=signer.headers(seller),
    )
    assert renamed.status_code == 200
    assert (await _list(catalog, q=f"{marker}x"))["total"] == 1  # prefix of the new text
    assert (await _list(catalog, q="renamed", seller_id=seller))["total"] == 1
    deleted = await catalog.client.delete(
        f"/api/products/{product['id']}", headers=signer.headers(seller)
    )
    assert deleted.status_code == 204
    assert (await _list(catalog, q=marker))["total"] == 0


HOSTILE = [
    '"',
    '""',
    "'",
    "*",
    "-",
    "+",
    "(",
    ")",
    "NEAR",
    "NEAR(a b)",
    "a:b",
    "name:walnut",
    "walnut*",
    "-walnut",
    "+walnut -oak",
    "walnut OR oak",
    "NOT",
    "AND",
    "^",
    "~",
    "@",
    "\\",
    "%",
    "_",
    "___",
    "\x00",
    "' OR 1=1 --",
    "'); DROP TABLE products; --",
    "🪵🥣",
    "wal🪵nut",
    "Ünïcödé wälnut",
    "東京 タワー",
    "a" * 200,
    " ".join(["w"] * 100),
    "& | ! <-> :* :A",
    "{}[]<>?/.,;`=",
]


def _random_hostile(count: int) -> list[str]:
    rng = random.Random(1313)
    alphabet = [*list("\"'*-+()~^:!&|<>@\\%_.,; \t\n"), "NEAR", "AND", "OR", "NOT", "🪵", "ü"]
    alphabet += list("walnutWALNUT0123")
    return [
        "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 40))) for _ in range(count)
    ]


async def test_any_q_is_safe(catalog, signer) -> None:
    await _create(catalog, signer, name="Walnut NEAR bowl", description="a:b 'quoted' \"double\"")
    for q in HOSTILE + _random_hostile(60):
        for sort in ("relevance", "newest"):
            response = await catalog.client.get("/api/products", params={"q": q, "sort": sort})
            assert response.status_code == 200, (q, response.text)
            assert isinstance(response.json()["items"], list)
    too_long = await catalog.client.get("/api/products", params={"q": "x" * 201})
    assert too_long.status_code == 422
    assert too_long.headers["content-type"].startswith("application/problem+json")


async def _walk(catalog, params, *, size, between=None, totals=None):
    seen, pages = [], 0
    body = await _list(catalog, size=size, **params)
    while True:
        seen += [item["id"] for item in body["items"]]
        if totals is not None:
            totals.append((body["total"], body["total_exact"]))
        pages += 1
        assert pages < 100
        if body["next_cursor"] is None:
            return seen
        if between is not None:
            await between()
        body = await _list(catalog, size=size, cursor=body["next_cursor"], **params)


@pytest.mark.parametrize("sort", ["newest", "price_asc", "price_desc", "rating_desc", "relevance"])
async def test_cursor_walk_visits_every_row_once_while_rows_are_inserted(
    catalog, signer, sort
) -> None:
    category = f"walk-{uuid.uuid4().hex[:6]}"
    rng = random.Random(sort)
    original = set()
    for _ in range(23):
        price = f"{rng.choice([5, 10, 10, 20, 99])}.00"  # ties: the id breaks them
        product = await _create(
            catalog, signer, name="Cursor walker", category=category, price=price
        )
        original.add(product["id"])

    async def insert_more() -> None:
        price = f"{rng.randrange(1, 100)}.00"
        await _create(catalog, signer, name="Cursor walker", category=category, price=price)

    params = {"category": category, "sort": sort}
    if sort == "relevance":
        params["q"] = "walker"
    totals: list[tuple[int, bool]] = []
    seen = await _walk(catalog, params, size=4, between=insert_more, totals=totals)
    assert len(seen) == len(set(seen)), "a row was shown twice"
    assert original <= set(seen), "a row that existed before the walk was skipped"
    # The walk shows the total its first page counted (the cursor carries it, no recount).
    assert set(totals) == {(23, True)}, totals
    recounted = await _list(catalog, size=4, **params)
    assert recounted["total"] == 23 + len(totals) - 1  # a new first page counts again


async def test_pages_and_cursors_agree(catalog, signer) -> None:
    category = f"pages-{uuid.uuid4().hex[:6]}"
    for index in range(9):
        await _create(catalog, signer, name=f"Page item {index}", category=category)
    by_pages = []
    for page in (1, 2, 3):
        body = await _list(catalog, category=category, size=4, page=page)
        assert body["page"] == page
        by_pages += [item["id"] for item in body["items"]]
    assert await _walk(catalog, {"category": category}, size=4) == by_pages
    last = await _list(catalog, category=category, size=4, page=3)
    assert last["next_cursor"] is None and len(last["items"]) == 1
    second = await _list(
        catalog,
        category=category,
        size=4,
        cursor=(await _list(catalog, category=category, size=4))["next_cursor"],
    )
    assert second["page"] == 2


async def test_invalid_cursors_are_422_problems(catalog, signer) -> None:
    category = f"bad-{uuid.uuid4().hex[:6]}"
    for _ in range(3):
        await _create(catalog, signer, category=category)
    cursor = (await _list(catalog, category=category, size=1))["next_cursor"]
    assert cursor
    payload, tag = cursor.split(".")
    for bad, params in [
        ("garbage", {}),
        ("a.b.c", {}),
        (payload + "." + tag[::-1], {}),
        (payload[:-2] + "." + tag, {}),
        (cursor, {"category": category + "x"}),  # another listing's cursor
        (cursor, {"sort": "price_asc"}),
        ("x" * 1001, {}),
    ]:
        response = await catalog.client.get(
            "/api/products", params={"category": category, "size": 1, "cursor": bad, **params}
        )
        assert response.status_code == 422, (bad, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    # A cursor with a well-formed tag but an impossible total (the tag is a checksum, so
    # anyone can make one): 422, not a page showing it.
    scope = ProductQuery(category=category, size=1).scope()
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    for total, exact in ((-1, True), (5, "yes"), ("many", True)):
        forged = json.dumps({**body, "n": total, "x": exact}, separators=(",", ":")).encode()
        text = base64.urlsafe_b64encode(forged).rstrip(b"=").decode()
        tag = base64.urlsafe_b64encode(_tag(forged, scope)).rstrip(b"=").decode()
        response = await catalog.client.get(
            "/api/products", params={"category": category, "size": 1, "cursor": f"{text}.{tag}"}
        )
        assert response.status_code == 422, (total, exact, response.text)
    deep = await catalog.client.get("/api/products", params={"page": 600, "size": 20})
    assert deep.status_code == 422  # deep offsets go through cursors


async def test_total_is_exact_up_to_ten_thousand(catalog, signer) -> None:
    runtime = catalog.runtime
    start = datetime(2020, 1, 1, tzinfo=UTC)
    big, small = f"big-{uuid.uuid4().hex[:6]}", f"small-{uuid.uuid4().hex[:6]}"
    rows = [
        {
            "id": str(uuid.uuid4()),
            "seller_id": "bulk",
            "name": "Bulk crate",
            "description": "bulk",
            "price": "1.00",
            "currency": "EUR",
            "stock": 1,
            "category": big if n < 10_050 else small,
            "created_at": start + timedelta(seconds=n),
            "updated_at": start + timedelta(seconds=n),
            "rating_hundredths": 0,
            "rating_count": 0,
            "rating_version": 0,
        }
        for n in range(10_050 + 10_000)
    ]
    async with runtime.sessions() as session, session.begin():
        for chunk in range(0, len(rows), 2000):
            await session.execute(insert(Product), rows[chunk : chunk + 2000])
    many = await _list(catalog, category=big)
    assert (many["total"], many["total_exact"]) == (10_000, False)
    exactly = await _list(catalog, category=small)
    assert (exactly["total"], exactly["total_exact"]) == (10_000, True)
    searched = await _list(catalog, q="bulk crate", category=big, size=5)
    assert searched["total_exact"] is False and len(searched["items"]) == 5
    assert searched["next_cursor"] is not None

    # "Past the bound" is kept for the listing whatever its sort (the count is skipped):
    # rows deleted behind this replica's back leave the estimate until a write here.
    keep = [row["id"] for row in rows[:30]]
    async with runtime.sessions() as session, session.begin():
        await session.execute(
            delete(Product).where(Product.category == big, Product.id.not_in(keep))
        )
    kept = await _list(catalog, category=big, sort="price_asc")
    assert (kept["total"], kept["total_exact"], len(kept["items"])) == (10_000, False, 20)
    await catalog.create_product(signer, "bulk", category=big)
    recounted = await _list(catalog, category=big, sort="price_desc")
    assert (recounted["total"], recounted["total_exact"]) == (31, True)
    async with runtime.sessions() as session, session.begin():
        await session.execute(delete(Product).where(Product.category == small))
    gone = await _list(catalog, category=small, sort="price_asc")  # not past the bound
    assert (gone["total"], gone["total_exact"]) == (0, True)


async def test_etag_and_304_on_public_reads(catalog, signer) -> None:
    seller = f"etag-{uuid.uuid4().hex[:6]}"
    product = await _create(catalog, signer, seller, category=f"etag-{seller}")
    url = f"/api/products/{product['id']}"
    first = await catalog.client.get(url)
    etag = first.headers["etag"]
    assert first.headers["cache-control"].startswith("public")
    cached = await catalog.client.get(url, headers={"If-None-Match": etag})
    assert cached.status_code == 304 and cached.content == b""
    assert cached.headers["etag"] == etag
    listing = await catalog.client.get("/api/products", params={"category": f"etag-{seller}"})
    list_etag = listing.headers["etag"]
    cached_list = await catalog.client.get(
        "/api/products",
        params={"category": f"etag-{seller}"},
        headers={"If-None-Match": f'"other", {list_etag}'},
    )
    assert cached_list.status_code == 304
    await catalog.client.patch(url, json={"stock": 7}, headers=signer.headers(seller))
    changed = await catalog.client.get(url, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.json()["stock"] == 7
    assert changed.headers["etag"] != etag
    relisted = await catalog.client.get(
        "/api/products",
        params={"category": f"etag-{seller}"},
        headers={"If-None-Match": list_etag},
    )
    assert relisted.status_code == 200


def _without_ids(body: dict) -> dict:
    """A body without the per-request ids a problem carries."""
    return {k: v for k, v in body.items() if k not in {"request_id", "trace_id"}}


async def test_the_fast_path_answers_as_fastapis_routing_does(catalog, signer) -> None:
    """products.fastpath answers plain reads before FastAPI; a second app on the same
    database without it routes every read through FastAPI. Both must give the same status,
    body and ETag for every query string, the plain ones the fast path takes and the odd
    ones it passes on."""
    seller = f"fast-{uuid.uuid4().hex[:6]}"
    category = f"fast-{seller}"
    created = [
        await _create(
            catalog, signer, seller, name=f"Oak stool {i}", price=f"{10 + i}.00", category=category
        )
        for i in range(4)
    ]
    routed = create_app(catalog.app.state.container.runtime.settings)
    routed.user_middleware = [m for m in routed.user_middleware if m.cls is not PublicReadFastPath]
    queries = [
        f"category={category}",
        f"category={category}&size=2",
        f"category={category}&size=2&page=2",
        f"category={category}&sort=price_desc",
        f"seller_id={seller}&sort=price_asc&size=3",
        f"q=oak+stool&category={category}",
        f"q=oak&sort=newest&category={category}",
        f"category={category}&min_rating=0",  # a Decimal: FastAPI's
        f"category={category}&size=0",  # refused by FastAPI on both
        f"category={category}&size=abc",
        f"category={category}&sort=cheapest",
        f"category={category}&page=100001",
        f"category={category}&q={'x' * 201}",
        f"category={category}&category={category}",  # a repeat: FastAPI's
        f"category={category}&cursor=not-a-cursor",
    ]
    async with (
        routed.router.lifespan_context(routed),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=routed), base_url="http://c") as slow,
    ):
        first = await catalog.client.get(f"/api/products?category={category}&size=2")
        queries.append(f"category={category}&size=2&cursor={first.json()['next_cursor']}")
        paths = [f"/api/products?{query}" for query in queries]
        paths += [f"/api/products/{created[0]['id']}", f"/api/products/{uuid.uuid4()}"]
        for path in paths:
            fast, slow_answer = await catalog.client.get(path), await slow.get(path)
            assert fast.status_code == slow_answer.status_code, (path, fast.text, slow_answer.text)
            assert _without_ids(fast.json()) == _without_ids(slow_answer.json()), path
            assert fast.headers.get("etag") == slow_answer.headers.get("etag"), path
            assert fast.headers["content-type"] == slow_answer.headers["content-type"], path


async def test_every_listing_shows_each_products_photos_as_its_own_page_does(
    catalog, signer, images
) -> None:
    # A list page and its photos come from one statement (the page LEFT JOIN its images):
    # a product with two photos must be one item, with both, oldest first, on every path.
    seller = f"s-{uuid.uuid4().hex[:6]}"
    category = f"photos-{uuid.uuid4().hex[:6]}"
    marker = f"zp{uuid.uuid4().hex[:8]}"
    created = []
    for index, photos in enumerate((2, 0, 1, 3)):
        product = await _create(
            catalog, signer, seller, name=f"Vase {marker} {index}", price=f"{10 + index}.00",
            category=category,
        )  # fmt: skip
        for _ in range(photos):
            response = await catalog.client.post(
                f"/api/products/{product['id']}/images",
                files={"image": ("a.png", images.png(), "image/png")},
                headers=signer.headers(seller),
            )
            assert response.status_code == 202, response.text
        created.append(product["id"])
    own = {}
    for product_id in created:
        own[product_id] = (await catalog.client.get(f"/api/products/{product_id}")).json()
    assert [len(own[p]["images"]) for p in created] == [2, 0, 1, 3]

    def shown(page):
        return {item["id"]: item for item in page["items"]}

    for params in (
        {"category": category},
        {"category": category, "sort": "price_desc"},
        {"seller_id": seller, "sort": "price_asc"},
        {"q": marker},  # relevance: ranked ids, then their rows and photos
        {"q": marker, "sort": "price_asc"},
    ):
        page = await _list(catalog, **params)
        assert len(page["items"]) == 4, params
        assert shown(page) == own, params
        walked, cursor = {}, None
        while True:  # one product per page: a product's photos never spill onto the next
            extra = {"cursor": cursor} if cursor else {}
            one = await _list(catalog, **params, size=1, **extra)
            assert len(one["items"]) == 1, params
            walked.update(shown(one))
            cursor = one["next_cursor"]
            if cursor is None:
                break
        assert walked == own, params
