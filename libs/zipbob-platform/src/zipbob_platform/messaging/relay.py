"""What the services' outbox relays share (the catalog's SQL outbox, the review service's
summary versions): draining by repeated ``publish_once`` passes, and the backoff between
failed passes."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable

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


def next_backoff(backoff: float, *, cap: float) -> float:
    """The backoff after one more failed pass: doubling from INITIAL_BACKOFF_SECONDS."""
    return min(cap, backoff * 2 or INITIAL_BACKOFF_SECONDS)


def pause_after(error: Exception, backoff: float, *, cap: float) -> float:
    """How long a relay waits after a failed pass: the backoff with +-20 % jitter, but
    never less than the Retry-After an HTTP sink asked for (at most ``cap``)."""
    pause = backoff * random.uniform(0.8, 1.2)
    asked = error.retry_after if isinstance(error, DeliveryFailed) else None
    return pause if asked is None else min(cap, max(pause, asked))
