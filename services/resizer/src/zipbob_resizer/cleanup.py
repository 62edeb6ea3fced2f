"""Handle product.deleted: remove every image's original and variants (SPEC 5 keys).

Idempotent: deleting a key that is already gone succeeds in S3, so a redelivered event
(or one for a product that never had pictures resized) simply answers 2xx again.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from zipbob_platform.cloudevents import CloudEvent
from zipbob_platform.objectstore import ObjectStore, original_key, variant_key
from zipbob_resizer import metrics
from zipbob_resizer.service import BadEventData

# One product's pictures; far above what the catalog allows, low enough to bound a request.
MAX_IMAGE_IDS = 10_000

log = logging.getLogger("zipbob_resizer")


def _object_id(value: Any, field: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise BadEventData(f"{field} must be a string")
    text = str(value)
    # The id becomes one path segment of an object key: a slash would reach other objects.
    if not text or "/" in text or text in (".", ".."):
        raise BadEventData(f"{field} {text!r} is not a valid id")
    return text


def validate_deleted(event: CloudEvent) -> tuple[str, list[str]]:
    data = event.data
    if not isinstance(data, dict):
        raise BadEventData("event data must be a JSON object")
    product_id = _object_id(data.get("product_id"), "product_id")
    image_ids = data.get("image_ids")
    if not isinstance(image_ids, list):
        raise BadEventData("event data lacks image_ids (a list)")
    if len(image_ids) > MAX_IMAGE_IDS:
        raise BadEventData(f"{len(image_ids)} image_ids is over the limit of {MAX_IMAGE_IDS}")
    return product_id, [_object_id(value, "image_ids[]") for value in image_ids]


class ProductCleaner:
    def __init__(
        self,
        *,
        store: ObjectStore,
        variant_names: tuple[str, ...],
        original_bucket: str,
        resized_bucket: str,
    ) -> None:
        self._store = store
        self._variant_names = variant_names
        self._original_bucket = original_bucket
        self._resized_bucket = resized_bucket

    async def handle(self, event: CloudEvent) -> None:
        """Raises BadEventData (400) or StorageUnavailable (503, retried)."""
        product_id, image_ids = validate_deleted(event)
        originals = [
            original_key(product_id=product_id, image_id=image_id) for image_id in image_ids
        ]
        variants = [
            variant_key(product_id=product_id, image_id=image_id, variant=name)
            for image_id in image_ids
            for name in self._variant_names
        ]
        # Originals first: an image.uploaded still in flight then finds its original gone
        # and removes the variants it has just written (see ImageResizer._handle).
        await asyncio.to_thread(self._store.delete, bucket=self._original_bucket, keys=originals)
        await asyncio.to_thread(self.delete_variants, variants)
        metrics.OBJECTS_DELETED.inc(len(originals) + len(variants))
        log.info(
            "product images deleted",
            extra={"product_id": product_id, "images": len(image_ids)},
        )

    def delete_variants(self, keys: list[str]) -> None:
        self._store.delete(bucket=self._resized_bucket, keys=keys)
