"""product.deleted from RabbitMQ (dev/prod), through the platform's consumer.

Each message is handled on the service's event loop and acked only after the reviews
are gone, so a crash redelivers it (the handler is idempotent). A message that is no
readable CloudEvent, or whose data the handler refuses (InvalidEvent), goes to
``<queue>.dlq``; any other failure requeues it after a backoff.
"""

from __future__ import annotations

from typing import Any

from zipbob_platform.messaging import Broker, EventConsumer, EventHandler, QueueSpec

from ..metrics import events_consumed_total
from ..settings import RabbitConsumerSettings

HANDLER_TIMEOUT_SECONDS = 30.0


def _count(outcome: str, detail: Any) -> None:
    if outcome == "handled":
        outcome = getattr(detail, "outcome", "handled")
    elif outcome == "dead_lettered":
        outcome = "invalid"
    events_consumed_total.labels("rabbitmq", outcome).inc()


class ProductDeletedConsumer(EventConsumer):
    def __init__(
        self,
        *,
        url: str,
        settings: RabbitConsumerSettings,
        handler: EventHandler,
        heartbeat_seconds: int = 30,
    ) -> None:
        broker = Broker(
            url=url,
            exchange=settings.exchange,
            dead_letter_exchange=settings.dead_letter_exchange or Broker.dead_letter_exchange,
            heartbeat_seconds=heartbeat_seconds,
        )
        super().__init__(
            broker=broker,
            queues=[QueueSpec(settings.queue, routing_keys=(settings.routing_key,))],
            handler=handler,
            prefetch=settings.prefetch,
            handler_timeout=HANDLER_TIMEOUT_SECONDS,
            retry_initial_seconds=min(settings.reconnect_seconds, 1.0),
            retry_max_seconds=max(settings.reconnect_seconds, 30.0),
            observe=_count,
            name="review-rabbitmq",
        )
