"""POST a CloudEvent over HTTP and judge the answer: the one client every HTTP event
sender uses (the local profile's sinks, the resizer's results, the dispatcher).

One status policy, Knative's delivery rules:

- 2xx: delivered;
- 408, 425, 429, 5xx, and no answer at all (refused, reset, timed out): retry, after the
  receiver's ``Retry-After`` when it sends one (capped at ``max_retry_after_seconds``);
- every other status, 3xx included (redirects are not followed): permanent, the caller
  dead-letters the event; retrying cannot change the answer.

Binary mode (``ce-*`` headers, ``traceparent`` for the receiver's trace), plus whatever the
``event_headers`` hook adds for an event (the sender credential of
``zipbob_platform.event_auth``, or a signature). One pooled session per poster, built once
per process by the caller's bootstrap; the timeout comes from the caller's settings.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import aiohttp
from prometheus_client import Counter

from ..backoff import Backoff
from ..cloudevents import CloudEvent, EventHeaders, to_http_binary
from ..metrics import get_or_create

log = logging.getLogger("zipbob.messaging.http")

RETRYABLE_STATUSES = frozenset({408, 425, 429})
NO_ANSWER = 0  # the status of an attempt that got no HTTP answer
DETAIL_CHARS = 200

http_event_posts_total = get_or_create(
    Counter,
    "zipbob_http_event_posts_total",
    "CloudEvents POSTed over HTTP, by sender and outcome (delivered, retry, permanent)",
    ("sender", "outcome"),
)

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], datetime]


class Outcome(enum.StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    PERMANENT = "permanent"


def judge(status: int) -> Outcome:
    """The one status policy (see the module docstring); ``NO_ANSWER`` is retried."""
    if 200 <= status < 300:
        return Outcome.DELIVERED
    if status == NO_ANSWER or status >= 500 or status in RETRYABLE_STATUSES:
        return Outcome.RETRY
    return Outcome.PERMANENT


def retry_after_seconds(value: str | None, *, now: datetime, cap: float) -> float | None:
    """``Retry-After`` as seconds from ``now``: delta-seconds or an HTTP-date, at most
    ``cap``; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - now).total_seconds()
    return min(max(seconds, 0.0), cap)


@dataclass(frozen=True)
class Answer:
    url: str
    status: int  # NO_ANSWER when the request failed before a status line
    outcome: Outcome
    detail: str = ""  # the start of the body, or the transport error
    retry_after: float | None = None  # seconds, already capped

    @property
    def delivered(self) -> bool:
        return self.outcome is Outcome.DELIVERED

    def describe(self) -> str:
        answered = f"HTTP {self.status}" if self.status else "no answer"
        return f"{self.url}: {answered} ({self.outcome}) {self.detail}".strip()


class DeliveryFailed(Exception):
    """An event was not delivered; ``answer`` says why and whether a retry can help."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(answer.describe())
        self.answer = answer

    @property
    def retryable(self) -> bool:
        return self.answer.outcome is Outcome.RETRY

    @property
    def retry_after(self) -> float | None:
        return self.answer.retry_after


class EventPoster:
    """``await poster.post(url, event)`` for one attempt, ``deliver`` for attempts with
    backoff; ``close()`` at shutdown."""

    def __init__(
        self,
        *,
        sender: str,
        timeout_seconds: float,
        event_headers: EventHeaders | None = None,
        max_retry_after_seconds: float = 60.0,
        pool_size: int = 32,
        clock: Clock | None = None,
    ) -> None:
        self.sender = sender  # the metric label: which process or component sends
        self.timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self.event_headers = event_headers
        self.max_retry_after_seconds = max_retry_after_seconds
        self.pool_size = pool_size
        self._clock = clock or (lambda: datetime.now(UTC))
        self._session: aiohttp.ClientSession | None = None

    def _pool(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self.timeout, connector=aiohttp.TCPConnector(limit=self.pool_size)
            )
        return self._session

    async def post(self, url: str, event: CloudEvent) -> Answer:
        headers, body = to_http_binary(event)
        if self.event_headers is not None:
            headers.update(self.event_headers(event))
        try:
            async with self._pool().post(
                url, data=body, headers=headers, allow_redirects=False
            ) as response:
                status = response.status
                detail = (await response.text(errors="replace"))[:DETAIL_CHARS]
                wait = retry_after_seconds(
                    response.headers.get("Retry-After"),
                    now=self._clock(),
                    cap=self.max_retry_after_seconds,
                )
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            answer = Answer(url, NO_ANSWER, Outcome.RETRY, f"{type(exc).__name__}: {exc}")
        else:
            outcome = judge(status)
            answer = Answer(
                url, status, outcome, detail, wait if outcome is Outcome.RETRY else None
            )
        http_event_posts_total.labels(self.sender, answer.outcome.value).inc()
        if answer.outcome is Outcome.PERMANENT:
            log.warning(
                "event refused for good, not retried: %s",
                answer.describe(),
                extra={"event_id": event.id, "event_type": event.type},
            )
        return answer

    async def deliver(
        self,
        url: str,
        event: CloudEvent,
        *,
        max_attempts: int,
        backoff_initial_seconds: float,
        backoff_max_seconds: float,
        sleep: Sleep = asyncio.sleep,
    ) -> tuple[Answer, int]:
        """Attempts until delivered, refused for good, or ``max_attempts`` made; between
        retries the receiver's Retry-After, else doubling backoff, both at most
        ``backoff_max_seconds``. Returns the last answer and the attempts made."""
        backoff = Backoff(backoff_initial_seconds, backoff_max_seconds)
        for attempt in range(1, max_attempts + 1):
            answer = await self.post(url, event)
            if answer.outcome is not Outcome.RETRY or attempt == max_attempts:
                return answer, attempt
            step = backoff.fail()  # it doubles on every retry, Retry-After or not
            # The receiver's own ask wins, even when shorter than the backoff.
            await sleep(
                step if answer.retry_after is None else min(answer.retry_after, backoff.cap)
            )
        raise ValueError("max_attempts must be at least 1")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
