"""Applying a consumed event once per event id: the change and its ``processed_events`` row
go in one transaction, so a redelivered event is a ``duplicate``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from zipbob_catalog.metrics import events_consumed_total
from zipbob_catalog.outbox.models import ProcessedEvent
from zipbob_platform.cloudevents import CloudEvent


async def apply_once(
    sessions: async_sessionmaker[AsyncSession],
    event: CloudEvent,
    apply: Callable[[AsyncSession], Awaitable[str]],
) -> str:
    """``duplicate`` if the event id was seen before, else the outcome of ``apply`` (run in
    the transaction that records the id); counted in ``events_consumed_total``."""
    try:
        async with sessions() as session, session.begin():
            if await session.get(ProcessedEvent, event.id) is not None:
                outcome = "duplicate"
            else:
                outcome = await apply(session)
                session.add(
                    ProcessedEvent(event_id=event.id, event_type=event.type, outcome=outcome)
                )
    except IntegrityError:
        outcome = "duplicate"  # another replica recorded the same event id concurrently
    events_consumed_total.labels(event.type, outcome).inc()
    return outcome
