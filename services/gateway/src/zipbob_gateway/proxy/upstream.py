"""One pooled aiohttp client per upstream, with its circuit breaker and outcome counters."""

from __future__ import annotations

import aiohttp
from prometheus_client import Counter

from zipbob_platform.metrics import get_or_create

from ..settings import UpstreamSettings
from .breaker import CircuitBreaker

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
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError(f"upstream {self.name!r} used before start()")
        return self._session

    def timeout(self, seconds: float) -> aiohttp.ClientTimeout:
        """Connect timeout from the upstream; the route's timeout bounds every read."""
        cached = self._timeouts.get(seconds)
        if cached is None:
            cached = self._timeouts[seconds] = aiohttp.ClientTimeout(
                total=None, connect=self.settings.connect_timeout_seconds, sock_read=seconds
            )
        return cached

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(
            limit=self.settings.pool_size,
            limit_per_host=self.settings.pool_size,
            keepalive_timeout=30,
            ttl_dns_cache=30,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,
            # Users' cookies must never be remembered between requests of different users.
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
