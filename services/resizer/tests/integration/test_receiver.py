"""POST / over a real RabbitMQ (results) and a moto S3 server (objects)."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import pytest
from PIL import Image
from resizer_factories import encode, jpeg_bytes, photo_like, png_bytes

from zipbob_platform import events
from zipbob_resizer.service import result_event_id

from .conftest import (
    post,
    post_with_s3_unreachable,
    resizer_client,
    upload,
    uploaded_event,
)

pytestmark = pytest.mark.integration


def stored(s3: Any, variant: dict[str, Any]) -> Image.Image:
    body = s3.get_object(Bucket=variant["bucket"], Key=variant["key"])["Body"].read()
    assert len(body) == variant["bytes"]
    return Image.open(io.BytesIO(body))


async def test_happy_path_structured_mode(client, s3, results):
    data = upload(s3, jpeg_bytes(photo_like(2400, 1600)))
    event = uploaded_event(data)
    response = await post(client, event, structured=True)
    assert response.status_code == 204, response.text
    [result] = results.drain(expect=1)
    assert result.type == events.IMAGE_RESIZED
    assert result.id == result_event_id(event.id)
    assert (
        result.traceparent and result.traceparent.split("-")[1] == event.traceparent.split("-")[1]
    )
    variants = result.data["variants"]
    assert {name: (v["width"], v["height"]) for name, v in variants.items()} == {
        "thumbnail": (200, 133),
        "medium": (800, 533),
        "large": (1600, 1067),
    }
    assert variants["large"]["key"] == f"products/{data['product_id']}/{data['image_id']}/large.jpg"
    assert stored(s3, variants["large"]).size == (1600, 1067)


@pytest.mark.parametrize(
    ("name", "make", "expected_large"),
    [
        (
            "png_alpha",
            lambda: png_bytes(Image.new("RGBA", (500, 300), (255, 0, 255, 0))),
            (500, 300),
        ),
        (
            "cmyk",
            lambda: encode(Image.new("CMYK", (900, 600), (0, 200, 200, 0)), "JPEG"),
            (900, 600),
        ),
        ("exif_rotated", lambda: jpeg_bytes(photo_like(1800, 1200), orientation=6), (1067, 1600)),
        ("one_pixel", lambda: png_bytes(Image.new("RGB", (1, 1), "red")), (1, 1)),
    ],
)
async def test_inputs_that_resize(client, s3, results, name, make, expected_large):
    response = await post(client, uploaded_event(upload(s3, make())))
    assert response.status_code == 204, f"{name}: {response.text}"
    [result] = results.drain(expect=1)
    large = stored(s3, result.data["variants"]["large"])
    assert (large.format, large.mode, large.size) == ("JPEG", "RGB", expected_large)
    if name == "png_alpha":
        assert min(large.getpixel((10, 10))) >= 245  # white, not the hidden magenta


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: b"this is not an image at all", "unsupported_format"),
        (lambda: jpeg_bytes(photo_like(800, 600))[:3000], "truncated_image"),
    ],
)
async def test_bad_images_fail_permanently_and_say_why(client, s3, results, make, reason):
    data = upload(s3, make())
    response = await post(client, uploaded_event(data))
    assert response.status_code == 422
    assert response.json()["reason"] == reason
    [result] = results.drain(expect=1)
    assert result.type == events.IMAGE_FAILED
    assert result.data["reason"] == reason and result.data["image_id"] == data["image_id"]


async def test_event_for_a_missing_object(client, s3, results):
    data = upload(s3, b"x")
    # The platform's key for another image of the product, never stored (a foreign key is a
    # 403 now: tests/security).
    data["image_id"] += "-gone"
    data["key"] = f"products/{data['product_id']}/{data['image_id']}/original"
    response = await post(client, uploaded_event(data))
    assert response.status_code == 422
    [result] = results.drain(expect=1)
    assert result.data["reason"] == "original_missing"


async def test_malformed_events_are_400(client):
    assert (
        await client.post("/", content=b"{}", headers={"content-type": "application/json"})
    ).status_code == 400
    bad = await client.post(
        "/", content=b"not json", headers={"content-type": "application/cloudevents+json"}
    )
    assert bad.status_code == 400
    assert bad.headers["content-type"].startswith("application/problem+json")
    event = uploaded_event({"product_id": "p"})
    assert (await post(client, event)).status_code == 400


async def test_duplicates_sequential_and_concurrent_give_one_result_id(client, s3, results):
    data = upload(s3, jpeg_bytes(photo_like(1600, 1200)))
    event = uploaded_event(data)
    first = await post(client, event)
    objects = {
        obj["Key"]: obj["ETag"]
        for obj in s3.list_objects_v2(
            Bucket="resized-images", Prefix=f"products/{data['product_id']}/"
        )["Contents"]
    }
    concurrent = await asyncio.gather(post(client, event), post(client, event), post(client, event))
    assert [r.status_code for r in (first, *concurrent)] == [204] * 4
    received = results.drain(expect=4, timeout=3)
    assert {e.id for e in received} == {result_event_id(event.id)}
    after = {
        obj["Key"]: obj["ETag"]
        for obj in s3.list_objects_v2(
            Bucket="resized-images", Prefix=f"products/{data['product_id']}/"
        )["Contents"]
    }
    assert after == objects and len(objects) == 3


async def test_s3_unreachable_is_retryable(settings, s3):
    response = await post_with_s3_unreachable(settings, uploaded_event(upload(s3, b"x")))
    assert response.status_code == 503
    assert response.headers["retry-after"]


async def test_reply_mode_answers_with_the_result_event(settings, s3):
    replying = settings.model_copy(deep=True)
    replying.results.delivery = "reply"
    async with resizer_client(replying) as http:
        event = uploaded_event(upload(s3, jpeg_bytes(photo_like(400, 300))))
        response = await post(http, event)
    assert response.status_code == 200
    assert response.headers["ce-type"] == events.IMAGE_RESIZED
    assert response.headers["ce-id"] == result_event_id(event.id)
    assert response.json()["variants"]["large"]["width"] == 400
