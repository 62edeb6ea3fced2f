"""List pages kept a second per replica (products.pagecache), on each SQL backend: a write
through this replica shows on its next list, one through another replica within the
window, and the window is the settings' (here on a clock the test moves)."""

from __future__ import annotations

import uuid
from decimal import Decimal

import httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import delete, update

from zipbob_catalog.products.models import Product
from zipbob_catalog.ratings.schemas import SUMMARY_CHANGED
from zipbob_devkit.testing import eventually
from zipbob_platform.cloudevents import new_event, to_http_binary

pytestmark = pytest.mark.integration


def _names(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["name"] for item in response.json()["items"]]


def _count(outcome: str) -> float:
    return REGISTRY.get_sample_value("zipbob_catalog_list_pages_total", {"outcome": outcome}) or 0.0


async def test_this_replicas_writes_show_on_its_next_list(catalog, signer) -> None:
    seller = "cache-seller-one"
    path = f"/api/products?seller_id={seller}&sort=price_asc"
    assert _names(await catalog.client.get(path)) == []
    hits = _count("hit")
    assert _names(await catalog.client.get(path)) == []
    assert _count("hit") == hits + 1  # the second answer came from the cache

    created = await catalog.create_product(signer, seller, name="Kept jug", price="5.00")
    assert _names(await catalog.client.get(path)) == ["Kept jug"]

    changed = await catalog.client.patch(
        f"/api/products/{created['id']}", json={"name": "Renamed jug"},
        headers=signer.headers(seller),
    )  # fmt: skip
    assert changed.status_code == 200, changed.text
    listed = await catalog.client.get(path)
    assert _names(listed) == ["Renamed jug"]
    etag = listed.headers["ETag"]
    again = await catalog.client.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304  # a kept page has the same validator

    deleted = await catalog.client.delete(
        f"/api/products/{created['id']}", headers=signer.headers(seller)
    )
    assert deleted.status_code == 204, deleted.text
    assert _names(await catalog.client.get(path)) == []


async def test_another_replicas_writes_show_within_the_window(
    catalog, sql_url, s3_server, signer, catalog_kit
) -> None:
    """Two catalogs on one database; the second's page cache runs on the test's clock."""
    settings = catalog_kit.settings(sql_url, s3_server.env, list_cache={"seconds": 1.0})
    app, handle = await catalog_kit.start(settings, signer)
    now = [5000.0]
    app.state.container.runtime.pages.clock = lambda: now[0]
    seller = "cache-seller-two"
    path = f"/api/products?seller_id={seller}"
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{handle[2]}") as other:
            assert _names(await other.get(path)) == []
            await catalog.create_product(signer, seller, name="Elsewhere lamp")
            assert _names(await catalog.client.get(path)) == ["Elsewhere lamp"]
            now[0] += 0.5
            assert _names(await other.get(path)) == []  # inside this replica's second
            assert _names(await other.get(path + "&size=5")) == ["Elsewhere lamp"]  # new key
            now[0] += 0.5
            assert _names(await other.get(path)) == ["Elsewhere lamp"]
    finally:
        await catalog_kit.stop(handle)


async def test_another_replicas_products_join_a_search_within_its_refresh_interval(
    catalog, sql_url, s3_server, signer, catalog_kit
) -> None:
    """New first pages of a search reuse its ranking and total for search_seconds (here
    on the test's clock): a product created through another replica is found once that
    passes, while the replica that wrote it finds it at once."""
    settings = catalog_kit.settings(
        sql_url, s3_server.env, list_cache={"seconds": 1.0, "search_seconds": 5.0}
    )
    app, handle = await catalog_kit.start(settings, signer)
    now = [5000.0]
    app.state.container.runtime.pages.clock = lambda: now[0]
    word = f"refresh{uuid.uuid4().hex[:8]}"
    first, second = f"{word} teapot", f"{word} teacup"
    await catalog.create_product(signer, "refresh-seller", name=first)
    params = {"q": word}
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{handle[2]}") as other:
            assert _names(await other.get("/api/products", params=params)) == [first]
            await catalog.create_product(signer, "refresh-seller", name=second)
            writer = await catalog.client.get("/api/products", params=params)
            assert sorted(_names(writer)) == sorted([first, second])
            now[0] += 1.5  # the page's second is over; the search's interval is not
            listed = await other.get("/api/products", params={**params, "size": 5})
            assert _names(listed) == [first]
            assert listed.json()["total"] == 1
            now[0] += 4.0
            listed = await other.get("/api/products", params={**params, "size": 5})
            assert sorted(_names(listed)) == sorted([first, second])
            assert listed.json()["total"] == 2
    finally:
        await catalog_kit.stop(handle)


async def test_a_page_asked_for_late_in_its_second_is_reloaded_in_the_background(
    catalog, signer
) -> None:
    """The request gets the kept page at once, and the reload (on a connection of its own,
    after that request has its answer) brings a change made behind the replica's back."""
    pages = catalog.runtime.pages
    clock = pages.clock
    try:
        now = [9000.0]
        pages.clock = lambda: now[0]
        seller = "cache-seller-ahead"
        path = f"/api/products?seller_id={seller}"
        created = await catalog.create_product(signer, seller, name="Early kettle")
        assert _names(await catalog.client.get(path)) == ["Early kettle"]
        async with catalog.runtime.sessions() as session, session.begin():
            await session.execute(
                update(Product).where(Product.id == created["id"]).values(name="Late kettle")
            )
        now[0] += 0.5
        assert _names(await catalog.client.get(path)) == ["Early kettle"]  # a plain hit
        refreshes = _count("refresh")
        now[0] += 0.35
        assert _names(await catalog.client.get(path)) == ["Early kettle"]  # answered from the cache
        assert _count("refresh") == refreshes + 1

        async def reloaded() -> bool:
            return not pages._loading

        await eventually(reloaded, within=10)
        misses = _count("miss")
        assert _names(await catalog.client.get(path)) == ["Late kettle"]  # still inside that second
        assert _count("miss") == misses
    finally:
        pages.clock = clock  # the module's catalog goes on for the tests after


async def _rate(catalog, product_id: str, *, version: int, average: float) -> None:
    data = {"product_id": product_id, "count": 1, "average": average, "version": version,
            "histogram": {str(n): int(n == round(average)) for n in range(1, 6)}}  # fmt: skip
    headers, body = to_http_binary(new_event(SUMMARY_CHANGED, "/review", data))
    response = await catalog.client.post("/internal/events", content=body, headers=headers)
    assert response.status_code == 200 and response.json()["outcome"] == "applied"


async def test_a_rating_drops_the_pages_it_can_change_and_no_others(catalog, signer) -> None:
    seller, other = "cache-seller-rated", "cache-seller-bystander"
    rated = await catalog.create_product(signer, seller, name="Rated vase")
    await catalog.create_product(signer, other, name="Bystander vase")
    mine, theirs = f"/api/products?seller_id={seller}", f"/api/products?seller_id={other}"
    by_rating = f"/api/products?seller_id={other}&sort=rating_desc"
    for path in (mine, theirs, by_rating):
        assert (await catalog.client.get(path)).status_code == 200
    hits = _count("hit")
    await _rate(catalog, rated["id"], version=1, average=4.0)
    shown = (await catalog.client.get(mine)).json()["items"][0]
    assert shown["rating"] == {"average": 4.0, "count": 1}  # its page went
    assert (await catalog.client.get(by_rating)).status_code == 200  # rating orders went
    assert _count("hit") == hits
    assert (await catalog.client.get(theirs)).status_code == 200  # a page without it stays
    assert _count("hit") == hits + 1


async def test_a_relevance_walk_ranks_once_and_reads_its_rows_afresh(catalog, signer) -> None:
    """Every page of a walk slices the ranked list its first page made (the cursor names
    its snapshot); a page's rows are read when the page is, so a change made elsewhere
    (here straight in the database, as another replica's would be) shows on a later page."""
    word = f"rankonce{uuid.uuid4().hex[:8]}"
    for n in range(6):
        await catalog.create_product(signer, "ranked-seller", name=f"{word} item {n}")
    everything = await catalog.client.get("/api/products", params={"q": word, "size": 6})
    ranked = [item["id"] for item in everything.json()["items"]]
    first = await catalog.client.get("/api/products", params={"q": word, "size": 2})
    assert [item["id"] for item in first.json()["items"]] == ranked[:2]
    assert first.json()["total"] == 6

    async with catalog.runtime.sessions() as session, session.begin():
        await session.execute(
            update(Product).where(Product.id == ranked[2]).values(price=Decimal("77.00"))
        )
        await session.execute(delete(Product).where(Product.id == ranked[4]))
    hits = _count("hit")
    cursor = first.json()["next_cursor"]
    second = await catalog.client.get(
        "/api/products", params={"q": word, "size": 2, "cursor": cursor}
    )
    # A page not asked for before: its ranking was kept (and on MariaDB its term plan).
    kept = 2 if catalog.runtime.engine.dialect.name in ("mysql", "mariadb") else 1
    assert _count("hit") == hits + kept
    assert [item["id"] for item in second.json()["items"]] == ranked[2:4]
    assert second.json()["items"][0]["price"] == "77.00"
    third = await catalog.client.get(
        "/api/products", params={"q": word, "size": 2, "cursor": second.json()["next_cursor"]}
    )
    assert [item["id"] for item in third.json()["items"]] == ranked[5:]  # deleted: left out
    assert third.json()["next_cursor"] is None
