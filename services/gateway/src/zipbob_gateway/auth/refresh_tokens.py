"""Opaque refresh tokens in Redis, grouped by family, rotated on every use.

A token is ``<family>.<secret>``; Redis keeps only its SHA-256. The family hash holds the
owner and the hash of the one live token; a set holds the hashes already used. Presenting
a used token means it leaked (or a client raced itself): the whole family is revoked, so
the thief's copy and the victim's newest token both stop working. Every step is one Lua
script, so two refreshes with the same token can never both succeed.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
from dataclasses import dataclass

import redis.asyncio as redis

from ..redis_client import LuaScript

# KEYS: family, used-set. ARGV: presented hash, new hash, ttl seconds.
_ROTATE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {'unknown', ''} end
local family = redis.call('HMGET', KEYS[1], 'user', 'current', 'revoked')
if family[3] == '1' then return {'revoked', ''} end
if family[2] == ARGV[1] then
  redis.call('HSET', KEYS[1], 'current', ARGV[2])
  redis.call('SADD', KEYS[2], ARGV[1])
  redis.call('EXPIRE', KEYS[1], ARGV[3])
  redis.call('EXPIRE', KEYS[2], ARGV[3])
  return {'rotated', family[1]}
end
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], 'revoked', '1')
  return {'reused', family[1]}
end
return {'unknown', ''}
"""

# KEYS: family, used-set. ARGV: presented hash, user id. Returns 1 when revoked.
_REVOKE = """
local family = redis.call('HMGET', KEYS[1], 'user', 'current')
if family[1] ~= ARGV[2] then return 0 end
if family[2] ~= ARGV[1] and redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'revoked', '1')
return 1
"""


class RefreshOutcome(enum.Enum):
    ROTATED = "rotated"
    REUSED = "reused"
    REVOKED = "revoked"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Rotation:
    outcome: RefreshOutcome
    user_id: str | None = None
    new_token: str | None = None


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _family_of(token: str) -> str | None:
    family, dot, secret = token.partition(".")
    if not dot or len(family) != 32 or not secret or not family.isalnum():
        return None
    return family


class RefreshTokenStore:
    def __init__(self, *, client: redis.Redis, prefix: str, ttl_seconds: int) -> None:
        self.client = client
        self.prefix = prefix
        self.ttl_seconds = ttl_seconds
        self._rotate = LuaScript(client, _ROTATE)
        self._revoke = LuaScript(client, _REVOKE)

    def _keys(self, family: str) -> list[str]:
        return [f"{self.prefix}:rt:{family}", f"{self.prefix}:rt:{family}:used"]

    @staticmethod
    def _new_token(family: str) -> str:
        return f"{family}.{secrets.token_urlsafe(32)}"

    async def start_family(self, *, user_id: str) -> str:
        family = secrets.token_hex(16)
        token = self._new_token(family)
        family_key = self._keys(family)[0]
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hset(family_key, mapping={"user": user_id, "current": _hash(token)})
            pipe.expire(family_key, self.ttl_seconds)
            await pipe.execute()
        return token

    async def rotate(self, token: str) -> Rotation:
        family = _family_of(token)
        if family is None:
            return Rotation(RefreshOutcome.UNKNOWN)
        new_token = self._new_token(family)
        outcome, user_id = await self._rotate(
            keys=self._keys(family), args=[_hash(token), _hash(new_token), self.ttl_seconds]
        )
        result = RefreshOutcome(outcome)
        if result is RefreshOutcome.ROTATED:
            return Rotation(result, user_id, new_token)
        return Rotation(result, user_id or None)

    async def revoke(self, token: str, *, user_id: str) -> bool:
        family = _family_of(token)
        if family is None:
            return False
        return bool(await self._revoke(keys=self._keys(family), args=[_hash(token), user_id]))
