"""Events the catalog consumes from RabbitMQ: queue ``catalog.image-results``.

Bound to the resizer's results and the review service's rating summaries. Each event is
applied on the app's loop and acked once the database committed (platform consumer):
an unreadable event is dead-lettered, a database outage requeues it after a backoff.
"""

from __future__ import annotations

from zipbob_catalog.results.service import apply_result
from zipbob_catalog.runtime import CatalogRuntime
from zipbob_catalog.settings import RabbitSettings
from zipbob_platform import events
from zipbob_platform.cloudevents import CloudEvent
from zipbob_platform.messaging import Broker, EventConsumer, QueueSpec

APPLY_TIMEOUT_SECONDS = 60.0
CONSUMED_TYPES = (events.IMAGE_RESIZED, events.IMAGE_FAILED, events.REVIEW_SUMMARY_CHANGED)


def results_queue(settings: RabbitSettings) -> QueueSpec:
    return QueueSpec(settings.results_queue, routing_keys=CONSUMED_TYPES)


class ResultsConsumer(EventConsumer):
    def __init__(self, *, runtime: CatalogRuntime, settings: RabbitSettings) -> None:
        async def handle(event: CloudEvent) -> str:
            return await apply_result(runtime=runtime, event=event)

        super().__init__(
            broker=Broker.from_settings(settings),
            queues=[results_queue(settings)],
            handler=handle,
            prefetch=settings.prefetch,
            handler_timeout=APPLY_TIMEOUT_SECONDS,
            name="results",
        )
