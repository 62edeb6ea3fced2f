"""What the services' outbox relays share (the catalog's SQL outbox, the review service's
summary versions): draining by repeated ``publish_once`` passes, and the backoff between
failed passes (zipbob_platform.backoff, honouring an HTTP sink's Retry-After)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from ..backoff import Backoff
from .http_delivery import DeliveryFailed

INITIAL_BACKOFF_SECONDS = 0.2
PublishOnce = Callable[[], Awaitable[tuple[int, Exception | None]]]


async def drain(publish_once: PublishOnce, *, within_seconds: float = 30.0) -> None:
    """Run ``publish_once`` (``(delivered, error)``) until a pass delivers nothing; re-raise
    its error; TimeoutError after ``within_seconds``."""
    async with asyncio.timeout(within_seconds):
        while True:
            delivered, error = await publish_once()
            if error is not None:
                raise error
            if delivered == 0:
                return


def relay_backoff(cap: float) -> Backoff:
    """A relay's backoff between failed passes: from INITIAL_BACKOFF_SECONDS, +-20 %."""
    return Backoff(min(INITIAL_BACKOFF_SECONDS, cap), cap, jitter=0.2)


def retry_after(error: Exception) -> float | None:
    """The Retry-After an HTTP sink answered with, if the failure was one."""
    return error.retry_after if isinstance(error, DeliveryFailed) else None


def worth_logging(consecutive_failures: int) -> bool:
    """Whether a relay logs this failure: the 1st, 10th and every 100th of a run (an outage
    of hours stays a few lines)."""
    return consecutive_failures in (1, 10) or consecutive_failures % 100 == 0
