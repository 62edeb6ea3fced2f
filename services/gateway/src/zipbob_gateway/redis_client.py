"""The gateway's Redis connection, and a log line for outages that does not flood the log."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence
from typing import Any

import redis.asyncio as redis
from redis.exceptions import NoScriptError

from .settings import RedisSettings

WARNING_INTERVAL_SECONDS = 30.0


def create_redis(settings: RedisSettings) -> redis.Redis:
    return redis.Redis.from_url(
        settings.url.get_secret_value(),
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
    """A Lua script run by its SHA1 (EVALSHA), so each call sends a digest, not the source.

    A server that has not seen the script yet (first call, restart, failover, SCRIPT FLUSH)
    answers NOSCRIPT; the call is then sent once with EVAL, which also caches the script for
    the next EVALSHA. redis-py's own ``Script`` does SCRIPT LOAD + EVALSHA instead: two
    round trips where one will do.
    """

    def __init__(self, client: redis.Redis, source: str) -> None:
        self.client = client
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()

    async def __call__(self, *, keys: list[str], args: Sequence[str | int | float]) -> Any:
        try:
            return await self.client.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            return await self.client.eval(self.source, len(keys), *keys, *args)
