"""What the services' outbox relays share (the catalog's SQL outbox, the review service's
summary versions): draining by repeated ``publish_once`` passes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

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
