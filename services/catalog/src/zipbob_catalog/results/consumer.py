"""Result events from RabbitMQ: queue ``catalog.image-results`` bound to resized/failed.

pika runs in its own thread; each message is applied on the app's event loop and acked
only after the database committed. Unreadable events are dead-lettered; a database
outage requeues the message and pauses.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pika

from zipbob_catalog.outbox.publishers import rabbit_parameters
from zipbob_catalog.results.schemas import RESULT_TYPES
from zipbob_catalog.results.service import apply_result
from zipbob_catalog.runtime import CatalogRuntime
from zipbob_catalog.settings import RabbitSettings
from zipbob_platform.cloudevents import CloudEvent, InvalidEvent, from_amqp
from zipbob_platform.tracing import consumer_span

log = logging.getLogger("zipbob.catalog.results")
APPLY_TIMEOUT_SECONDS = 60.0


def declare_results_queue(
    channel: pika.adapters.blocking_connection.BlockingChannel, settings: RabbitSettings
) -> None:
    queue, dlx = settings.results_queue, settings.dead_letter_exchange
    channel.exchange_declare(settings.exchange, exchange_type="topic", durable=True)
    channel.exchange_declare(dlx, exchange_type="topic", durable=True)
    channel.queue_declare(f"{queue}.dlq", durable=True)
    channel.queue_bind(f"{queue}.dlq", dlx, routing_key=queue)
    channel.queue_declare(
        queue,
        durable=True,
        arguments={"x-dead-letter-exchange": dlx, "x-dead-letter-routing-key": queue},
    )
    for event_type in sorted(RESULT_TYPES):
        channel.queue_bind(queue, settings.exchange, routing_key=event_type)


class ResultsConsumer:
    def __init__(
        self, *, runtime: CatalogRuntime, settings: RabbitSettings, loop: asyncio.AbstractEventLoop
    ) -> None:
        self.runtime = runtime
        self.settings = settings
        self.loop = loop
        self.state = "starting"
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="results-amqp", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        backoff = 0.5
        while not self._stopping.is_set():
            try:
                self._consume()
                backoff = 0.5
            except Exception as exc:
                self.state = f"disconnected: {type(exc).__name__}"
                log.warning("results consumer lost RabbitMQ (%s); retrying in %.1fs", exc, backoff)
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, 30.0)

    def _consume(self) -> None:
        parameters = rabbit_parameters(
            self.settings.url.get_secret_value(), heartbeat=self.settings.heartbeat_seconds
        )
        connection = pika.BlockingConnection(parameters)
        try:
            channel = connection.channel()
            declare_results_queue(channel, self.settings)
            channel.basic_qos(prefetch_count=self.settings.prefetch)
            self.state = "connected"
            for method, properties, body in channel.consume(
                self.settings.results_queue, inactivity_timeout=0.5
            ):
                if self._stopping.is_set():
                    break
                if method is None:
                    continue
                self._handle(channel, method, properties, body)
            channel.cancel()
        finally:
            if connection.is_open:
                connection.close()

    async def _apply_in_trace(self, event: CloudEvent) -> str:
        with consumer_span(f"consume {event.type}", event.traceparent):
            return await apply_result(runtime=self.runtime, event=event)

    def _handle(self, channel, method, properties, body: bytes) -> None:  # type: ignore[no-untyped-def]
        try:
            event = from_amqp(properties.headers, body, properties.content_type)
            future = asyncio.run_coroutine_threadsafe(self._apply_in_trace(event), self.loop)
            future.result(APPLY_TIMEOUT_SECONDS)
        except InvalidEvent as exc:
            log.warning("dead-lettering an unreadable result event: %s", exc)
            channel.basic_reject(method.delivery_tag, requeue=False)
            return
        except Exception as exc:
            log.warning("could not apply a result event, requeueing it: %s", exc)
            channel.basic_nack(method.delivery_tag, requeue=True)
            time.sleep(1.0)
            return
        channel.basic_ack(method.delivery_tag)
