"""Writing events into the outbox inside the caller's transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from zipbob_catalog.outbox.models import OutboxEvent
from zipbob_platform import events
from zipbob_platform.cloudevents import CloudEvent, new_event

SOURCE = events.CATALOG_SOURCE
IMAGE_UPLOADED = events.IMAGE_UPLOADED
PRODUCT_DELETED = events.PRODUCT_DELETED


def enqueue_event(
    session: AsyncSession, *, event_type: str, product_id: str, data: dict[str, Any]
) -> OutboxEvent:
    """Add the event to the session; it is published only if the transaction commits."""
    event = new_event(event_type, SOURCE, data, subject=product_id)
    row = OutboxEvent(
        event_id=event.id,
        event_type=event_type,
        aggregate_id=product_id,
        attributes=event.attributes(),
        data=data,
        attempts=0,
    )
    session.add(row)
    return row


def as_cloud_event(row: OutboxEvent) -> CloudEvent:
    attributes = dict(row.attributes)
    known = {"id", "source", "type", "specversion", "subject", "time", "datacontenttype"}
    return CloudEvent(
        id=attributes["id"],
        source=attributes["source"],
        type=attributes["type"],
        specversion=attributes.get("specversion", "1.0"),
        subject=attributes.get("subject"),
        time=attributes.get("time"),
        datacontenttype=attributes.get("datacontenttype", "application/json"),
        data=row.data,
        extensions={k: v for k, v in attributes.items() if k not in known},
    )
