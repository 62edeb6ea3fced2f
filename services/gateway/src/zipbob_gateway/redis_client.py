"""The gateway's Redis connection, and a log line for outages that does not flood the log."""

from __future__ import annotations

import logging
import time
from typing import Any

import redis.asyncio as redis

from .settings import RedisSettings

WARNING_INTERVAL_SECONDS = 30.0


def create_redis(settings: RedisSettings) -> redis.Redis:
    return redis.Redis.from_url(
        settings.url,
        socket_timeout=settings.timeout_seconds,
        socket_connect_timeout=settings.timeout_seconds,
        health_check_interval=30,
        decode_responses=True,
    )


class ThrottledWarning:
    """Logs a Redis outage once per interval instead of once per request."""

    def __init__(self, logger: logging.Logger, message: str) -> None:
        self.logger = logger
        self.message = message
        self._last = -WARNING_INTERVAL_SECONDS
        self.suppressed = 0

    def __call__(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._last < WARNING_INTERVAL_SECONDS:
            self.suppressed += 1
            return
        self.logger.warning(
            "%s: %s: %s",
            self.message,
            type(exc).__name__,
            exc,
            extra={"suppressed_since_last": self.suppressed},
        )
        self._last = now
        self.suppressed = 0


class LuaScript:
    """A Lua script sent with EVAL on every call.

    redis-py's Script tries EVALSHA first; fakeredis (the local profile's embedded Redis)
    drops the connection on an EVALSHA of a script it has not seen. The script text is a
    few hundred bytes and these calls are rare (leases, logins, refreshes), so plain EVAL
    costs nothing worth the difference.
    """

    def __init__(self, client: redis.Redis, source: str) -> None:
        self.client = client
        self.source = source

    async def __call__(self, *, keys: list[str], args: list[object]) -> Any:
        return await self.client.eval(self.source, len(keys), *keys, *args)  # type: ignore[misc]
