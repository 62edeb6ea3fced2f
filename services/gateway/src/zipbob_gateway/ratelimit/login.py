"""Failed logins per IP + email: a sliding window in a Redis sorted set.

Each attempt is recorded *before* the password is checked (atomically with the count), and
removed again when the login succeeds, so parallel guesses cannot slip past the limit while
argon2 runs. Redis down: the limit fails open (logged), logins keep working.
"""

from __future__ import annotations

import hashlib
import logging
import math
import secrets
import time
from dataclasses import dataclass

import redis.asyncio as redis
from redis.exceptions import RedisError

from ..redis_client import LuaScript, ThrottledWarning
from ..settings import LoginLimitSettings

log = logging.getLogger("zipbob.gateway.ratelimit")

# KEYS[1] window; ARGV: now_ms, window_ms, max, member. Returns 0 (recorded) or retry ms.
_ATTEMPT = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return math.max(1, tonumber(oldest[2]) + window - now)
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], window)
return 0
"""


@dataclass(frozen=True, slots=True)
class LoginAttempt:
    key: str
    member: str
    retry_after_seconds: int = 0

    @property
    def allowed(self) -> bool:
        return self.retry_after_seconds == 0


class LoginLimiter:
    def __init__(self, *, client: redis.Redis, settings: LoginLimitSettings, prefix: str) -> None:
        self.client = client
        self.settings = settings
        self.prefix = prefix
        self._attempt = LuaScript(client, _ATTEMPT)
        self._warn = ThrottledWarning(log, "login rate limit skipped, Redis unavailable")

    def _key(self, ip: str, email: str) -> str:
        digest = hashlib.sha256(f"{ip}|{email.lower()}".encode()).hexdigest()[:32]
        return f"{self.prefix}:login:{digest}"

    async def attempt(self, *, ip: str, email: str) -> LoginAttempt:
        key, member = self._key(ip, email), secrets.token_hex(8)
        window_ms = self.settings.window_seconds * 1000
        now_ms = int(time.time() * 1000)
        try:
            retry_ms = int(
                await self._attempt(
                    keys=[key], args=[now_ms, window_ms, self.settings.max_failures, member]
                )
            )
        except RedisError as exc:
            self._warn(exc)
            return LoginAttempt(key, member)
        return LoginAttempt(key, member, math.ceil(retry_ms / 1000) if retry_ms else 0)

    async def succeeded(self, attempt: LoginAttempt) -> None:
        try:
            await self.client.zrem(attempt.key, attempt.member)
        except RedisError as exc:
            self._warn(exc)
