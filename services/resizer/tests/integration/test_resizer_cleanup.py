"""product.deleted on POST /: originals and variants go, over a moto S3 server."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from resizer_factories import jpeg_bytes, photo_like

from zipbob_platform import events
from zipbob_resizer import service

from .conftest import (
    deleted_event,
    object_keys,
    post,
    post_with_s3_unreachable,
    upload,
    uploaded_event,
)

pytestmark = pytest.mark.integration

VARIANT_FILES = ["large.jpg", "medium.jpg", "thumbnail.jpg"]


async def resized_product(client: httpx.AsyncClient, s3: Any, *, images: int) -> dict[str, Any]:
    """One product with `images` pictures, each with its original and three variants."""
    first = upload(s3, jpeg_bytes(photo_like(900, 600)))
    product_id, image_ids = first["product_id"], [first["image_id"]]
    uploads = [first]
    for n in range(1, images):
        image_id = f"{first['image_id']}-{n}"
        key = f"products/{product_id}/{image_id}/original"
        s3.copy_object(
            Bucket="original-images", Key=key, CopySource=f"original-images/{first['key']}"
        )
        uploads.append({**first, "image_id": image_id, "key": key})
        image_ids.append(image_id)
    for data in uploads:
        assert (await post(client, uploaded_event(data))).status_code == 204
    assert len(object_keys(s3, "resized-images", product_id)) == 3 * images
    return {"product_id": product_id, "image_ids": image_ids}


@pytest.mark.parametrize("structured", [False, True], ids=["binary", "structured"])
async def test_product_deleted_removes_originals_and_variants(client, s3, results, structured):
    product = await resized_product(client, s3, images=2)
    results.drain(expect=2)
    event = deleted_event(product["product_id"], product["image_ids"])
    response = await post(client, event, structured=structured)
    assert response.status_code == 204, response.text
    assert object_keys(s3, "original-images", product["product_id"]) == []
    assert object_keys(s3, "resized-images", product["product_id"]) == []
    assert results.drain(expect=1, timeout=0.3) == []  # no result event for a cleanup


async def test_product_deleted_is_idempotent_and_leaves_other_products_alone(client, s3, results):
    product = await resized_product(client, s3, images=1)
    other = await resized_product(client, s3, images=1)
    results.drain(expect=2)
    event = deleted_event(product["product_id"], product["image_ids"])
    answers = [
        await post(client, event),
        *await asyncio.gather(post(client, event), post(client, event)),
    ]
    assert [r.status_code for r in answers] == [204, 204, 204]
    never_resized = deleted_event("never-seen", ["nothing-1", "nothing-2"])
    assert (await post(client, never_resized)).status_code == 204
    assert (await post(client, deleted_event("no-pictures", []))).status_code == 204
    image_id = other["image_ids"][0]
    assert object_keys(s3, "original-images", other["product_id"]) == [
        f"products/{other['product_id']}/{image_id}/original"
    ]
    assert len(object_keys(s3, "resized-images", other["product_id"])) == 3


@pytest.mark.parametrize(
    "data",
    [
        {"product_id": "p-1"},
        {"product_id": "p-1", "image_ids": "i-1"},
        {"image_ids": ["i-1"]},
        {"product_id": "p-1", "image_ids": ["../p-2/i-1"]},
        {"product_id": "p/2", "image_ids": ["i-1"]},
        {"product_id": "p-1", "image_ids": [None]},
        ["not", "an", "object"],
    ],
)
async def test_malformed_product_deleted_is_400(client, data):
    event = deleted_event("p-1", [])
    event.data = data
    response = await post(client, event)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_product_deleted_with_s3_unreachable_is_retryable(settings):
    response = await post_with_s3_unreachable(settings, deleted_event("p-1", ["i-1"]))
    assert response.status_code == 503
    assert response.headers["retry-after"]


async def test_upload_overtaken_by_delete_leaves_no_variants(client, s3, results, monkeypatch):
    """product.deleted is handled while image.uploaded is resizing (after its download).

    The cleanup runs for real, from inside the render step, so the order is certain:
    download, cleanup, upload of the variants, then the resizer's re-check of the original.
    """
    data = upload(s3, jpeg_bytes(photo_like(1200, 800)))
    render = service._render
    cleaned: list[int] = []

    def render_while_the_product_is_deleted(original: bytes, options: Any) -> Any:
        future = asyncio.run_coroutine_threadsafe(
            post(client, deleted_event(data["product_id"], [data["image_id"]])), main_loop
        )
        cleaned.append(future.result(timeout=10).status_code)
        return render(original, options)

    main_loop = asyncio.get_running_loop()
    monkeypatch.setattr(service, "_render", render_while_the_product_is_deleted)
    response = await post(client, uploaded_event(data))
    assert cleaned == [204]
    assert response.status_code == 422, response.text
    assert response.json()["reason"] == "original_missing"
    [result] = results.drain(expect=1)
    assert result.type == events.IMAGE_FAILED
    assert object_keys(s3, "resized-images", data["product_id"]) == []
    assert object_keys(s3, "original-images", data["product_id"]) == []


async def test_concurrent_upload_and_delete_never_leave_variants(client, s3, results):
    """Whichever finishes first, nothing of the deleted product stays in either bucket."""
    for _ in range(3):
        data = upload(s3, jpeg_bytes(photo_like(1200, 800)))
        uploaded = post(client, uploaded_event(data))
        deleted = post(client, deleted_event(data["product_id"], [data["image_id"]]))
        upload_answer, delete_answer = await asyncio.gather(uploaded, deleted)
        assert upload_answer.status_code in (204, 422) and delete_answer.status_code == 204
        assert object_keys(s3, "resized-images", data["product_id"]) == []
        assert object_keys(s3, "original-images", data["product_id"]) == []
    results.drain(expect=3, timeout=2)
