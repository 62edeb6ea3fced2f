"""Per-client request limit (token bucket in Redis) with local leases on the hot path.

A Redis round trip per request would cost more than the rest of the proxying. Instead each
gateway process takes tokens from the client's bucket in Redis in batches (a lease worth
``rate x lease_seconds`` tokens, at least 1) and spends them locally; a lease not used
within a second is dropped, so unused tokens are lost rather than hoarded. The bucket in
Redis stays the one authority shared by every gateway replica: a client can exceed its
limit by at most one lease per replica, and a denial from Redis is remembered locally
until the bucket has refilled, so a throttled client costs no Redis traffic either.

Redis down: the limit fails open (logged at most every 30 s) and Redis is not retried for
a second, so an outage adds no latency to each request.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass

import redis.asyncio as redis
from redis.exceptions import RedisError

from ..redis_client import LuaScript, ThrottledWarning
from ..settings import ClientLimit, ClientLimitSettings

log = logging.getLogger("zipbob.gateway.ratelimit")
LEASE_LIFETIME_SECONDS = 1.0
REDIS_BACKOFF_SECONDS = 1.0
MAX_TRACKED_CLIENTS = 100_000

# KEYS[1] bucket; ARGV: rate/s, burst, now_ms, wanted. Returns {granted, retry_ms}.
_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 't', 'ts')
local tokens = tonumber(state[1]) or burst
local ts = tonumber(state[2]) or now
if now > ts then tokens = math.min(burst, tokens + (now - ts) * rate / 1000) end
local granted = math.min(tonumber(ARGV[4]), math.floor(tokens))
tokens = tokens - granted
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'ts', tostring(math.max(now, ts)))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
if granted > 0 then return {granted, 0} end
return {0, math.ceil((1 - tokens) * 1000 / rate)}
"""


@dataclass(slots=True)
class _Lease:
    tokens: int = 0
    expires_at: float = 0.0
    denied_until: float = 0.0
    pending: asyncio.Future[None] | None = None


class ClientRateLimiter:
    def __init__(
        self,
        *,
        client: redis.Redis,
        settings: ClientLimitSettings,
        prefix: str,
        name: str = "client",
    ) -> None:
        self.client = client
        self.settings = settings
        self.prefix = prefix
        self._take = LuaScript(client, _TAKE)
        self._leases: dict[str, _Lease] = {}
        self._redis_down_until = 0.0
        self._warn = ThrottledWarning(log, f"{name} rate limit skipped, Redis unavailable")

    def limit_for(self, client_key: str) -> ClientLimit:
        return self.settings.overrides.get(client_key, self.settings)

    async def check(self, client_key: str) -> int:
        """0 when the request may pass, else the seconds to wait (Retry-After)."""
        lease = self._leases.get(client_key)
        now = time.monotonic()
        if lease is not None and lease.tokens > 0 and now < lease.expires_at:
            lease.tokens -= 1
            return 0
        if lease is None:
            if len(self._leases) >= MAX_TRACKED_CLIENTS:
                self._prune(now)
            lease = self._leases[client_key] = _Lease()
        while True:
            if now < lease.denied_until:
                return max(1, math.ceil(lease.denied_until - now))
            if lease.tokens > 0 and now < lease.expires_at:
                lease.tokens -= 1
                return 0
            if now < self._redis_down_until:
                return 0
            if lease.pending is None:
                lease.pending = asyncio.get_running_loop().create_future()
                try:
                    await self._renew(client_key, lease)
                finally:
                    lease.pending.set_result(None)
                    lease.pending = None
            else:
                await asyncio.shield(lease.pending)
            now = time.monotonic()

    async def _renew(self, client_key: str, lease: _Lease) -> None:
        limit = self.limit_for(client_key)
        wanted = max(1, min(limit.burst, int(limit.rate_per_second * self.settings.lease_seconds)))
        try:
            granted, retry_ms = await self._take(
                keys=[f"{self.prefix}:bucket:{client_key}"],
                args=[limit.rate_per_second, limit.burst, int(time.time() * 1000), wanted],
            )
        except RedisError as exc:
            self._warn(exc)
            self._redis_down_until = time.monotonic() + REDIS_BACKOFF_SECONDS
            return
        now = time.monotonic()
        if int(granted) > 0:
            lease.tokens, lease.expires_at = int(granted), now + LEASE_LIFETIME_SECONDS
        else:
            lease.tokens, lease.denied_until = 0, now + int(retry_ms) / 1000

    def _prune(self, now: float) -> None:
        stale = [
            key
            for key, lease in self._leases.items()
            if lease.pending is None and lease.expires_at < now and lease.denied_until < now
        ]
        for key in stale:
            del self._leases[key]
