"""What the dispatcher tells the broker for each answer of a real HTTP target (no broker:
the handler is called directly, the way the platform consumer calls it)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from zipbob_devkit.embedded import free_port
from zipbob_dispatcher.consumer import Dispatcher, Verdict
from zipbob_dispatcher.settings import DeliverySettings, RabbitSettings
from zipbob_platform import events
from zipbob_platform.cloudevents import new_event
from zipbob_platform.messaging import RejectEvent

pytestmark = pytest.mark.integration


@pytest.fixture
async def target() -> AsyncIterator[tuple[str, list[int], list[int]]]:
    script: list[int] = [204]
    answered: list[int] = []

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        status = script.pop(0) if len(script) > 1 else script[0]
        answered.append(status)
        if 300 <= status < 400:
            return web.Response(status=status, headers={"Location": "/"})
        return web.Response(status=status)

    app = web.Application()
    app.router.add_post("/", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}/", script, answered
    await runner.cleanup()


@pytest.mark.parametrize(
    ("script", "verdict", "answered"),
    [
        ([204], Verdict.ACK, [204]),
        ([422], Verdict.ACK, [422]),  # refused for good and already reported by the target
        ([404], Verdict.DEAD_LETTER, [404]),
        ([400], Verdict.DEAD_LETTER, [400]),
        ([307], Verdict.DEAD_LETTER, [307]),  # a redirect is not followed
        ([503, 429, 408, 425, 200], Verdict.ACK, [503, 429, 408, 425, 200]),
        ([503], Verdict.DEAD_LETTER, [503] * 5),  # attempts exhausted
    ],
)
async def test_verdict_for_each_answer(target, script, verdict, answered) -> None:
    url, target_script, got = target
    target_script[:] = script
    settings = DeliverySettings(
        target_url=url,
        max_attempts=5,
        backoff_initial_seconds=0.01,
        backoff_max_seconds=0.02,
        request_timeout_seconds=5,
    )
    dispatcher = Dispatcher(RabbitSettings(url="amqp://unused/"), settings)
    event = new_event(events.IMAGE_UPLOADED, events.CATALOG_SOURCE, {"product_id": "p"})
    try:
        if verdict is Verdict.ACK:
            assert await dispatcher._deliver(event) is Verdict.ACK
        else:
            with pytest.raises(RejectEvent, match=f"HTTP {script[-1]} after {len(answered)}"):
                await dispatcher._deliver(event)
    finally:
        await dispatcher.target.close()
    assert got == answered
