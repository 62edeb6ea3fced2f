"""Redis cache-aside for the rating summary and the first page of each sort.

Correctness never depends on Redis:
- Keys carry the product's version from MongoDB (``review_versions``), bumped after every
  write. A read first fetches the version, then the key of that version. A value cached
  before a write is therefore unreachable after it, even when the write could not delete
  the key because Redis was down, and even when Redis comes back still holding it.
- After each write the previous version's keys are deleted too (memory, not correctness);
  the TTL is the safety net for the rest.
- A miss is filled once: single-flight per process, plus a short Redis lock (SET NX PX)
  across processes; a caller that loses the lock waits briefly for the winner's value,
  then reads MongoDB itself without filling.
- Any Redis error makes the cache step aside for a moment; reads go to MongoDB.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from ..metrics import cache_hits_total, cache_misses_total
from ..settings import CacheSettings, RedisSettings
from .models import SORTS

log = logging.getLogger("zipbob.review.cache")
KINDS = ("summary", *(f"page:{sort}" for sort in SORTS))
_RELEASE_LOCK = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
_POLL_SECONDS = 0.01


def connect_redis(settings: RedisSettings) -> Redis:
    return Redis.from_url(
        settings.url.get_secret_value(),
        socket_timeout=settings.timeout_seconds,
        socket_connect_timeout=settings.timeout_seconds,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=0,
        decode_responses=False,
    )


class ReviewCache:
    def __init__(
        self,
        redis: Redis | None,
        settings: CacheSettings,
        *,
        retry_after_failure: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # Monotonic seconds for the step-aside window; tests inject a clock they move.
        self.clock = clock
        self.redis = redis if settings.enabled else None
        self.settings = settings
        self.retry_after_failure = retry_after_failure
        self._down_until = 0.0
        self.last_error: str | None = None
        self._inflight: dict[str, asyncio.Future[Any]] = {}

    def key(self, product_id: str, version: int, kind: str) -> str:
        return f"{self.settings.key_prefix}:{product_id}:v{version}:{kind}"

    @property
    def usable(self) -> bool:
        return self.redis is not None and self.clock() >= self._down_until

    def _failed(self, exc: Exception) -> None:
        if self.last_error is None:
            log.warning("redis unavailable, answering from MongoDB: %s", exc)
        self.last_error = f"{type(exc).__name__}: {exc}"[:200]
        self._down_until = self.clock() + self.retry_after_failure

    def _recovered(self) -> None:
        if self.last_error is not None:
            log.info("redis is back; cache in use again")
        self.last_error = None

    async def _call(self, command: Callable[[Redis], Awaitable[Any]]) -> tuple[bool, Any]:
        """(True, result) when Redis answered; (False, None) when it is down or skipped."""
        if not self.usable:
            return False, None
        assert self.redis is not None
        try:
            result = await command(self.redis)
        except (RedisError, OSError) as exc:
            self._failed(exc)
            return False, None
        self._recovered()
        return True, result

    async def get_or_fill(
        self, *, key: str, cache_name: str, compute: Callable[[], Awaitable[Any]]
    ) -> Any:
        answered, raw = await self._call(lambda r: r.get(key))
        if raw is not None:
            cache_hits_total.labels(cache_name).inc()
            return json.loads(raw)
        cache_misses_total.labels(cache_name).inc()
        if not answered:
            return await compute()
        pending = self._inflight.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            value = await self._fill(key, compute)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here, so followers-less failures do not warn
            raise
        else:
            future.set_result(value)
            return value
        finally:
            self._inflight.pop(key, None)

    async def _fill(self, key: str, compute: Callable[[], Awaitable[Any]]) -> Any:
        lock_key, token = f"{key}:lock", secrets.token_hex(8)
        got_lock, acquired = await self._call(
            lambda r: r.set(lock_key, token, nx=True, px=self.settings.lock_ms)
        )
        if got_lock and not acquired:
            waited = await self._wait_for_winner(key)
            if waited is not None:
                return waited
            return await compute()
        value = await compute()
        if got_lock:
            payload = json.dumps(value, separators=(",", ":"), default=str)
            await self._call(lambda r: r.set(key, payload, ex=self.settings.ttl_seconds))
            await self._call(lambda r: r.eval(_RELEASE_LOCK, 1, lock_key, token))
        return value

    async def _wait_for_winner(self, key: str) -> Any:
        deadline = time.monotonic() + self.settings.lock_wait_ms / 1000
        while time.monotonic() < deadline:
            await asyncio.sleep(_POLL_SECONDS)
            answered, raw = await self._call(lambda r: r.get(key))
            if not answered:
                return None
            if raw is not None:
                return json.loads(raw)
        return None

    async def forget(self, product_id: str, *versions: int) -> bool:
        """Delete the given versions' keys; False if Redis could not be told."""
        if self.redis is None:
            return True
        keys = [self.key(product_id, v, kind) for v in versions for kind in KINDS]
        answered, _ = await self._call(lambda r: r.delete(*keys))
        return answered

    async def ping(self) -> str:
        if self.redis is None:
            return "disabled"
        try:
            await self.redis.ping()
        except (RedisError, OSError) as exc:
            self._failed(exc)
            return f"degraded (reads served from MongoDB): {type(exc).__name__}: {exc}"[:200]
        self._recovered()
        self._down_until = 0.0
        return "ok"
