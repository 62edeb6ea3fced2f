"""Photo uploads: stored original + outbox row on success; every refusal stores nothing."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from zipbob_catalog.outbox.models import OutboxEvent
from zipbob_catalog.products.models import Image, Product
from zipbob_devkit.testing import s3_client
from zipbob_platform import events

pytestmark = pytest.mark.integration

FIELDS = {
    "name": "Teapot",
    "description": "Cast iron",
    "price": "35.00",
    "currency": "EUR",
    "stock": "4",
    "category": "kitchen",
}


async def _snapshot(catalog, s3_server) -> tuple[int, int, int, int]:
    """(products, images, outbox rows, original objects): what a refusal must not change."""
    async with catalog.runtime.sessions() as session:
        counts = [
            (await session.execute(select(func.count()).select_from(model))).scalar_one()
            for model in (Product, Image, OutboxEvent)
        ]
    listing = s3_client(s3_server).list_objects_v2(Bucket="original-images", Prefix="products/")
    return (*counts, listing.get("KeyCount", 0))


async def test_product_with_photo_stores_original_and_event(catalog, signer, images, s3_server):
    seller = f"seller-{uuid.uuid4().hex[:8]}"
    photo = images.png(300, 200)
    response = await catalog.client.post(
        "/api/products",
        data=FIELDS,
        files={"image": ("teapot.gif", photo, "image/gif")},  # the declared type is ignored
        headers=signer.headers(seller),
    )
    assert response.status_code == 201, response.text
    product = response.json()
    [image] = product["images"]
    assert image["status"] == "pending"
    assert image["original"] == {
        "content_type": "image/png",
        "bytes": len(photo),
        "width": 300,
        "height": 200,
    }
    key = f"products/{product['id']}/{image['id']}/original"
    stored = s3_client(s3_server).get_object(Bucket="original-images", Key=key)
    assert stored["Body"].read() == photo
    assert stored["ContentType"] == "image/png"
    async with catalog.runtime.sessions() as session:
        rows = (
            (
                await session.execute(
                    select(OutboxEvent).where(OutboxEvent.aggregate_id == product["id"])
                )
            )
            .scalars()
            .all()
        )
    [row] = rows
    assert row.event_type == events.IMAGE_UPLOADED
    assert row.attributes["source"] == "/catalog"
    assert row.data == {
        "product_id": product["id"],
        "image_id": image["id"],
        "seller_id": seller,
        "bucket": "original-images",
        "key": key,
        "content_type": "image/png",
        "bytes": len(photo),
    }


async def test_more_photos_later_answer_202(catalog, signer, images):
    created = await catalog.client.post(
        "/api/products", json={**FIELDS, "stock": 4}, headers=signer.headers("later")
    )
    assert created.status_code == 201
    url = f"/api/products/{created.json()['id']}/images"
    response = await catalog.client.post(
        url,
        files={"image": ("a.webp", images.webp(), "application/octet-stream")},
        headers=signer.headers("later"),
    )
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "pending"
    assert response.json()["original"]["content_type"] == "image/webp"
    product = (await catalog.client.get(f"/api/products/{created.json()['id']}")).json()
    assert [i["id"] for i in product["images"]] == [response.json()["id"]]

    other = await catalog.client.post(
        url, files={"image": ("a.jpg", images.jpeg())}, headers=signer.headers("intruder")
    )
    assert other.status_code == 403
    missing = await catalog.client.post(
        f"/api/products/{uuid.uuid4()}/images",
        files={"image": ("a.jpg", images.jpeg())},
        headers=signer.headers("later"),
    )
    assert missing.status_code == 404


def _chunked(data: bytes, boundary: str, fields: dict[str, str]):
    """A multipart body sent without Content-Length, so only streaming checks can stop it."""

    async def body():
        for name, value in fields.items():
            yield (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
            ).encode()
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="x.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        for start in range(0, len(data), 256 * 1024):
            yield data[start : start + 256 * 1024]
        yield f"\r\n--{boundary}--\r\n".encode()

    return body()


async def test_oversized_upload_is_stopped_while_streaming(catalog, signer, images, s3_server):
    before = await _snapshot(catalog, s3_server)
    limit = catalog.runtime.settings.uploads.max_bytes
    oversized = images.jpeg() + b"\0" * (limit + 1024)
    boundary = uuid.uuid4().hex
    response = await catalog.client.post(
        "/api/products",
        content=_chunked(oversized, boundary, FIELDS),
        headers={
            **signer.headers("big"),
            "content-type": f"multipart/form-data; boundary={boundary}",
        },
    )
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["limit_bytes"] == limit
    declared = await catalog.client.post(
        "/api/products",
        data=FIELDS,
        files={"image": ("big.jpg", oversized, "image/jpeg")},
        headers=signer.headers("big"),
    )
    assert declared.status_code == 413
    assert await _snapshot(catalog, s3_server) == before


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        ("gif", 415),
        ("text", 415),
        ("huge_pixels", 422),
        ("broken_jpeg", 422),
        ("empty", 422),
    ],
)
async def test_refused_photos_store_nothing(catalog, signer, images, s3_server, kind, status):
    payload = {
        "gif": images.gif,
        "text": lambda: b"hello, I am not a picture",
        "huge_pixels": lambda: images.png_claiming(8_000, 7_000),
        "broken_jpeg": lambda: b"\xff\xd8\xff\xe0" + b"\x00" * 64,
        "empty": lambda: b"",
    }[kind]()
    before = await _snapshot(catalog, s3_server)
    created = await catalog.client.post(
        "/api/products",
        data=FIELDS,
        files={"image": ("photo.jpg", payload, "image/jpeg")},
        headers=signer.headers("refused"),
    )
    assert created.status_code == status, created.text
    assert created.headers["content-type"].startswith("application/problem+json")
    assert await _snapshot(catalog, s3_server) == before


async def test_bad_forms_are_refused_before_anything_is_stored(catalog, signer, images, s3_server):
    before = await _snapshot(catalog, s3_server)
    headers = signer.headers("forms")
    bad_price = await catalog.client.post(
        "/api/products",
        data={**FIELDS, "price": "12.3.4"},
        files={"image": ("a.jpg", images.jpeg())},
        headers=headers,
    )
    assert bad_price.status_code == 422
    not_multipart = await catalog.client.post(
        "/api/products", content=b"name=x", headers={**headers, "content-type": "text/plain"}
    )
    assert not_multipart.status_code == 415
    created = await catalog.client.post(
        "/api/products", json={**FIELDS, "stock": 1}, headers=headers
    )
    assert created.status_code == 201
    url = f"/api/products/{created.json()['id']}/images"
    no_file = await catalog.client.post(
        url, data={"note": "x"}, files={"other": ("a", b"1")}, headers=headers
    )
    assert no_file.status_code == 422
    json_upload = await catalog.client.post(url, json={"image": "aGVsbG8="}, headers=headers)
    assert json_upload.status_code == 415
    broken = await catalog.client.post(
        url,
        content=b"--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--\r\n",
        headers={**headers, "content-type": "multipart/form-data; boundary=b"},
    )
    assert broken.status_code == 422
    after = await _snapshot(catalog, s3_server)
    assert after[1:] == before[1:]  # no image, outbox row or object
    assert after[0] == before[0] + 1  # only the JSON product


async def test_failed_commit_removes_the_object(catalog, signer, images, s3_server):
    """The object is written first; when the transaction then fails, it is deleted."""
    created = await catalog.client.post(
        "/api/products", json={**FIELDS, "stock": 1}, headers=signer.headers("racer")
    )
    product_id = created.json()["id"]
    before = await _snapshot(catalog, s3_server)
    # Delete the product between the ownership check and the commit: the commit then
    # finds no product (404) and the already-stored object must go away again.
    runtime = catalog.runtime
    original_put = runtime.store.put_file

    async def put_then_delete_product(**kwargs):
        await original_put(**kwargs)
        deleted = await catalog.client.delete(
            f"/api/products/{product_id}", headers=signer.headers("racer")
        )
        assert deleted.status_code == 204

    runtime.store.put_file = put_then_delete_product
    try:
        response = await catalog.client.post(
            f"/api/products/{product_id}/images",
            files={"image": ("a.jpg", images.jpeg())},
            headers=signer.headers("racer"),
        )
    finally:
        runtime.store.put_file = original_put
    assert response.status_code == 404
    after = await _snapshot(catalog, s3_server)
    assert after[3] == before[3]  # the object written before the failed commit is gone
    assert after[1] == before[1]
