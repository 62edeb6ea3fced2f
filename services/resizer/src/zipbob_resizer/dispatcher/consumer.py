"""Consume the resizer's queues, POST with bounded concurrency, ack only after a 2xx.

One channel consumes every configured queue (image.uploaded and product.deleted by
default); all deliveries share the worker pool, and each message is settled on the
channel that delivered it.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from zipbob_platform.metrics import get_or_create
from zipbob_resizer.dispatcher.delivery import Verdict, deliver
from zipbob_resizer.settings import DispatcherSettings, RabbitSettings

log = logging.getLogger("zipbob_resizer.dispatcher")


def _metrics() -> tuple[Any, Any]:
    from prometheus_client import Counter

    deliveries = get_or_create(
        Counter, "zipbob_dispatch_deliveries_total", "Events delivered, by outcome", ("outcome",)
    )
    dead = get_or_create(Counter, "zipbob_dispatch_dead_lettered_total", "Events dead-lettered")
    return deliveries, dead


def declare_topology(
    channel: Any, rabbitmq: RabbitSettings, dispatcher: DispatcherSettings
) -> None:
    dlx = rabbitmq.dead_letter_exchange
    channel.exchange_declare(rabbitmq.exchange, exchange_type="topic", durable=True)
    channel.exchange_declare(dlx, exchange_type="topic", durable=True)
    for binding in dispatcher.queues:
        queue = binding.name
        channel.queue_declare(f"{queue}.dlq", durable=True)
        channel.queue_bind(f"{queue}.dlq", dlx, routing_key=queue)
        channel.queue_declare(
            queue,
            durable=True,
            arguments={"x-dead-letter-exchange": dlx, "x-dead-letter-routing-key": queue},
        )
        channel.queue_bind(queue, rabbitmq.exchange, routing_key=binding.routing_key)


class Dispatcher:
    def __init__(
        self,
        rabbitmq: RabbitSettings,
        dispatcher: DispatcherSettings,
        *,
        auth_headers: dict[str, str] | None = None,
    ) -> None:
        self.auth_headers = auth_headers or {}  # event sender credential (event_auth)
        self.rabbitmq = rabbitmq
        self.settings = dispatcher
        self._pool = ThreadPoolExecutor(dispatcher.concurrency, thread_name_prefix="dispatch")
        self._connection: Any = None
        self._stopping = threading.Event()
        self._deliveries, self._dead = _metrics()

    def run(self) -> None:
        """Consume until stop(); reconnects after broker outages."""
        import pika
        import pika.exceptions

        while not self._stopping.is_set():
            try:
                params = pika.URLParameters(self.rabbitmq.url.get_secret_value())
                params.heartbeat = self.rabbitmq.heartbeat_seconds
                self._connection = pika.BlockingConnection(params)
                channel = self._connection.channel()
                declare_topology(channel, self.rabbitmq, self.settings)
                # Per consumer: each queue keeps `prefetch` messages in flight of its own.
                channel.basic_qos(prefetch_count=self.settings.prefetch)
                names = [binding.name for binding in self.settings.queues]
                for name in names:
                    channel.basic_consume(name, self._on_message)
                log.info("dispatching", extra={"queues": names})
                while not self._stopping.is_set():
                    self._connection.process_data_events(time_limit=0.5)
            except pika.exceptions.AMQPError as exc:
                if self._stopping.is_set():
                    break
                log.warning("broker connection lost, reconnecting", extra={"error": repr(exc)})
                self._stopping.wait(2.0)
        self._pool.shutdown(wait=True, cancel_futures=False)
        if self._connection is not None and self._connection.is_open:
            # Unacked messages are redelivered either way.
            with contextlib.suppress(pika.exceptions.AMQPError):
                self._connection.close()

    def stop(self) -> None:
        self._stopping.set()

    def _on_message(self, channel: Any, method: Any, properties: Any, body: bytes) -> None:
        self._pool.submit(self._work, channel, method.delivery_tag, properties, body)

    def _work(self, channel: Any, tag: int, properties: Any, body: bytes) -> None:
        s = self.settings
        try:
            verdict, attempts = deliver(
                headers=properties.headers,
                body=body,
                content_type=properties.content_type,
                target_url=s.target_url,
                max_attempts=s.max_attempts,
                backoff_initial=s.backoff_initial_seconds,
                backoff_max=s.backoff_max_seconds,
                timeout=s.request_timeout_seconds,
                extra_headers=self.auth_headers,
            )
        except Exception:
            log.exception("delivery crashed; leaving the message for redelivery")
            return
        self._deliveries.labels(verdict.value).inc()
        if verdict is Verdict.DEAD_LETTER:
            self._dead.inc()
            log.warning("event dead-lettered", extra={"attempts": attempts})
        settle = functools.partial(self._settle, channel, tag, verdict)
        self._connection.add_callback_threadsafe(settle)

    @staticmethod
    def _settle(channel: Any, tag: int, verdict: Verdict) -> None:
        if not channel.is_open:
            return  # the broker redelivers unacked messages on the next connection
        if verdict is Verdict.ACK:
            channel.basic_ack(tag)
        else:
            channel.basic_nack(tag, requeue=False)  # to zipbob.dlx -> <queue>.dlq
