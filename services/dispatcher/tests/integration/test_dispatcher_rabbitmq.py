"""The dispatcher on the real RabbitMQ, feeding a real HTTP target that fails, vanishes
and comes back: delivered events are acked once, refused ones dead-lettered."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pika
import pytest
from aiohttp import web

from zipbob_devkit.embedded import free_port
from zipbob_devkit.testing import unique_name
from zipbob_dispatcher.consumer import Dispatcher
from zipbob_dispatcher.settings import DeliverySettings, RabbitSettings
from zipbob_platform import events
from zipbob_platform.cloudevents import from_http, new_event, static_headers, to_amqp

pytestmark = pytest.mark.integration


class Target:
    """An HTTP server answering from a script of statuses (the last one repeats), or, for
    an event whose data has ``answer``, with that status (concurrent deliveries)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.script: list[int] = [204]
        self.received: list[Any] = []
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        event = from_http(dict(request.headers), await request.read())
        event.extensions["token"] = request.headers.get("X-ZipBob-Event-Token", "")
        status = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(event.data, dict) and "answer" in event.data:
            status = event.data["answer"]
        self.received.append((event, status))
        return web.Response(status=status, headers={"Retry-After": "0"} if status == 429 else {})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def _blocking(url: str, work: Any) -> Any:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        return work(connection.channel())
    finally:
        connection.close()


def publish(rabbit: RabbitSettings, routing_key: str, headers: dict, body: bytes, ctype) -> None:
    def work(channel: Any) -> None:
        channel.confirm_delivery()
        properties = pika.BasicProperties(headers=headers, content_type=ctype, delivery_mode=2)
        channel.basic_publish(rabbit.exchange, routing_key, body, properties)

    _blocking(rabbit.url.get_secret_value(), work)


def depth(rabbit: RabbitSettings, queue: str) -> int:
    return _blocking(
        rabbit.url.get_secret_value(),
        lambda channel: channel.queue_declare(queue, passive=True).method.message_count,
    )


async def wait_for(predicate: Any, timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while not await predicate():
            await asyncio.sleep(0.05)


@pytest.fixture
async def setup(
    request: pytest.FixtureRequest, rabbitmq_url: str
) -> AsyncIterator[tuple[Dispatcher, Target, RabbitSettings]]:
    max_attempts = getattr(request, "param", 4)
    rabbit = RabbitSettings(
        url=rabbitmq_url,
        exchange=unique_name("test.dispatch.events"),
        dead_letter_exchange=unique_name("test.dispatch.dlx"),
    )
    config = DeliverySettings(
        queues=[
            {"name": unique_name("test.dispatch.uploaded"), "routing_key": events.IMAGE_UPLOADED},
            {"name": unique_name("test.dispatch.deleted"), "routing_key": events.PRODUCT_DELETED},
        ],
        target_url="",
        max_attempts=max_attempts,
        backoff_initial_seconds=0.1,
        backoff_max_seconds=0.4,
        request_timeout_seconds=5,
        concurrency=2,
    )
    target = Target(free_port())
    config.target_url = f"http://127.0.0.1:{target.port}/"
    dispatcher = Dispatcher(
        rabbit, config, event_headers=static_headers({"X-ZipBob-Event-Token": "sesame"})
    )
    dispatcher.start()
    await asyncio.wait_for(dispatcher.connected.wait(), 20)
    yield dispatcher, target, rabbit
    await dispatcher.stop()
    await target.stop()

    def cleanup(channel: Any) -> None:
        for queue in config.queues:
            channel.queue_delete(queue.name)
            channel.queue_delete(f"{queue.name}.dlq")
        channel.exchange_delete(rabbit.exchange)
        channel.exchange_delete(rabbit.dead_letter_exchange)

    await asyncio.to_thread(_blocking, rabbitmq_url, cleanup)


@pytest.mark.parametrize("setup", [200], indirect=True)  # ~40 s of retries at most
async def test_retries_until_the_target_is_back_then_acks(setup) -> None:
    dispatcher, target, rabbit = setup
    uploaded, deleted = (q.name for q in dispatcher.settings.queues)
    event = new_event(events.IMAGE_UPLOADED, events.CATALOG_SOURCE, {"product_id": "p1"})
    await asyncio.to_thread(publish, rabbit, event.type, *to_amqp(event))
    # Nothing listens yet: the dispatcher's attempts are refused connections. Then the
    # target comes up answering 503 once before it takes the event.
    await wait_for(lambda: asyncio.to_thread(lambda: depth(rabbit, uploaded) == 0))
    target.script = [503, 204]
    await target.start()
    await wait_for(lambda: _true(any(s == 204 for _, s in target.received)))
    gone = new_event(events.PRODUCT_DELETED, events.CATALOG_SOURCE, {"product_id": "p1"})
    await asyncio.to_thread(publish, rabbit, gone.type, *to_amqp(gone))
    await wait_for(lambda: _true(any(e.id == gone.id for e, _ in target.received)))
    delivered = [e.id for e, s in target.received if s == 204]
    assert delivered == [event.id, gone.id]
    assert target.received[0][0].traceparent == event.traceparent
    assert target.received[0][0].data == {"product_id": "p1"}
    assert target.received[0][0].extensions["token"] == "sesame"  # the sender credential

    async def settled() -> bool:
        depths = await asyncio.to_thread(
            lambda: [depth(rabbit, n) for n in (uploaded, deleted, f"{uploaded}.dlq")]
        )
        return depths == [0, 0, 0]

    await wait_for(settled)


async def test_refused_exhausted_and_unreadable_events_are_dead_lettered(setup) -> None:
    dispatcher, target, rabbit = setup
    uploaded = dispatcher.settings.queues[0].name
    await target.start()
    # 404: refused for good, dead-lettered at once. 422: refused but already reported by
    # the target (image.failed), acked. 500 always: retried until attempts run out.
    # 429 (Retry-After 0) then 503 once each before the 204: retried, then delivered.
    refused = new_event(events.IMAGE_UPLOADED, events.CATALOG_SOURCE, {"n": 1, "answer": 404})
    handled = new_event(events.IMAGE_UPLOADED, events.CATALOG_SOURCE, {"n": 2, "answer": 422})
    exhausted = new_event(events.IMAGE_UPLOADED, events.CATALOG_SOURCE, {"n": 3, "answer": 500})
    for event in (refused, handled, exhausted):
        await asyncio.to_thread(publish, rabbit, event.type, *to_amqp(event))
    await asyncio.to_thread(
        publish, rabbit, events.IMAGE_UPLOADED, {"x": "1"}, b"not an event", "application/json"
    )
    await wait_for(lambda: asyncio.to_thread(lambda: depth(rabbit, f"{uploaded}.dlq") == 3))
    target.script = [429, 503, 204]
    late = new_event(events.IMAGE_UPLOADED, events.CATALOG_SOURCE, {"n": 4})
    await asyncio.to_thread(publish, rabbit, late.type, *to_amqp(late))
    await wait_for(lambda: _true(any(s == 204 for _, s in target.received)))
    attempts: dict[int, list[int]] = {}
    for event, status in target.received:
        attempts.setdefault(event.data["n"], []).append(status)
    assert attempts == {1: [404], 2: [422], 3: [500] * 4, 4: [429, 503, 204]}

    async def settled() -> bool:
        depths = await asyncio.to_thread(
            lambda: [depth(rabbit, n) for n in (uploaded, f"{uploaded}.dlq")]
        )
        return depths == [0, 3]

    await wait_for(settled)


async def _true(value: bool) -> bool:
    return value
