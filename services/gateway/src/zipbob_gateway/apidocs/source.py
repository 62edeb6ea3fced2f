"""The upstreams' documents, fetched from their `/openapi.json` and cached.

Fetched when `/api/openapi.json` is asked for and the cached copy is older than
``ttl_seconds`` (not at start-up: services may come up after the gateway). An upstream that
cannot be reached keeps its last known document; one never reached is left out and named
in ``info.x-zipbob-missing-upstreams``, so the document never blocks on an outage.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import aiohttp

from ..settings import GatewaySettings

log = logging.getLogger("zipbob.gateway.apidocs")
MISSING_RETRY_SECONDS = 2.0


def documented_upstreams(settings: GatewaySettings) -> dict[str, str]:
    """Upstreams that serve part of the public API (a route under /api/ points at them):
    name -> base URL. Others (the web console's pages) have no API document to fetch."""
    names = {
        route.upstream
        for route in settings.routes
        if any(path.startswith("/api/") or path == "/api" for path in route.paths)
    }
    return {name: settings.upstreams[name].url for name in sorted(names)}


class UpstreamDocuments:
    def __init__(
        self, urls: dict[str, str], *, ttl_seconds: float = 30.0, timeout_seconds: float = 3.0
    ) -> None:
        self.urls = urls
        self.ttl = ttl_seconds
        self.timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._known: dict[str, dict[str, Any]] = {}
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()
        self.version = 0  # grows whenever a known document changes

    async def current(self) -> dict[str, dict[str, Any] | None]:
        now = time.monotonic()
        if self._stale(now):
            async with self._lock:
                if self._stale(time.monotonic()):
                    await self._refresh()
        return {name: self._known.get(name) for name in self.urls}

    def _stale(self, now: float) -> bool:
        if self._fetched_at is None:
            return True
        if len(self._known) < len(self.urls):  # one was down: try again soon, not every time
            return now - self._fetched_at > MISSING_RETRY_SECONDS
        return now - self._fetched_at > self.ttl

    async def _refresh(self) -> None:
        async with aiohttp.ClientSession(timeout=self.timeout) as session:
            results = await asyncio.gather(
                *(self._fetch(session, name, url) for name, url in self.urls.items())
            )
        for name, document in zip(self.urls, results, strict=True):
            if document is not None and document != self._known.get(name):
                self._known[name] = document
                self.version += 1
        self._fetched_at = time.monotonic()

    @staticmethod
    async def _fetch(
        session: aiohttp.ClientSession, name: str, base_url: str
    ) -> dict[str, Any] | None:
        try:
            async with session.get(f"{base_url}/openapi.json") as response:
                if response.status != 200:
                    log.warning("%s answered %s for /openapi.json", name, response.status)
                    return None
                document: dict[str, Any] = await response.json()
                return document
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.warning("%s /openapi.json unreachable: %s", name, type(exc).__name__)
            return None
