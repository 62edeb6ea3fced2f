"""Where the relay delivers events: RabbitMQ (publisher confirms) or an HTTP sink."""

from __future__ import annotations

import logging
from typing import Protocol

import aiohttp

from zipbob_catalog.settings import OutboxSettings, RabbitSettings
from zipbob_platform.cloudevents import CloudEvent, to_http_binary
from zipbob_platform.messaging import Broker, ConfirmedPublisher

log = logging.getLogger("zipbob.catalog.outbox")


class Publisher(Protocol):
    state: str

    async def publish_batch(self, events: list[CloudEvent]) -> tuple[int, Exception | None]:
        """Deliver in order; return how many were confirmed and the error that stopped us."""
        ...

    async def close(self) -> None: ...


class RabbitPublisher(ConfirmedPublisher):
    """The platform's confirmed publisher on the catalog's RabbitMQ settings."""

    def __init__(self, settings: RabbitSettings) -> None:
        super().__init__(Broker.from_settings(settings))


class SinkRefused(Exception):
    pass


class HttpSinkPublisher:
    """Binary-mode CloudEvents POSTed to each subscribed sink, the way Knative Triggers
    deliver. An event counts as delivered once every sink that wants it took it; a sink
    that fails makes the whole event retry, which idempotent consumers absorb."""

    def __init__(self, settings: OutboxSettings) -> None:
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
