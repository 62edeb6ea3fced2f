"""Claiming outbox rows so that several relays never reorder one product's events."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from zipbob_catalog.outbox.models import OutboxEvent


async def claim_batch(session: AsyncSession, *, limit: int, skip_locked: bool) -> list[OutboxEvent]:
    """Lock up to ``limit`` pending rows that no other relay holds (SQLite: single writer)."""
    statement = (
        select(OutboxEvent)
        .where(OutboxEvent.published_at.is_(None))
        .order_by(OutboxEvent.id)
        .limit(limit)
    )
    if skip_locked:
        statement = statement.with_for_update(skip_locked=True)
    return list((await session.execute(statement)).scalars().all())


async def in_order_prefix(session: AsyncSession, claimed: list[OutboxEvent]) -> list[OutboxEvent]:
    """The claimed rows that may go out now, in id order.

    A row may be published only when every older pending row of its product is also ours;
    an older one locked by another relay (or skipped) blocks the rest of that product.
    """
    if not claimed:
        return []
    mine: dict[str, list[OutboxEvent]] = defaultdict(list)
    for row in claimed:
        mine[row.aggregate_id].append(row)
    newest_claimed = max(row.id for row in claimed)
    pending = await session.execute(
        select(OutboxEvent.aggregate_id, OutboxEvent.id)
        .where(
            OutboxEvent.published_at.is_(None),
            OutboxEvent.aggregate_id.in_(list(mine)),
            OutboxEvent.id <= newest_claimed,
        )
        .order_by(OutboxEvent.id)
    )
    pending_ids: dict[str, list[int]] = defaultdict(list)
    for aggregate_id, row_id in pending.all():
        pending_ids[aggregate_id].append(row_id)
    allowed: set[int] = set()
    for aggregate_id, rows in mine.items():
        claimed_ids = {row.id for row in rows}
        for row_id in pending_ids[aggregate_id]:
            if row_id not in claimed_ids:
                break
            allowed.add(row_id)
    return [row for row in claimed if row.id in allowed]


async def pending_stats(session: AsyncSession) -> tuple[int, datetime | None]:
    row = (
        await session.execute(
            select(func.count(), func.min(OutboxEvent.created_at)).where(
                OutboxEvent.published_at.is_(None)
            )
        )
    ).one()
    oldest = row[1]
    if isinstance(oldest, str):  # SQLite aggregates lose the column type
        oldest = datetime.fromisoformat(oldest)
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    return int(row[0]), oldest
