"""Failed logins: sliding windows in Redis sorted sets, checked and recorded atomically.

Three windows, each recorded *before* the password is checked and removed again when the
login succeeds, so parallel guesses cannot slip past a limit while argon2 runs:

- per IP + email (5/min): one address guessing one account;
- per IP (30 per 10 min): one address spraying many accounts;
- per email over every IP (20 per 15 min): many addresses guessing one account. Past this
  ceiling, only addresses that logged in to the account successfully before (a short list
  kept per email for 30 days) may still try. A botnet cannot keep guessing, and it cannot
  lock the owner out either: the owner's usual addresses are not counted against them,
  while the per IP + email window still bounds those addresses. (A victim on a brand-new
  address during an attack waits for the ceiling window, at most email_window_seconds.)

Keys hold hashes of the email and address, never the values. Redis down: the limits fail
open (logged), logins keep working.
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

# KEYS: ip+email window, ip window, email window, known addresses (zset: ip -> last ms).
# ARGV: now_ms, member, ip_hash, then (window_ms, max) for each of the three windows.
# Returns {retry_ms, which}: 0 = recorded in all three; else the window that refused.
_ATTEMPT = """
local now = tonumber(ARGV[1])
local member = ARGV[2]
local known = redis.call('ZSCORE', KEYS[4], ARGV[3])
for i = 1, 3 do
  local window = tonumber(ARGV[2 + 2 * i])
  local limit = tonumber(ARGV[3 + 2 * i])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
  if not (i == 3 and known) and redis.call('ZCARD', KEYS[i]) >= limit then
    local oldest = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
    return {math.max(1, tonumber(oldest[2]) + window - now), i}
  end
end
for i = 1, 3 do
  redis.call('ZADD', KEYS[i], now, member)
  redis.call('PEXPIRE', KEYS[i], tonumber(ARGV[2 + 2 * i]))
end
return {0, 0}
"""
# KEYS: the three windows, known addresses. ARGV: member, ip_hash, now_ms, keep, ttl_ms.
_SUCCEEDED = """
for i = 1, 3 do redis.call('ZREM', KEYS[i], ARGV[1]) end
redis.call('ZADD', KEYS[4], tonumber(ARGV[3]), ARGV[2])
redis.call('ZREMRANGEBYRANK', KEYS[4], 0, -1 - tonumber(ARGV[4]))
redis.call('PEXPIRE', KEYS[4], tonumber(ARGV[5]))
return 1
"""
WINDOWS = ("ip_email", "ip", "email")


@dataclass(frozen=True, slots=True)
class LoginAttempt:
    keys: tuple[str, str, str, str]
    member: str
    ip_hash: str
    retry_after_seconds: int = 0
    refused_by: str | None = None  # which window: ip_email, ip or email

    @property
    def allowed(self) -> bool:
        return self.retry_after_seconds == 0


class LoginLimiter:
    def __init__(self, *, client: redis.Redis, settings: LoginLimitSettings, prefix: str) -> None:
        self.client = client
        self.settings = settings
        self.prefix = prefix
        self._attempt = LuaScript(client, _ATTEMPT)
        self._succeeded = LuaScript(client, _SUCCEEDED)
        self._warn = ThrottledWarning(log, "login rate limit skipped, Redis unavailable")

    def _hash(self, text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def _keys(self, ip: str, email: str) -> tuple[str, str, str, str]:
        email = email.lower()
        p = self.prefix
        return (
            f"{p}:login:{self._hash(f'{ip}|{email}')}",
            f"{p}:login-ip:{self._hash(ip)}",
            f"{p}:login-email:{self._hash(email)}",
            f"{p}:login-known:{self._hash(email)}",
        )

    async def attempt(self, *, ip: str, email: str) -> LoginAttempt:
        keys, member, ip_hash = self._keys(ip, email), secrets.token_hex(8), self._hash(ip)
        s = self.settings
        try:
            retry_ms, which = await self._attempt(
                keys=list(keys),
                args=[
                    int(time.time() * 1000),
                    member,
                    ip_hash,
                    s.window_seconds * 1000,
                    s.max_failures,
                    s.ip_window_seconds * 1000,
                    s.ip_max_failures,
                    s.email_window_seconds * 1000,
                    s.email_max_failures,
                ],
            )
        except RedisError as exc:
            self._warn(exc)
            return LoginAttempt(keys, member, ip_hash)
        if not int(retry_ms):
            return LoginAttempt(keys, member, ip_hash)
        return LoginAttempt(
            keys, member, ip_hash, math.ceil(int(retry_ms) / 1000), WINDOWS[int(which) - 1]
        )

    async def succeeded(self, attempt: LoginAttempt) -> None:
        s = self.settings
        try:
            await self._succeeded(
                keys=list(attempt.keys),
                args=[
                    attempt.member,
                    attempt.ip_hash,
                    int(time.time() * 1000),
                    s.known_ips_per_email,
                    s.known_ip_days * 86_400_000,
                ],
            )
        except RedisError as exc:
            self._warn(exc)
