"""Where result events go: the HTTP reply (Knative), RabbitMQ, or an HTTP sink (local)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any

from zipbob_platform.cloudevents import CloudEvent, to_amqp, to_http_binary
from zipbob_resizer.settings import RabbitSettings, ResultSettings


class ResultDeliveryFailed(Exception):
    """The result could not be handed on: answer 5xx so the event is delivered again."""


class ResultSender:
    """Sends result events for the `http` and `rabbitmq` modes; `reply` needs no sending."""

    def __init__(
        self,
        results: ResultSettings,
        rabbitmq: RabbitSettings,
        *,
        auth_headers: dict[str, str] | None = None,
    ) -> None:
        self.mode = results.delivery
        self._auth_headers = auth_headers or {}  # event sender credential (event_auth)
        self._results = results
        self._rabbitmq = rabbitmq
        self._lock = threading.Lock()
        self._channel: Any = None
        self._connection: Any = None
        self._http: Any = None

    async def send(self, event: CloudEvent) -> None:
        if self.mode == "http":
            await asyncio.to_thread(self._post, event)
        elif self.mode == "rabbitmq":
            await asyncio.to_thread(self._publish, event)

    def warm_up(self) -> None:
        """Import and connect now what the first send would (called at start-up)."""
        if self.mode == "http":
            self._http_pool()
        elif self.mode == "rabbitmq":
            import pika.exceptions

            with self._lock, contextlib.suppress(pika.exceptions.AMQPError, OSError):
                self._open_channel()  # a broker still down is retried by the first send

    async def close(self) -> None:
        if self._http is not None:
            self._http.clear()
        with self._lock:
            if self._connection is not None and self._connection.is_open:
                self._connection.close()

    def _http_pool(self) -> Any:
        # urllib3 rather than aiohttp: botocore has imported it already, where aiohttp
        # would add 0.3 s to the first event of a cold process.
        import urllib3

        with self._lock:
            if self._http is None:
                self._http = urllib3.PoolManager(
                    maxsize=8,
                    timeout=urllib3.Timeout(total=self._results.http_timeout_seconds),
                    retries=False,
                )
            return self._http

    def _post(self, event: CloudEvent) -> None:
        import urllib3.exceptions

        headers, body = to_http_binary(event)
        headers = {**headers, **self._auth_headers}
        try:
            answer = self._http_pool().request(
                "POST", self._results.http_sink, body=body, headers=headers
            )
        except urllib3.exceptions.HTTPError as exc:
            raise ResultDeliveryFailed(f"result sink unreachable: {exc}") from exc
        if answer.status >= 300:
            text = answer.data[:200].decode("utf-8", "replace")
            raise ResultDeliveryFailed(f"result sink answered {answer.status}: {text}")

    def _publish(self, event: CloudEvent) -> None:
        import pika
        import pika.exceptions

        headers, body, content_type = to_amqp(event)
        properties = pika.BasicProperties(
            headers=headers,
            content_type=content_type,
            delivery_mode=pika.DeliveryMode.Persistent,
            message_id=event.id,
        )
        with self._lock:
            for attempt in (1, 2):  # a stale connection gets one fresh retry
                try:
                    channel = self._open_channel()
                    channel.basic_publish(
                        self._rabbitmq.exchange, event.type, body, properties, mandatory=False
                    )
                    return
                except pika.exceptions.AMQPError as exc:
                    self._channel = self._connection = None
                    if attempt == 2:
                        raise ResultDeliveryFailed(f"RabbitMQ publish failed: {exc!r}") from exc

    def _open_channel(self) -> Any:
        import pika

        if self._channel is not None and self._channel.is_open:
            return self._channel
        params = pika.URLParameters(self._rabbitmq.url.get_secret_value())
        params.heartbeat = self._rabbitmq.heartbeat_seconds
        params.blocked_connection_timeout = 10
        self._connection = pika.BlockingConnection(params)
        channel = self._connection.channel()
        channel.exchange_declare(self._rabbitmq.exchange, "topic", durable=True)
        channel.confirm_delivery()  # basic_publish now raises unless the broker confirms
        self._channel = channel
        return channel
