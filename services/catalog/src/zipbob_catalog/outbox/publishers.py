"""Where the relay delivers events: RabbitMQ (pika, publisher confirms) or an HTTP sink."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

import aiohttp
import pika
from pika.adapters.blocking_connection import BlockingChannel

from zipbob_catalog.settings import OutboxSettings, RabbitSettings
from zipbob_platform.cloudevents import CloudEvent, to_amqp, to_http_binary

log = logging.getLogger("zipbob.catalog.outbox")


class Publisher(Protocol):
    state: str

    async def publish_batch(self, events: list[CloudEvent]) -> tuple[int, Exception | None]:
        """Deliver in order; return how many were confirmed and the error that stopped us."""
        ...

    async def close(self) -> None: ...


def rabbit_parameters(url: str, *, heartbeat: int) -> pika.URLParameters:
    parameters = pika.URLParameters(url)
    parameters.heartbeat = heartbeat
    parameters.connection_attempts = 1
    parameters.socket_timeout = 5
    parameters.blocked_connection_timeout = 30
    return parameters


class RabbitPublisher:
    """pika's BlockingConnection is not thread-safe: one dedicated thread owns it."""

    def __init__(self, settings: RabbitSettings) -> None:
        self.settings = settings
        self.state = "disconnected"
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox-amqp")
        self._connection: pika.BlockingConnection | None = None
        self._channel: BlockingChannel | None = None

    def _open(self) -> BlockingChannel:
        if self._channel is not None and self._channel.is_open:
            return self._channel
        self._drop()
        parameters = rabbit_parameters(
            self.settings.url.get_secret_value(), heartbeat=self.settings.heartbeat_seconds
        )
        self._connection = pika.BlockingConnection(parameters)
        channel = self._connection.channel()
        channel.confirm_delivery()
        channel.exchange_declare(self.settings.exchange, exchange_type="topic", durable=True)
        self._channel = channel
        self.state = "connected"
        return channel

    def _drop(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and connection.is_open:
            with contextlib.suppress(Exception):  # it is already broken
                connection.close()

    def _publish_blocking(self, events: list[CloudEvent]) -> tuple[int, Exception | None]:
        delivered = 0
        try:
            channel = self._open()
            for event in events:
                headers, body, content_type = to_amqp(event)
                properties = pika.BasicProperties(
                    headers=headers,
                    content_type=content_type,
                    delivery_mode=pika.DeliveryMode.Persistent,
                    message_id=event.id,
                )
                # With confirms on, this returns only once the broker has taken the message.
                channel.basic_publish(self.settings.exchange, event.type, body, properties)
                delivered += 1
        except Exception as exc:
            self.state = f"disconnected: {type(exc).__name__}"
            self._drop()
            return delivered, exc
        return delivered, None

    async def publish_batch(self, events: list[CloudEvent]) -> tuple[int, Exception | None]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._publish_blocking, events)

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._drop)
        self._executor.shutdown(wait=False)


class SinkRefused(Exception):
    pass


class HttpSinkPublisher:
    """Binary-mode CloudEvents POSTed to each subscribed sink, the way Knative Triggers
    deliver. An event counts as delivered once every sink that wants it took it; a sink
    that fails makes the whole event retry, which idempotent consumers absorb."""

    def __init__(
        self, settings: OutboxSettings, *, auth_headers: dict[str, str] | None = None
    ) -> None:
        self.auth_headers = auth_headers or {}  # event sender credential (event_auth)
        self.subscriptions = settings.http_subscriptions
        self.timeout = aiohttp.ClientTimeout(total=settings.http_timeout_seconds)
        self.state = "idle"
        self._session: aiohttp.ClientSession | None = None

    async def publish_batch(self, events: list[CloudEvent]) -> tuple[int, Exception | None]:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        delivered = 0
        for event in events:
            sinks = [s.url for s in self.subscriptions if not s.types or event.type in s.types]
            for sink in sinks:
                error = await self._post(self._session, sink, event)
                if error is not None:
                    return delivered, error
            self.state = "delivering"
            delivered += 1
        return delivered, None

    async def _post(
        self, session: aiohttp.ClientSession, sink: str, event: CloudEvent
    ) -> Exception | None:
        headers, body = to_http_binary(event)
        headers = {**headers, **self.auth_headers}
        try:
            async with session.post(sink, data=body, headers=headers) as response:
                status = response.status
                detail = (await response.text())[:200]
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.state = f"unreachable: {sink}: {type(exc).__name__}"
            return exc
        if status >= 500 or status in (408, 429):
            self.state = f"retrying: {sink}: HTTP {status}"
            return SinkRefused(f"{sink} answered {status}: {detail}")
        if status >= 400:
            # Knative semantics: a 4xx is permanent, retrying cannot help.
            log.warning("%s refused event %s permanently: %s %s", sink, event.id, status, detail)
        return None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
