"""List pages kept a second per replica (products.pagecache), on each SQL backend: a write
through this replica shows on its next list, one through another replica within the
window, and the window is the settings' (here on a clock the test moves)."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client import REGISTRY

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
