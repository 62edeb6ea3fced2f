"""One keep-alive connection pool per upstream, with its circuit breaker and outcome counters."""

from __future__ import annotations

from prometheus_client import Counter

from zipbob_platform.breaker import CircuitBreaker
from zipbob_platform.metrics import get_or_create

from ..settings import UpstreamSettings
from .http1 import ConnectionPool

upstream_requests_total = get_or_create(
    Counter,
    "zipbob_upstream_requests_total",
    "Requests the gateway sent (or refused to send) upstream, by outcome",
    ("upstream", "outcome"),
)

OUTCOMES = (
    "ok",  # any status below 500, and 500/501 (the upstream is alive, its handler failed)
    "bad_status",  # 502/503/504 from the upstream
    "connect_error",
    "timeout",
    "retried",  # one count per extra attempt
    "breaker_open",
    "body_too_large",
    "aborted",  # the client went away or the upstream broke off mid-response
    "pool_exhausted",  # every pooled connection stayed busy for pool_wait_seconds
    "body_timeout",  # the client stopped sending its body
)
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
FAILURE_STATUSES = frozenset({502, 503, 504})


class Upstream:
    def __init__(self, name: str, settings: UpstreamSettings) -> None:
        self.name = name
        self.settings = settings
        self.base_url = settings.url
        self.breaker = CircuitBreaker(
            name,
            failure_threshold=settings.breaker.failure_threshold,
            open_seconds=settings.breaker.open_seconds,
        )
        self.outcomes = {o: upstream_requests_total.labels(name, o) for o in OUTCOMES}
        self._pool: ConnectionPool | None = None

    @property
    def pool(self) -> ConnectionPool:
        if self._pool is None:
            raise RuntimeError(f"upstream {self.name!r} used before start()")
        return self._pool

    async def start(self) -> None:
        self._pool = ConnectionPool(
            self.base_url,
            size=self.settings.pool_size,
            connect_timeout=self.settings.connect_timeout_seconds,
            wait_timeout=self.settings.pool_wait_seconds,
        )

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
