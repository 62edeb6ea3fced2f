"""The public reads when the database goes away and comes back (PostgreSQL, MariaDB).

The hot reads run on the driver directly (products.rawread); a driver error must still be
the catalog's 503 + Retry-After problem, never a 500 or a hang, and once the database is
back every read must succeed again: dead pooled connections leave the pool.
"""

from __future__ import annotations

import httpx
import pytest

from zipbob_devkit.faults import TcpProxy
from zipbob_devkit.testing import create_sql_database, drop_sql_database, eventually

pytestmark = pytest.mark.integration

PORTS = {"postgresql": 5432, "mariadb": 3306}
PRODUCT = {"name": "Jug", "price": "9.00", "currency": "EUR", "stock": 1, "category": "home"}


@pytest.mark.parametrize("backend", sorted(PORTS))
async def test_reads_answer_503_while_the_database_is_gone_then_recover(
    backend, tmp_path, s3_server, signer, catalog_kit
) -> None:
    url = await create_sql_database(backend, tmp_dir=tmp_path)
    proxy = TcpProxy(PORTS[backend]).start()
    through_proxy = url.replace(f"127.0.0.1:{PORTS[backend]}", proxy.url_host_port)
    assert through_proxy != url
    # Every read must reach the database: no list page kept from before the cut.
    settings = catalog_kit.settings(through_proxy, s3_server.env, list_cache={"seconds": 0})
    _, handle = await catalog_kit.start(settings, signer)
    base = f"http://127.0.0.1:{handle[2]}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            created = await client.post(
                "/api/products",
                json=PRODUCT,
                headers=signer.headers("fault-seller"),
            )
            assert created.status_code == 201, created.text
            one = f"/api/products/{created.json()['id']}"
            reads = [one, "/api/products", "/api/products?sort=price_asc&size=5"]
            for path in reads:
                assert (await client.get(path)).status_code == 200

            proxy.cut()  # open connections reset, new ones refused
            for path in reads * 3:
                answer = await client.get(path)
                assert answer.status_code == 503, (path, answer.text)
                assert answer.headers["retry-after"] == "5"
                assert answer.headers["content-type"] == "application/problem+json"

            proxy.restore()

            async def read_works() -> bool:
                return (await client.get(one)).status_code == 200

            await eventually(read_works, within=20)
            # Every connection the cut killed has left the pool: no stale one fails later.
            statuses = [(await client.get(path)).status_code for path in reads * 5]
            assert statuses == [200] * len(statuses)
    finally:
        await catalog_kit.stop(handle)
        proxy.stop()
        await drop_sql_database(backend, url)
