"""The orphan sweeper: objects no image row points at are removed after the grace period."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from zipbob_catalog.db import utcnow
from zipbob_catalog.settings import SweeperSettings
from zipbob_catalog.sweeper import OrphanSweeper
from zipbob_devkit.testing import s3_client

pytestmark = [
    pytest.mark.integration,
    pytest.mark.parametrize("sql_url", ["sqlite"], indirect=True),
]


def _keys(client, bucket: str, prefix: str) -> set[str]:
    listing = client.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return {item["Key"] for item in listing.get("Contents", [])}


async def test_crash_orphans_are_swept_and_live_images_kept(catalog, signer, images, s3_server):
    seller = "sweep"
    created = await catalog.client.post(
        "/api/products",
        data={"name": "Rug", "price": "80", "currency": "EUR", "stock": "1", "category": "home"},
        files={"image": ("r.jpg", images.jpeg())},
        headers=signer.headers(seller),
    )
    assert created.status_code == 201
    product_id = created.json()["id"]
    live_key = f"products/{product_id}/{created.json()['images'][0]['id']}/original"
    # What a crash between the object write and the commit leaves behind:
    orphan_key = f"products/{product_id}/{uuid.uuid4()}/original"
    client = s3_client(s3_server)
    client.put_object(Bucket="original-images", Key=orphan_key, Body=b"x")
    prefix = f"products/{product_id}/"
    later = timedelta(0)
    sweeper = OrphanSweeper(catalog.runtime, prefix=prefix, now=lambda: utcnow() + later)

    sweeper.settings = SweeperSettings(grace_seconds=3600)
    assert await sweeper.sweep_once() == 0  # too young: its commit may still be in flight
    later = timedelta(seconds=3601)  # an hour on, without waiting for one
    assert await sweeper.sweep_once() == 1
    assert _keys(client, "original-images", prefix) == {live_key}

    deleted = await catalog.client.delete(
        f"/api/products/{product_id}", headers=signer.headers(seller)
    )
    assert deleted.status_code == 204
    assert await sweeper.sweep_once() == 1  # the deleted product's original
    assert _keys(client, "original-images", prefix) == set()
