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
from ..settings import RabbitConsumerSettings, RabbitSettings

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
        rabbitmq: RabbitSettings,
        settings: RabbitConsumerSettings,
        handler: EventHandler,
    ) -> None:
        super().__init__(
            broker=Broker.from_settings(rabbitmq),
            queues=[QueueSpec(settings.queue, routing_keys=(settings.routing_key,))],
            handler=handler,
            prefetch=settings.prefetch,
            handler_timeout=HANDLER_TIMEOUT_SECONDS,
            retry_initial_seconds=min(settings.reconnect_seconds, 1.0),
            retry_max_seconds=max(settings.reconnect_seconds, 30.0),
            observe=_count,
            name="review-rabbitmq",
        )
