"""The outbox relay: claim pending events, publish them in order, mark them published.

Retries forever with capped exponential backoff while the broker (or sink) is down;
nothing is lost because a row is marked only after the broker confirmed it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from zipbob_catalog.db import supports_skip_locked, utcnow
from zipbob_catalog.metrics import (
    outbox_lag_seconds,
    outbox_pending,
    outbox_publish_failures_total,
    outbox_published_total,
)
from zipbob_catalog.outbox import repository
from zipbob_catalog.outbox.publishers import Publisher
from zipbob_catalog.outbox.writer import as_cloud_event
from zipbob_catalog.settings import OutboxSettings
from zipbob_platform.messaging.relay import drain as drain_relay
from zipbob_platform.messaging.relay import relay_backoff, retry_after, worth_logging

log = logging.getLogger("zipbob.catalog.outbox")


class OutboxRelay:
    def __init__(
        self,
        *,
        engine: AsyncEngine,
        sessions: async_sessionmaker[AsyncSession],
        publisher: Publisher,
        settings: OutboxSettings,
    ) -> None:
        self.sessions = sessions
        self.publisher = publisher
        self.settings = settings
        self.skip_locked = supports_skip_locked(engine)
        self._wake = asyncio.Event()
        self._stopping = False
        self.backoff = relay_backoff(settings.max_backoff_seconds)

    def wake(self) -> None:
        """Called after a commit that wrote events, so they go out without waiting a poll."""
        if not self.consecutive_failures:  # never cut a backoff short
            self._wake.set()

    async def publish_once(self) -> tuple[int, Exception | None]:
        """One claimed batch; returns (published, error)."""
        async with self.sessions() as session, session.begin():
            claimed = await repository.claim_batch(
                session, limit=self.settings.batch_size, skip_locked=self.skip_locked
            )
            ready = await repository.in_order_prefix(session, claimed)
            if not ready:
                return 0, None
            delivered, error = await self.publisher.publish_batch(
                [as_cloud_event(row) for row in ready]
            )
            now = utcnow()
            for row in ready[:delivered]:
                row.published_at = now
                row.attempts += 1
            if error is not None and delivered < len(ready):
                failed = ready[delivered]
                failed.attempts += 1
                failed.last_error = f"{type(error).__name__}: {error}"[:500]
        if delivered:
            outbox_published_total.inc(delivered)
        return delivered, error

    async def refresh_gauges(self) -> tuple[int, float]:
        async with self.sessions() as session:
            count, oldest = await repository.pending_stats(session)
        lag = max(0.0, (utcnow() - oldest).total_seconds()) if oldest is not None else 0.0
        outbox_pending.set(count)
        outbox_lag_seconds.set(lag)
        return count, lag

    async def drain(self, *, within_seconds: float = 30.0) -> None:
        """Publish until nothing is pending (tests, benchmarks, graceful shutdown)."""
        await drain_relay(self.publish_once, within_seconds=within_seconds)

    @property
    def consecutive_failures(self) -> int:
        return self.backoff.failures

    async def run_forever(self) -> None:
        while not self._stopping:
            try:
                delivered, error = await self.publish_once()
            except Exception as exc:  # the database is down: same treatment as the broker
                delivered, error = 0, exc
            pause = None
            if error is not None:
                outbox_publish_failures_total.inc()
                pause = self.backoff.fail(retry_after(error))
                if worth_logging(self.consecutive_failures):
                    log.warning(
                        "outbox publish failed (%d in a row), retrying in %.1fs: %s",
                        self.consecutive_failures,
                        pause,
                        error,
                    )
            else:
                if self.consecutive_failures:
                    log.info("outbox relay recovered after %d failures", self.consecutive_failures)
                self.backoff.reset()
            with contextlib.suppress(Exception):
                await self.refresh_gauges()
            if error is None and delivered >= self.settings.batch_size:
                continue
            await self._sleep(pause or self.settings.poll_interval_seconds)

    async def _sleep(self, seconds: float) -> None:
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
