"""POST one event to the target, Knative-style, and decide what the broker should do.

2xx: delivered. 422: the target refused the event for good and already reported it
(the resizer emits image.failed), so nothing to retry. 5xx, 408, 429 or no answer:
retried with exponential backoff up to ``max_attempts``. Any other 4xx, or attempts
exhausted: dead-lettered.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Awaitable, Callable, Mapping

import aiohttp

from zipbob_platform.cloudevents import CloudEvent, to_http_binary


class Verdict(enum.Enum):
    ACK = "delivered"
    DEAD_LETTER = "dead_lettered"


HANDLED_FAILURE = 422
Post = Callable[[str, Mapping[str, str], bytes, float], Awaitable[int]]
Sleep = Callable[[float], Awaitable[None]]


def retryable(status: int) -> bool:
    return status >= 500 or status in (408, 429)


class HttpTarget:
    """One pooled aiohttp session for every delivery."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    async def post(
        self, url: str, headers: Mapping[str, str], body: bytes, request_seconds: float
    ) -> int:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        try:
            async with self._session.post(
                url,
                data=body,
                headers=dict(headers),
                timeout=aiohttp.ClientTimeout(total=request_seconds),
            ) as response:
                await response.read()
                return response.status
        except (aiohttp.ClientError, TimeoutError, OSError):
            return 503  # unreachable or killed mid-request: retry like Knative does

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


async def deliver(
    event: CloudEvent,
    *,
    target_url: str,
    max_attempts: int,
    backoff_initial: float,
    backoff_max: float,
    request_seconds: float,
    post: Post,
    sleep: Sleep = asyncio.sleep,
    extra_headers: Mapping[str, str] | None = None,
) -> tuple[Verdict, int, int]:
    """Returns the verdict, the attempts made and the last status. ``extra_headers``: the
    sender credential the target checks (zipbob_platform.event_auth)."""
    headers, body = to_http_binary(event)
    headers = {**headers, **(extra_headers or {})}
    delay = backoff_initial
    status = 0
    for attempt in range(1, max_attempts + 1):
        status = await post(target_url, headers, body, request_seconds)
        if 200 <= status < 300 or status == HANDLED_FAILURE:
            return Verdict.ACK, attempt, status
        if not retryable(status):
            return Verdict.DEAD_LETTER, attempt, status
        if attempt < max_attempts:
            await sleep(delay)
            delay = min(delay * 2, backoff_max)
    return Verdict.DEAD_LETTER, max_attempts, status
