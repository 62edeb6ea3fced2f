"""Does a product exist? Asked of the catalog over HTTP, with a cache and a breaker.

200 → exists, 404 → unknown; anything else, a timeout or an open breaker → unavailable,
which the API answers as 503 with Retry-After (never a 500, never a silent accept).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from urllib.parse import quote

import aiohttp

from zipbob_platform.breaker import CircuitBreaker, CircuitOpen
from zipbob_platform.context import current_request_id
from zipbob_platform.problems import PROBLEM_BASE, DomainError
from zipbob_platform.tracing import inject_traceparent

from ..metrics import catalog_lookups_total
from ..settings import CatalogSettings


class CatalogUnavailable(DomainError):
    """The catalog could not say whether the product exists: 503 with Retry-After."""

    status = 503
    title = "Catalog unavailable"
    type_ = PROBLEM_BASE + "dependency-unavailable"

    def __init__(self, reason: str, retry_after: int) -> None:
        super().__init__(
            "the catalog cannot confirm that the product exists right now; try again",
            headers={"Retry-After": str(retry_after)},
        )
        self.reason = reason
        self.retry_after = retry_after


class CatalogClient:
    def __init__(
        self, settings: CatalogSettings, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings = settings
        self.base_url = settings.url.rstrip("/")
        self._clock = clock
        self.breaker = CircuitBreaker(
            "catalog",
            failure_threshold=settings.breaker_failures,
            open_seconds=settings.breaker_open_seconds,
            clock=clock,
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
        if expires_at < self._clock():
            self._answers.pop(product_id, None)
            return None
        self._answers.move_to_end(product_id)
        return exists

    def _remember(self, product_id: str, exists: bool) -> None:
        ttl = self.settings.cache_seconds if exists else self.settings.not_found_cache_seconds
        if ttl <= 0 or self.settings.cache_size == 0:
            return
        self._answers[product_id] = (exists, self._clock() + ttl)
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
        headers = inject_traceparent({"accept": "application/json"})
        request_id = current_request_id()
        if request_id:
            headers["x-request-id"] = request_id
        url = f"{self.base_url}/api/products/{quote(product_id, safe='')}"
        try:
            # A cancelled call (the client went away) leaves without a verdict: attempt()
            # then frees the half-open trial slot instead of holding it for ever.
            with self.breaker.attempt() as attempt:
                try:
                    async with self._session_for_call().get(url, headers=headers) as response:
                        status = response.status
                        await response.read()
                except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                    attempt.failed()
                    raise self._unavailable(f"{type(exc).__name__}: {exc}") from None
                if status not in (200, 404):
                    attempt.failed()
                    raise self._unavailable(f"catalog answered {status}")
                attempt.succeeded()
        except CircuitOpen as exc:
            catalog_lookups_total.labels("circuit_open").inc()
            raise CatalogUnavailable("circuit open", exc.retry_after) from None
        exists = status == 200
        catalog_lookups_total.labels("found" if exists else "not_found").inc()
        self._remember(product_id, exists)
        return exists

    def _unavailable(self, reason: str) -> CatalogUnavailable:
        catalog_lookups_total.labels("unavailable").inc()
        return CatalogUnavailable(reason, self.breaker.retry_after())
