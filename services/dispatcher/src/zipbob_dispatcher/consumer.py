"""Consume the configured queues and deliver each event over HTTP (platform consumer).

A delivered event is acked; a refused or exhausted one is dead-lettered (RejectEvent,
to ``<queue>.dlq``); a crash of the dispatcher itself leaves it for redelivery.
``concurrency`` deliveries run at once across all queues.
"""

from __future__ import annotations

import logging
from typing import Any

from zipbob_dispatcher.delivery import HttpTarget, Verdict, deliver
from zipbob_dispatcher.settings import DeliverySettings, RabbitSettings
from zipbob_platform.cloudevents import CloudEvent
from zipbob_platform.messaging import Broker, EventConsumer, QueueSpec, RejectEvent
from zipbob_platform.metrics import get_or_create

log = logging.getLogger("zipbob_dispatcher")


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
        auth_headers: dict[str, str] | None = None,
    ) -> None:
        self.settings = settings
        self.auth_headers = auth_headers or {}  # event sender credential (event_auth)
        self.target = HttpTarget()
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
        verdict, attempts, status = await deliver(
            event,
            target_url=s.target_url,
            max_attempts=s.max_attempts,
            backoff_initial=s.backoff_initial_seconds,
            backoff_max=s.backoff_max_seconds,
            request_seconds=s.request_timeout_seconds,
            post=self.target.post,
            extra_headers=self.auth_headers,
        )
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
