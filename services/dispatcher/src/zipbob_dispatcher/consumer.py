"""Consume the configured queues and deliver each event over HTTP (platform consumer),
Knative-style, through the platform's one HTTP event client (``http_delivery``).

2xx: delivered, acked. 422: the target refused the event for good and already reported it
(the resizer emits image.failed), so acked too. 408, 425, 429, 5xx or no answer: retried
with backoff (or the target's Retry-After) up to ``max_attempts``. Any other answer, or
attempts exhausted: dead-lettered (RejectEvent, to ``<queue>.dlq``). A crash of the
dispatcher itself leaves the message for redelivery. ``concurrency`` deliveries run at
once across all queues.
"""

from __future__ import annotations

import enum
import logging
from typing import Any

from zipbob_dispatcher.settings import DeliverySettings, RabbitSettings
from zipbob_platform.cloudevents import CloudEvent, EventHeaders
from zipbob_platform.messaging import Broker, EventConsumer, QueueSpec, RejectEvent
from zipbob_platform.messaging.http_delivery import EventPoster, Outcome
from zipbob_platform.metrics import get_or_create

log = logging.getLogger("zipbob_dispatcher")
HANDLED_FAILURE = 422


class Verdict(enum.Enum):
    ACK = "delivered"
    DEAD_LETTER = "dead_lettered"


def _metrics() -> tuple[Any, Any]:
    from prometheus_client import Counter

    deliveries = get_or_create(
        Counter, "zipbob_dispatch_deliveries_total", "Events delivered, by outcome", ("outcome",)
    )
    dead = get_or_create(Counter, "zipbob_dispatch_dead_lettered_total", "Events dead-lettered")
    return deliveries, dead


def queue_specs(settings: DeliverySettings) -> list[QueueSpec]:
    return [QueueSpec(q.name, routing_keys=(q.routing_key,)) for q in settings.queues]


class Dispatcher(EventConsumer):
    def __init__(
        self,
        rabbitmq: RabbitSettings,
        settings: DeliverySettings,
        *,
        event_headers: EventHeaders | None = None,
    ) -> None:
        self.settings = settings
        self.target = EventPoster(
            sender="dispatcher",
            timeout_seconds=settings.request_timeout_seconds,
            event_headers=event_headers,  # event sender credential (event_auth)
            # A Retry-After beyond the backoff cap would outlast the handler bound below.
            max_retry_after_seconds=settings.backoff_max_seconds,
            pool_size=max(settings.concurrency, 8),
        )
        self._deliveries, self._dead = _metrics()
        super().__init__(
            broker=Broker.from_settings(rabbitmq),
            queues=queue_specs(settings),
            handler=self._deliver,
            prefetch=settings.prefetch,
            concurrency=settings.concurrency,
            # Retries live in deliver(); the bound covers every attempt and its backoff.
            handler_timeout=settings.max_attempts
            * (settings.request_timeout_seconds + settings.backoff_max_seconds),
            observe=self._count_unreadable,
            name="dispatcher",
        )

    def _count_unreadable(self, outcome: str, detail: Any) -> None:
        if outcome == "dead_lettered" and not isinstance(detail, RejectEvent):
            self._deliveries.labels(Verdict.DEAD_LETTER.value).inc()
            self._dead.inc()

    async def _deliver(self, event: CloudEvent) -> Verdict:
        s = self.settings
        answer, attempts = await self.target.deliver(
            s.target_url,
            event,
            max_attempts=s.max_attempts,
            backoff_initial_seconds=s.backoff_initial_seconds,
            backoff_max_seconds=s.backoff_max_seconds,
        )
        status = answer.status
        handled = answer.delivered or (
            answer.outcome is Outcome.PERMANENT and status == HANDLED_FAILURE
        )
        verdict = Verdict.ACK if handled else Verdict.DEAD_LETTER
        self._deliveries.labels(verdict.value).inc()
        if verdict is Verdict.DEAD_LETTER:
            self._dead.inc()
            log.warning(
                "event dead-lettered",
                extra={"event_id": event.id, "attempts": attempts, "status": status},
            )
            raise RejectEvent(f"{event.type} {event.id}: HTTP {status} after {attempts} attempts")
        return verdict

    async def stop(self, *, within_seconds: float = 10.0) -> None:
        await super().stop(within_seconds=within_seconds)
        await self.target.close()
