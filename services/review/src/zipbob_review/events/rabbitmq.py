"""product.deleted from RabbitMQ (dev/prod): pika's blocking client on its own thread.

Each message is handled on the service's event loop; it is acked only after the reviews
are gone, so a crash redelivers it (the handler is idempotent). A message that is not a
readable CloudEvent is rejected without requeue (to the dead-letter exchange if one is
configured); any other failure requeues it after a pause.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pika
from pika.adapters.blocking_connection import BlockingChannel
from pika.exceptions import AMQPError

from zipbob_platform.cloudevents import CloudEvent, InvalidEvent, from_amqp
from zipbob_platform.tracing import consumer_span

from ..metrics import events_consumed_total
from ..settings import RabbitConsumerSettings

log = logging.getLogger("zipbob.review.rabbitmq")
EventHandler = Callable[[CloudEvent], Awaitable[Any]]
HANDLER_TIMEOUT_SECONDS = 30.0


class ProductDeletedConsumer:
    def __init__(
        self,
        *,
        url: str,
        settings: RabbitConsumerSettings,
        handler: EventHandler,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.parameters = pika.URLParameters(url)
        self.parameters.heartbeat = 30
        self.parameters.blocked_connection_timeout = 30
        self.settings = settings
        self.handler = handler
        self.loop = loop
        self.connected = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="review-rabbitmq", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _declare(self, channel: BlockingChannel) -> None:
        s = self.settings
        channel.exchange_declare(s.exchange, exchange_type="topic", durable=True)
        arguments: dict[str, Any] = {}
        if s.dead_letter_exchange:
            channel.exchange_declare(s.dead_letter_exchange, exchange_type="topic", durable=True)
            dead_letters = f"{s.queue}.dlq"
            channel.queue_declare(dead_letters, durable=True)
            channel.queue_bind(dead_letters, s.dead_letter_exchange, routing_key=s.routing_key)
            arguments["x-dead-letter-exchange"] = s.dead_letter_exchange
        channel.queue_declare(s.queue, durable=True, arguments=arguments or None)
        channel.queue_bind(s.queue, s.exchange, routing_key=s.routing_key)
        channel.basic_qos(prefetch_count=s.prefetch)

    def _run(self) -> None:
        while not self._stop.is_set():
            connection = None
            try:
                connection = pika.BlockingConnection(self.parameters)
                channel = connection.channel()
                self._declare(channel)
                channel.basic_consume(self.settings.queue, self._on_message)
                self.connected.set()
                log.info("consuming %s", self.settings.queue)
                while not self._stop.is_set():
                    connection.process_data_events(time_limit=0.5)
            except AMQPError as exc:
                log.warning("rabbitmq consumer disconnected: %r; retrying", exc)
            except Exception:
                log.exception("rabbitmq consumer failed; retrying")
            finally:
                self.connected.clear()
                if connection is not None and connection.is_open:
                    with contextlib.suppress(AMQPError):
                        connection.close()
            self._stop.wait(self.settings.reconnect_seconds)

    async def _handle_in_trace(self, event: CloudEvent) -> Any:
        with consumer_span(f"consume {event.type}", event.traceparent):
            return await self.handler(event)

    def _on_message(
        self,
        channel: BlockingChannel,
        method: Any,
        properties: pika.BasicProperties,
        body: bytes,
    ) -> None:
        try:
            event = from_amqp(properties.headers, body, properties.content_type)
        except InvalidEvent as exc:
            log.warning("rejecting unreadable event: %s", exc)
            events_consumed_total.labels("rabbitmq", "invalid").inc()
            channel.basic_reject(method.delivery_tag, requeue=False)
            return
        future = asyncio.run_coroutine_threadsafe(self._handle_in_trace(event), self.loop)
        try:
            result = future.result(HANDLER_TIMEOUT_SECONDS)
        except InvalidEvent as exc:
            log.warning("rejecting event %s: %s", event.id, exc)
            events_consumed_total.labels("rabbitmq", "invalid").inc()
            channel.basic_reject(method.delivery_tag, requeue=False)
            return
        except Exception as exc:
            future.cancel()
            log.warning("event %s failed, requeued: %r", event.id, exc)
            events_consumed_total.labels("rabbitmq", "retry").inc()
            time.sleep(min(self.settings.reconnect_seconds, 1.0))
            channel.basic_nack(method.delivery_tag, requeue=True)
            return
        events_consumed_total.labels("rabbitmq", getattr(result, "outcome", "handled")).inc()
        channel.basic_ack(method.delivery_tag)
