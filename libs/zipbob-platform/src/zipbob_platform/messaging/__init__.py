"""RabbitMQ for every ZipBob process (SPEC 4), on asyncio (aio-pika).

- ``topology``: ``Broker`` (URL, exchanges, heartbeat from settings), ``QueueSpec`` and the
  one queue-declaration convention with dead-lettering;
- ``publisher``: ``ConfirmedPublisher``, persistent binary-mode CloudEvents, confirmed;
- ``consumer``: ``EventConsumer``, ack / ``RejectEvent`` -> dead letter / retry with backoff.

Why aio-pika rather than pika's blocking client on a thread: no thread bridge to
write five times, and pipelined confirms (bench/bench_messaging.py).
"""

from __future__ import annotations

from .consumer import EventConsumer, EventHandler, RejectEvent
from .publisher import ConfirmedPublisher, PublishFailed
from .topology import Broker, QueueSpec, connect, declare_exchange, declare_queue

__all__ = [
    "Broker",
    "ConfirmedPublisher",
    "EventConsumer",
    "EventHandler",
    "PublishFailed",
    "QueueSpec",
    "RejectEvent",
    "connect",
    "declare_exchange",
    "declare_queue",
]
