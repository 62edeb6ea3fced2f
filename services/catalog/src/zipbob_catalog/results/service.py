"""Applying the resizer's results to images, once per event id.

Also the review service's ``summary.changed`` (the rating read model, ratings/service.py).

Outcomes: ``applied``; ``duplicate`` (event id seen before); ``stale`` (the image is gone,
or already final with this content); ``invalid`` (not a result we can read).
"""

from __future__ import annotations

import logging
import re

from pydantic import ValidationError

from zipbob_catalog.db import utcnow
from zipbob_catalog.metrics import events_consumed_total
from zipbob_catalog.outbox.processed import apply_once
from zipbob_catalog.products import repository
from zipbob_catalog.ratings.service import SUMMARY_CHANGED, apply_summary_event, parse_summary
from zipbob_catalog.results.schemas import FAILED, RESIZED, ImageFailed, ImageResized
from zipbob_catalog.runtime import CatalogRuntime
from zipbob_platform.cloudevents import CloudEvent, InvalidEvent
from zipbob_platform.event_auth import ForeignObject, check_object

log = logging.getLogger("zipbob.catalog.results")
VARIANT_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


def parse_result(event: CloudEvent) -> ImageResized | ImageFailed:
    models: dict[str, type[ImageResized] | type[ImageFailed]] = {
        RESIZED: ImageResized,
        FAILED: ImageFailed,
    }
    model = models.get(event.type)
    if model is None:
        raise InvalidEvent(f"the catalog does not consume {event.type!r} events")
    try:
        return model.model_validate(event.data)
    except ValidationError as exc:
        raise InvalidEvent(f"{event.type} data is invalid: {exc.errors()[0]['msg']}") from None


def check_variant_objects(result: ImageResized, *, bucket: str) -> None:
    """Every variant must be the object the resizer writes for this product and image (SPEC
    5 keys), in the resized bucket: the product's page presigns these, so a forged event
    must not make it hand out any other object."""
    for name, variant in result.variants.items():
        if not VARIANT_NAME.match(name):
            raise ForeignObject(f"{name!r} is not a variant name")
        check_object(
            variant.bucket,
            variant.key,
            expected_bucket=bucket,
            expected_key=f"products/{result.product_id}/{result.image_id}/{name}.jpg",
        )


async def apply_result(*, runtime: CatalogRuntime, event: CloudEvent) -> str:
    """Apply one result event; raises InvalidEvent for a permanent refusal. A product
    changed (``applied``) drops the list pages it may be on (products.pagecache)."""
    if event.type == SUMMARY_CHANGED:  # the rating read model (review events)
        outcome = await apply_summary_event(sessions=runtime.sessions, event=event)
        if outcome == "applied":
            runtime.pages.product_changed(parse_summary(event).product_id, rating=True)
        return outcome
    try:
        result = parse_result(event)
        if isinstance(result, ImageResized):
            check_variant_objects(result, bucket=runtime.settings.s3.resized_bucket)
    except InvalidEvent:
        events_consumed_total.labels(event.type, "invalid").inc()
        raise
    outcome = await apply_once(
        runtime.sessions, event, lambda session: _update_image(session, result)
    )
    if outcome == "applied":
        runtime.pages.product_changed(result.product_id, rating=False)
    log.info(
        "result %s for image %s: %s",
        event.type.rsplit(".", 1)[-1],
        result.image_id,
        outcome,
        extra={"event_id": event.id, "outcome": outcome},
    )
    return outcome


async def _update_image(session, result: ImageResized | ImageFailed) -> str:  # type: ignore[no-untyped-def]
    image = await repository.get_image(session, result.image_id, for_update=True)
    if image is None:
        return "stale"  # deleted product or unknown image: nothing to update
    if image.product_id != result.product_id:
        raise ForeignObject(f"image {result.image_id} does not belong to {result.product_id}")
    if isinstance(result, ImageResized):
        variants = {name: variant.model_dump() for name, variant in result.variants.items()}
        if image.status == "ready" and image.variants == variants:
            return "stale"
        image.status, image.variants, image.error = "ready", variants, None
    else:
        if image.status == "ready":
            return "stale"  # a success already arrived; a late failure must not undo it
        if image.status == "failed" and image.error == result.reason[:500]:
            return "stale"
        image.status, image.error = "failed", result.reason[:500]
    image.updated_at = utcnow()
    return "applied"
