"""Result events over HTTP (/internal/events): applied once, duplicates and stale ignored."""

from __future__ import annotations

import uuid

import httpx
import pytest

from zipbob_devkit.testing import s3_client
from zipbob_platform import events
from zipbob_platform.cloudevents import new_event, to_http_binary, to_http_structured

pytestmark = pytest.mark.integration

RESIZED = events.IMAGE_RESIZED
FAILED = events.IMAGE_FAILED


async def _product_with_image(catalog, signer, images, seller="results"):
    response = await catalog.client.post(
        "/api/products",
        data={
            "name": "Vase",
            "price": "9.99",
            "currency": "USD",
            "stock": "1",
            "category": "home",
        },
        files={"image": ("v.jpg", images.jpeg(640, 480), "image/jpeg")},
        headers=signer.headers(seller),
    )
    assert response.status_code == 201, response.text
    product = response.json()
    return product["id"], product["images"][0]["id"]


def _store_variants(s3_server, product_id: str, image_id: str) -> dict:
    client = s3_client(s3_server)
    variants = {}
    for name, width in (("thumbnail", 200), ("medium", 640), ("large", 640)):
        key = f"products/{product_id}/{image_id}/{name}.jpg"
        body = f"{name}-bytes".encode()
        client.put_object(Bucket="resized-images", Key=key, Body=body, ContentType="image/jpeg")
        variants[name] = {
            "bucket": "resized-images",
            "key": key,
            "width": width,
            "height": width * 3 // 4,
            "bytes": len(body),
            "content_type": "image/jpeg",
        }
    return variants


async def _send(catalog, event, *, structured: bool = False) -> httpx.Response:
    headers, body = to_http_structured(event) if structured else to_http_binary(event)
    return await catalog.client.post("/internal/events", content=body, headers=headers)


async def _image(catalog, product_id: str) -> dict:
    return (await catalog.client.get(f"/api/products/{product_id}")).json()["images"][0]


async def test_resized_makes_the_image_ready_with_gettable_urls(catalog, signer, images, s3_server):
    product_id, image_id = await _product_with_image(catalog, signer, images)
    variants = _store_variants(s3_server, product_id, image_id)
    event = new_event(
        RESIZED, "/resizer", {"product_id": product_id, "image_id": image_id, "variants": variants}
    )
    response = await _send(catalog, event)
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "applied"
    image = await _image(catalog, product_id)
    assert image["status"] == "ready"
    assert set(image["variants"]) == {"thumbnail", "medium", "large"}
    thumbnail = image["variants"]["thumbnail"]
    assert thumbnail["width"] == 200 and thumbnail["content_type"] == "image/jpeg"
    assert thumbnail["url"].startswith("http://127.0.0.1:")
    async with httpx.AsyncClient() as plain:  # no credentials: the URL alone must work
        fetched = await plain.get(thumbnail["url"])
    assert fetched.status_code == 200
    assert fetched.content == b"thumbnail-bytes"

    duplicate = await _send(catalog, event, structured=True)
    assert duplicate.json()["outcome"] == "duplicate"
    same_content = new_event(RESIZED, "/resizer", event.data)
    assert (await _send(catalog, same_content)).json()["outcome"] == "stale"
    late_failure = new_event(
        FAILED, "/resizer", {"product_id": product_id, "image_id": image_id, "reason": "late"}
    )
    assert (await _send(catalog, late_failure)).json()["outcome"] == "stale"
    assert (await _image(catalog, product_id))["status"] == "ready"


async def test_failed_records_the_reason_once(catalog, signer, images):
    product_id, image_id = await _product_with_image(catalog, signer, images)
    data = {"product_id": product_id, "image_id": image_id, "reason": "cannot decode JPEG"}
    event = new_event(FAILED, "/resizer", data)
    assert (await _send(catalog, event)).json()["outcome"] == "applied"
    image = await _image(catalog, product_id)
    assert (image["status"], image["error"], image["variants"]) == (
        "failed",
        "cannot decode JPEG",
        {},
    )
    assert (await _send(catalog, event)).json()["outcome"] == "duplicate"


async def test_results_for_deleted_products_change_nothing(catalog, signer, images, s3_server):
    product_id, image_id = await _product_with_image(catalog, signer, images)
    deleted = await catalog.client.delete(
        f"/api/products/{product_id}", headers=signer.headers("results")
    )
    assert deleted.status_code == 204
    variants = _store_variants(s3_server, product_id, image_id)
    event = new_event(
        RESIZED, "/resizer", {"product_id": product_id, "image_id": image_id, "variants": variants}
    )
    assert (await _send(catalog, event)).json()["outcome"] == "stale"
    unknown = new_event(
        FAILED,
        "/resizer",
        {"product_id": str(uuid.uuid4()), "image_id": str(uuid.uuid4()), "reason": "x"},
    )
    assert (await _send(catalog, unknown)).json()["outcome"] == "stale"
    assert (await catalog.client.get(f"/api/products/{product_id}")).status_code == 404


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({"content-type": "application/json"}, b"{}"),  # not a CloudEvent
        (
            {
                "ce-id": "1",
                "ce-source": "/x",
                "ce-type": events.IMAGE_UPLOADED,
                "ce-specversion": "1.0",
                "content-type": "application/json",
            },
            b"{}",
        ),  # a type the catalog does not consume
        (
            {
                "ce-id": "2",
                "ce-source": "/resizer",
                "ce-type": RESIZED,
                "ce-specversion": "1.0",
                "content-type": "application/json",
            },
            b'{"product_id": "p"}',
        ),  # missing image_id and variants
        (
            {
                "ce-id": "3",
                "ce-source": "/resizer",
                "ce-type": FAILED,
                "ce-specversion": "1.0",
                "content-type": "application/json",
            },
            b"{broken",
        ),
    ],
)
async def test_unreadable_events_are_400_problems(catalog, headers, body):
    response = await catalog.client.post("/internal/events", content=body, headers=headers)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
