"""The rating read model: products keep the review service's summary, newest version wins.

Applying is one conditional UPDATE (``WHERE rating_version < :version``), so an older or
repeated summary changes nothing whatever order events arrive in, and concurrent
consumers cannot interleave badly; the event id also goes into ``processed_events`` in
the same transaction, so a redelivered event is a ``duplicate``.
"""

from __future__ import annotations

import logging

from pydantic import ValidationError
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from zipbob_catalog.metrics import events_consumed_total
from zipbob_catalog.outbox.processed import apply_once
from zipbob_catalog.products.models import Product
from zipbob_catalog.ratings.schemas import SUMMARY_CHANGED, RatingSummary
from zipbob_platform.cloudevents import CloudEvent, InvalidEvent

log = logging.getLogger("zipbob.catalog.ratings")


def parse_summary(event: CloudEvent) -> RatingSummary:
    try:
        return RatingSummary.model_validate(event.data)
    except ValidationError as exc:
        raise InvalidEvent(f"{event.type} data is invalid: {exc.errors()[0]['msg']}") from None


async def store_summary(session: AsyncSession, summary: RatingSummary) -> bool:
    """Write the summary if it is newer than what the product holds; True if written."""
    result = await session.execute(
        update(Product)
        .where(Product.id == summary.product_id, Product.rating_version < summary.version)
        .values(
            rating_hundredths=summary.hundredths,
            rating_count=summary.count,
            rating_version=summary.version,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def apply_summary_event(
    *, sessions: async_sessionmaker[AsyncSession], event: CloudEvent
) -> str:
    """``applied``, ``stale`` (older/same version, or unknown product) or ``duplicate``;
    raises InvalidEvent for data that can never apply."""
    try:
        summary = parse_summary(event)
    except InvalidEvent:
        events_consumed_total.labels(event.type, "invalid").inc()
        raise

    async def apply(session: AsyncSession) -> str:
        return "applied" if await store_summary(session, summary) else "stale"

    outcome = await apply_once(sessions, event, apply)
    log.info(
        "rating summary v%d for product %s: %s",
        summary.version,
        summary.product_id,
        outcome,
        extra={"event_id": event.id, "outcome": outcome},
    )
    return outcome


__all__ = ["SUMMARY_CHANGED", "apply_summary_event", "parse_summary", "store_summary"]
