"""Does a product exist? Asked of the catalog over HTTP, with a cache and a breaker.

200 → exists, 404 → unknown; anything else, a timeout or an open breaker → unavailable,
which the API answers as 503 with Retry-After (never a 500, never a silent accept).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from urllib.parse import quote

import aiohttp

from zipbob_platform.context import current_request_id
from zipbob_platform.tracing import inject_traceparent

from ..metrics import catalog_lookups_total
from ..settings import CatalogSettings
from .breaker import CircuitBreaker


class CatalogUnavailable(Exception):
    def __init__(self, reason: str, retry_after: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class CatalogClient:
    def __init__(self, settings: CatalogSettings) -> None:
        self.settings = settings
        self.base_url = settings.url.rstrip("/")
        self.breaker = CircuitBreaker(
            failure_threshold=settings.breaker_failures, open_seconds=settings.breaker_open_seconds
        )
        self._answers: OrderedDict[str, tuple[bool, float]] = OrderedDict()
        self._session: aiohttp.ClientSession | None = None

    def _session_for_call(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.settings.timeout_seconds),
                connector=aiohttp.TCPConnector(limit=50, ttl_dns_cache=60),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def _cached(self, product_id: str) -> bool | None:
        answer = self._answers.get(product_id)
        if answer is None:
            return None
        exists, expires_at = answer
        if expires_at < time.monotonic():
            self._answers.pop(product_id, None)
            return None
        self._answers.move_to_end(product_id)
        return exists

    def _remember(self, product_id: str, exists: bool) -> None:
        ttl = self.settings.cache_seconds if exists else self.settings.not_found_cache_seconds
        if ttl <= 0 or self.settings.cache_size == 0:
            return
        self._answers[product_id] = (exists, time.monotonic() + ttl)
        self._answers.move_to_end(product_id)
        while len(self._answers) > self.settings.cache_size:
            self._answers.popitem(last=False)

    def forget(self, product_id: str) -> None:
        self._answers.pop(product_id, None)

    async def product_exists(self, product_id: str) -> bool:
        cached = self._cached(product_id)
        if cached is not None:
            catalog_lookups_total.labels("cached").inc()
            return cached
        if not self.breaker.allow():
            catalog_lookups_total.labels("circuit_open").inc()
            raise CatalogUnavailable("circuit open", self.breaker.retry_after_seconds())
        headers = inject_traceparent({"accept": "application/json"})
        request_id = current_request_id()
        if request_id:
            headers["x-request-id"] = request_id
        url = f"{self.base_url}/api/products/{quote(product_id, safe='')}"
        try:
            async with self._session_for_call().get(url, headers=headers) as response:
                status = response.status
                await response.read()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return self._unavailable(f"{type(exc).__name__}: {exc}")
        if status not in (200, 404):
            return self._unavailable(f"catalog answered {status}")
        self.breaker.record_success()
        exists = status == 200
        catalog_lookups_total.labels("found" if exists else "not_found").inc()
        self._remember(product_id, exists)
        return exists

    def _unavailable(self, reason: str) -> bool:
        self.breaker.record_failure()
        catalog_lookups_total.labels("unavailable").inc()
        raise CatalogUnavailable(reason, self.breaker.retry_after_seconds())
