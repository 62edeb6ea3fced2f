"""The platform's RabbitMQ layer on the real broker: confirms, order, the queue
convention, and what the consumer does with each handler outcome."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pika
import pytest

from zipbob_devkit.faults import TcpProxy
from zipbob_devkit.testing import eventually, unique_name
from zipbob_platform import events
from zipbob_platform.cloudevents import CloudEvent, InvalidEvent, from_amqp, new_event
from zipbob_platform.messaging import (
    Broker,
    ConfirmedPublisher,
    EventConsumer,
    PublishFailed,
    QueueSpec,
    RejectEvent,
    connect,
    declare_queue,
)
from zipbob_platform.messaging.topology import QueueMismatch

pytestmark = pytest.mark.integration
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def _pika(url: str, work: Any) -> Any:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        return work(connection.channel())
    finally:
        connection.close()


_DECLARED: list[str] = []


@pytest.fixture
async def broker(rabbitmq_url: str) -> AsyncIterator[Broker]:
    made = Broker(
        url=rabbitmq_url,
        exchange=unique_name("test.messaging.events"),
        dead_letter_exchange=unique_name("test.messaging.dlx"),
        heartbeat_seconds=7,
    )
    queues = _DECLARED
    yield made

    def cleanup(channel: Any) -> None:
        for queue in queues:
            channel.queue_delete(queue)
            channel.queue_delete(f"{queue}.dlq")
        channel.exchange_delete(made.exchange)
        channel.exchange_delete(made.dead_letter_exchange)
        queues.clear()

    await asyncio.to_thread(_pika, rabbitmq_url, cleanup)


async def _queue(broker: Broker, *routing_keys: str) -> QueueSpec:
    spec = QueueSpec(unique_name("test.messaging.q"), routing_keys=routing_keys)
    _DECLARED.append(spec.name)
    connection = await connect(broker)
    async with connection:
        await declare_queue(await connection.channel(), broker, spec)
    return spec


def _get_all(url: str, queue: str) -> list[tuple[Any, bytes]]:
    def work(channel: Any) -> list[tuple[Any, bytes]]:
        found = []
        while True:
            method, properties, body = channel.basic_get(queue, auto_ack=True)
            if method is None:
                return found
            found.append((properties, body))

    return _pika(url, work)


@contextlib.asynccontextmanager
async def _consuming(
    broker: Broker, spec: QueueSpec, handler: Any, **options: Any
) -> AsyncIterator[EventConsumer]:
    """A consumer with quick test back-off, connected before the block runs, stopped after."""
    consumer = EventConsumer(
        broker=broker,
        queues=[spec],
        handler=handler,
        retry_initial_seconds=0.05,
        retry_max_seconds=0.2,
        **options,
    )
    consumer.start()
    try:
        await asyncio.wait_for(consumer.connected.wait(), 20)
        yield consumer
    finally:
        await consumer.stop()


@pytest.fixture
def cuttable(broker: Broker) -> Iterator[tuple[TcpProxy, Broker]]:
    """The test broker reached through a TCP proxy the test can cut and restore."""
    proxy = TcpProxy(5672).start()
    yield (
        proxy,
        Broker(
            url=f"amqp://guest:guest@{proxy.url_host_port}/%2F",
            exchange=broker.exchange,
            dead_letter_exchange=broker.dead_letter_exchange,
        ),
    )
    proxy.stop()


async def test_a_batch_is_confirmed_persistent_binary_mode_and_in_order(broker) -> None:
    spec = await _queue(broker, events.IMAGE_UPLOADED)
    publisher = ConfirmedPublisher(broker)
    batch = [
        new_event(events.IMAGE_UPLOADED, events.CATALOG_SOURCE, {"product_id": "p", "n": n})
        for n in range(250)
    ]
    batch[0].extensions["traceparent"] = TRACEPARENT
    try:
        assert await publisher.publish_batch(batch) == (250, None)
        assert publisher.state == "connected"
    finally:
        await publisher.close()
    messages = await asyncio.to_thread(_get_all, broker.url, spec.name)
    assert [from_amqp(p.headers, b, p.content_type).id for p, b in messages] == [
        e.id for e in batch
    ]
    properties, _ = messages[0]
    assert properties.delivery_mode == 2
    assert properties.message_id == batch[0].id
    assert properties.content_type == "application/json"
    assert properties.headers["ce-type"] == events.IMAGE_UPLOADED
    assert properties.headers["ce-traceparent"] == TRACEPARENT


async def test_a_cut_connection_fails_the_publish_and_the_next_one_reconnects(
    broker, cuttable
) -> None:
    spec = await _queue(broker, events.IMAGE_FAILED)
    proxy, proxied = cuttable
    publisher = ConfirmedPublisher(proxied, confirm_timeout=5)
    first, second = (
        new_event(events.IMAGE_FAILED, events.RESIZER_SOURCE, {"n": n}) for n in (1, 2)
    )
    try:
        await publisher.publish(first)
        proxy.cut()
        with pytest.raises(PublishFailed):
            await publisher.publish(second)
        assert publisher.state.startswith("disconnected")
        proxy.restore()
        await publisher.publish(second)
    finally:
        await publisher.close()
    messages = await asyncio.to_thread(_get_all, broker.url, spec.name)
    assert [from_amqp(p.headers, b, p.content_type).id for p, b in messages] == [
        first.id,
        second.id,
    ]


async def test_queue_convention_dead_letters_by_queue_name(broker) -> None:
    spec = await _queue(broker, events.PRODUCT_DELETED)
    # Declaring again with the same convention is a no-op, never PRECONDITION_FAILED.
    spec = QueueSpec(spec.name, routing_keys=spec.routing_keys)
    connection = await connect(broker)
    async with connection:
        assert connection.transport.connection.heartbeat_timeout == 7  # from settings
        queue = await declare_queue(await connection.channel(), broker, spec)
        assert queue.arguments == {
            "x-dead-letter-exchange": broker.dead_letter_exchange,
            "x-dead-letter-routing-key": spec.name,
        }

        def reject_one(channel: Any) -> int:
            channel.basic_publish(broker.exchange, events.PRODUCT_DELETED, b"x")
            for _ in range(100):
                method, _properties, _body = channel.basic_get(spec.name)
                if method is not None:
                    channel.basic_reject(method.delivery_tag, requeue=False)
                    return 1
                channel.connection.sleep(0.05)
            return 0

        assert await asyncio.to_thread(_pika, broker.url, reject_one) == 1
    dead = await eventually(lambda: asyncio.to_thread(_get_all, broker.url, spec.dead_letter_queue))
    assert [body for _, body in dead] == [b"x"]


async def test_consumer_acks_dead_letters_and_retries_with_backoff(broker) -> None:
    spec = await _queue(broker, events.IMAGE_RESIZED)
    handled: list[str] = []
    attempts: dict[str, int] = {}
    outcomes: list[str] = []

    async def handler(event: CloudEvent) -> str:
        attempts[event.data["kind"]] = attempts.get(event.data["kind"], 0) + 1
        if event.data["kind"] == "reject":
            raise RejectEvent("never")
        if event.data["kind"] == "invalid":
            raise InvalidEvent("bad data")
        if event.data["kind"] == "flaky" and attempts["flaky"] < 3:
            raise RuntimeError("database down")
        handled.append(event.data["kind"])
        return "applied"

    def observe(outcome: str, _detail: Any) -> None:
        outcomes.append(outcome)

    async with _consuming(broker, spec, handler, observe=observe, name="test") as consumer:
        publisher = ConfirmedPublisher(broker)
        try:
            batch = [
                new_event(events.IMAGE_RESIZED, events.RESIZER_SOURCE, {"kind": kind})
                for kind in ("ok", "reject", "invalid", "flaky", "last")
            ]
            assert await publisher.publish_batch(batch) == (5, None)

            def junk(channel: Any) -> None:
                channel.basic_publish(
                    broker.exchange, events.IMAGE_RESIZED, b"{}", pika.BasicProperties()
                )

            await asyncio.to_thread(_pika, broker.url, junk)

            async def dead_letters() -> int:
                return len(await asyncio.to_thread(_get_all, broker.url, spec.dead_letter_queue))

            dead = 0

            async def three_dead() -> bool:
                nonlocal dead
                dead += await dead_letters()
                return dead == 3 and {"flaky", "last"} <= set(handled)

            await eventually(three_dead)
        finally:
            await publisher.close()
    # In order, except that a retried message comes back behind those already prefetched.
    assert handled in (["ok", "flaky", "last"], ["ok", "last", "flaky"])
    assert attempts == {"ok": 1, "reject": 1, "invalid": 1, "flaky": 3, "last": 1}
    assert outcomes.count("retry") == 2 and outcomes.count("dead_lettered") == 3
    assert consumer.state == "connected"


async def test_consumer_reconnects_after_a_cut_connection(broker, cuttable) -> None:
    spec = await _queue(broker, events.PRODUCT_DELETED)
    proxy, proxied = cuttable
    seen: list[str] = []

    async def handler(event: CloudEvent) -> None:
        seen.append(event.id)

    publisher = ConfirmedPublisher(broker)
    event = new_event(events.PRODUCT_DELETED, events.CATALOG_SOURCE, {"product_id": "p"})
    try:
        async with _consuming(proxied, spec, handler, name="test-reconnect") as consumer:
            proxy.cut()

            async def lost() -> bool:
                return consumer.state.startswith("disconnected")

            await eventually(lost)
            await publisher.publish(event)  # while the consumer is away: waits in its queue
            proxy.restore()

            async def handled() -> bool:
                return event.id in seen

            await eventually(handled)
    finally:
        await publisher.close()
    assert seen == [event.id]


async def test_a_queue_declared_with_other_arguments_is_named_with_the_fix(broker) -> None:
    """A queue from before the convention (review's had no dead-letter routing key)."""
    name = unique_name("test.messaging.old")
    _DECLARED.append(name)

    def old_style(channel: Any) -> None:
        channel.queue_declare(
            name, durable=True, arguments={"x-dead-letter-exchange": broker.dead_letter_exchange}
        )

    await asyncio.to_thread(_pika, broker.url, old_style)
    connection = await connect(broker)
    async with connection:
        with pytest.raises(QueueMismatch, match=f"rabbitmqctl delete_queue {name}"):
            await declare_queue(await connection.channel(), broker, QueueSpec(name))
