"""S3 failing under a photo upload: retryable failures are 503 + Retry-After, refusals an
explicit 500 problem, and either way nothing is stored (the photo goes before any row).

Before the platform's object store the catalog mapped only BotoCoreError, so S3
throttling (a ClientError, or S3UploadFailedError from the transfer manager) or
AccessDenied came out as an unexplained 500.
"""

from __future__ import annotations

import uuid

import httpx
import pytest

from zipbob_devkit.faults import S3ErrorServer, TcpProxy
from zipbob_devkit.testing import create_sql_database
from zipbob_platform.objectstore import ObjectStore
from zipbob_platform.problems import PROBLEM_BASE

pytestmark = pytest.mark.integration

FIELDS = {"name": "Vase", "price": "12.00", "currency": "EUR", "stock": "1", "category": "home"}


@pytest.fixture(scope="module")
async def catalog_on_failing_s3(tmp_path_factory, s3_server, signer, catalog_kit):
    """A catalog whose S3 endpoint is a proxy in front of an S3 that answers with errors."""
    errors = S3ErrorServer().start()
    proxy = TcpProxy(int(errors.url.rsplit(":", 1)[1])).start()
    sql_url = await create_sql_database("sqlite", tmp_dir=tmp_path_factory.mktemp("sqlite"))
    env = {**s3_server.env, "ZIPBOB_S3__ENDPOINT_URL": f"http://{proxy.url_host_port}"}
    settings = catalog_kit.settings(sql_url, env)
    app, handle = await catalog_kit.start(settings, signer)
    # No client-side retries: each S3 answer reaches the mapping at once (botocore would
    # otherwise retry throttling three times with back-off before giving up).
    app.state.container.runtime.store.blocking = ObjectStore(settings.s3, max_attempts=0)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{handle[2]}", timeout=30) as client:
        yield client, errors, proxy
    await catalog_kit.stop(handle)
    proxy.stop()
    errors.stop()


async def upload(client, signer, images, seller: str) -> httpx.Response:
    return await client.post(
        "/api/products",
        data=FIELDS,
        files={"image": ("v.png", images.png(40, 40), "image/png")},
        headers=signer.headers(seller),
    )


async def nothing_stored(client, seller: str) -> bool:
    listing = (await client.get("/api/products", params={"seller_id": seller})).json()
    return listing["total"] == 0


@pytest.mark.parametrize(
    ("status", "code"), [(503, "SlowDown"), (500, "InternalError"), (400, "RequestTimeout")]
)
async def test_throttled_or_failing_s3_is_503_with_retry_after(
    catalog_on_failing_s3, signer, images, status, code
) -> None:
    client, errors, proxy = catalog_on_failing_s3
    proxy.restore()
    errors.status, errors.code = status, code
    seller = f"s-{uuid.uuid4().hex[:8]}"
    response = await upload(client, signer, images, seller)
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "5"
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == PROBLEM_BASE + "storage-unavailable"
    assert await nothing_stored(client, seller)


async def test_unreachable_s3_is_503(catalog_on_failing_s3, signer, images) -> None:
    client, _, proxy = catalog_on_failing_s3
    proxy.cut()
    try:
        seller = f"s-{uuid.uuid4().hex[:8]}"
        response = await upload(client, signer, images, seller)
        assert response.status_code == 503 and response.headers["retry-after"] == "5"
        assert await nothing_stored(client, seller)
    finally:
        proxy.restore()


@pytest.mark.parametrize("code", ["AccessDenied", "NoSuchBucket"])
async def test_refusing_s3_is_an_explicit_500(catalog_on_failing_s3, signer, images, code) -> None:
    client, errors, proxy = catalog_on_failing_s3
    proxy.restore()
    errors.status, errors.code = (403 if code == "AccessDenied" else 404), code
    seller = f"s-{uuid.uuid4().hex[:8]}"
    response = await upload(client, signer, images, seller)
    assert response.status_code == 500
    body = response.json()
    assert body["type"] == PROBLEM_BASE + "storage-rejected"  # not the generic bug answer
    assert "retry-after" not in response.headers
    assert code not in body["detail"]  # S3's internals stay in the log
    assert await nothing_stored(client, seller)
