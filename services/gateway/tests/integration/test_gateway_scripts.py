"""Lua scripts go by EVALSHA, with one EVAL when the server answers NOSCRIPT: on the real
Redis and on the local profile's embedded one (which must keep the connection after it)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as redis

from zipbob_devkit.embedded import start_redis
from zipbob_gateway.redis_client import LuaScript

pytestmark = pytest.mark.integration


class RecordingRedis(redis.Redis):
    """A real client that notes the name of every command it sends."""

    sent: list[str]

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        self.sent.append(str(args[0]).upper())
        return await super().execute_command(*args, **options)


@pytest.fixture(params=["real", "embedded"])
async def client(request: pytest.FixtureRequest, redis_url: str) -> AsyncIterator[RecordingRedis]:
    server = start_redis() if request.param == "embedded" else None
    recording = RecordingRedis.from_url(server.url if server else redis_url, decode_responses=True)
    recording.sent = []
    yield recording
    await recording.aclose()
    if server is not None:
        server.stop()


async def test_a_script_is_sent_once_then_called_by_its_digest(client: RecordingRedis) -> None:
    # A fresh source (hence a digest no server has cached) without flushing the shared Redis.
    marker = uuid.uuid4().hex
    script = LuaScript(client, f"-- {marker}\nreturn {{KEYS[1], ARGV[1]}}")
    key = f"zipbob:test:{marker}"
    assert await client.script_exists(script.sha) == [False]
    client.sent.clear()

    assert await script(keys=[key], args=["first"]) == [key, "first"]
    assert client.sent == ["EVALSHA", "EVAL"]  # NOSCRIPT, then the source once
    assert await client.script_exists(script.sha) == [True]

    client.sent.clear()
    for n in range(3):
        assert await script(keys=[key], args=[str(n)]) == [key, str(n)]
    assert client.sent == ["EVALSHA"] * 3
    assert await client.ping()  # the connection survived the NOSCRIPT reply
