"""What the review service does with events from other services."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from zipbob_platform import events
from zipbob_platform.cloudevents import CloudEvent, InvalidEvent

from ..reviews.models import utc_now
from ..reviews.service import ReviewDeps

PRODUCT_DELETED = events.PRODUCT_DELETED
log = logging.getLogger("zipbob.review.events")


@dataclass(frozen=True)
class HandlingResult:
    outcome: str  # deleted | already_deleted | ignored
    reviews_deleted: int = 0


async def forget_product(*, deps: ReviewDeps, product_id: str) -> HandlingResult:
    """Remove a deleted product's reviews. Safe to repeat (at-least-once delivery)."""
    # The tombstone goes first: a review being created concurrently re-checks it after
    # its insert and removes itself, so no review can outlive its product.
    intent = await deps.repository.begin_write(product_id)
    first_time = await deps.repository.mark_deleted(product_id, now=utc_now())
    removed = await deps.repository.delete_for_product(product_id)
    deps.catalog.forget(product_id)
    if removed or first_time:
        version = await deps.repository.bump_version(product_id)  # summary.changed: count 0
        await deps.cache.forget(product_id, version - 1)
    await deps.repository.end_write(intent)
    outcome = "deleted" if first_time or removed else "already_deleted"
    log.info(
        "product %s deleted: %d reviews removed",
        product_id,
        removed,
        extra={"product_id": product_id, "reviews_deleted": removed, "outcome": outcome},
    )
    return HandlingResult(outcome, removed)


async def handle_event(*, deps: ReviewDeps, event: CloudEvent) -> HandlingResult:
    if event.type != PRODUCT_DELETED:
        return HandlingResult("ignored")
    data = event.data if isinstance(event.data, dict) else None
    product_id = data.get("product_id") if data else None
    if not isinstance(product_id, str | int) or not str(product_id):
        raise InvalidEvent("product.deleted needs data.product_id")
    return await forget_product(deps=deps, product_id=str(product_id))
