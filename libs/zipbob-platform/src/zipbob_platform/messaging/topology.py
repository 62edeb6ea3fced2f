"""How every ZipBob process connects to RabbitMQ and declares what it uses (SPEC 4).

One convention for all queues: a durable topic exchange for events, a durable topic
dead-letter exchange, and per queue ``<queue>`` plus ``<queue>.dlq``. The queue carries
both ``x-dead-letter-exchange`` and ``x-dead-letter-routing-key = <queue>``, and the
``.dlq`` is bound on the DLX by the queue's name, so a rejected message lands in the
dead-letter queue of the queue that rejected it, whatever its original routing key.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange, AbstractQueue
from aiormq.exceptions import ChannelPreconditionFailed
from pamqp.common import FieldTable

CONNECT_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class Broker:
    """Where the broker is and how to talk to it; built from a service's settings."""

    url: str
    exchange: str = "zipbob.events"
    dead_letter_exchange: str = "zipbob.dlx"
    heartbeat_seconds: int = 30

    @classmethod
    def from_settings(cls, settings: Any) -> Broker:
        """Any settings section with ``url`` (a SecretStr), ``exchange``, and optionally
        ``dead_letter_exchange`` and ``heartbeat_seconds``."""
        url = settings.url
        return cls(
            url=url.get_secret_value() if hasattr(url, "get_secret_value") else str(url),
            exchange=settings.exchange,
            dead_letter_exchange=getattr(settings, "dead_letter_exchange", None) or "zipbob.dlx",
            heartbeat_seconds=getattr(settings, "heartbeat_seconds", 30),
        )


class QueueMismatch(Exception):
    """A queue of that name exists with other arguments: RabbitMQ refuses to redeclare it."""


@dataclass(frozen=True)
class QueueSpec:
    """A consumer's queue and the event types (routing keys) it is bound to."""

    name: str
    routing_keys: tuple[str, ...] = field(default_factory=tuple)

    @property
    def dead_letter_queue(self) -> str:
        return f"{self.name}.dlq"


async def connect(broker: Broker) -> AbstractConnection:
    """A plain (not "robust") connection: callers own reconnecting, with their backoff."""
    url = aio_pika.connection.make_url(broker.url, heartbeat=broker.heartbeat_seconds)
    connection = aio_pika.Connection(url)
    try:
        await connection.connect(timeout=CONNECT_TIMEOUT_SECONDS)
    except BaseException:
        # Closed here, or aio-pika's finaliser schedules a close nobody awaits.
        with contextlib.suppress(Exception):
            await connection.close()
        raise
    return connection


def underlay(connection: AbstractConnection) -> Any:
    """aiormq's connection under aio-pika's: the one that notices a dead socket (aio-pika
    10.2's plain Connection keeps ``is_closed`` False and ``closed()`` pending)."""
    transport = connection.transport
    return None if transport is None else transport.connection


def is_open(connection: AbstractConnection | None) -> bool:
    if connection is None or connection.is_closed:
        return False
    inner = underlay(connection)
    return inner is not None and not inner.is_closed


async def declare_exchange(channel: AbstractChannel, name: str) -> AbstractExchange:
    return await channel.declare_exchange(name, aio_pika.ExchangeType.TOPIC, durable=True)


async def declare_queue(channel: AbstractChannel, broker: Broker, spec: QueueSpec) -> AbstractQueue:
    """Exchange, DLX, ``<queue>.dlq`` and ``<queue>`` with its bindings; idempotent."""
    events = await declare_exchange(channel, broker.exchange)
    dead_letters = await declare_exchange(channel, broker.dead_letter_exchange)
    dlq = await channel.declare_queue(spec.dead_letter_queue, durable=True)
    await dlq.bind(dead_letters, routing_key=spec.name)
    arguments: FieldTable = {
        "x-dead-letter-exchange": broker.dead_letter_exchange,
        "x-dead-letter-routing-key": spec.name,
    }
    try:
        queue = await channel.declare_queue(spec.name, durable=True, arguments=arguments)
    except ChannelPreconditionFailed as exc:
        raise QueueMismatch(
            f"queue {spec.name!r} exists with other arguments than {arguments} (declared "
            f"before this convention?); once its consumers are updated, delete it: "
            f"rabbitmqctl delete_queue {spec.name}"
        ) from exc
    for routing_key in spec.routing_keys:
        await queue.bind(events, routing_key=routing_key)
    return queue


async def declare_queues(
    channel: AbstractChannel, broker: Broker, specs: Iterable[QueueSpec]
) -> list[AbstractQueue]:
    return [await declare_queue(channel, broker, spec) for spec in specs]
