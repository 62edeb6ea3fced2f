"""Where the relay delivers events: RabbitMQ (publisher confirms) or an HTTP sink."""

from __future__ import annotations

from typing import Protocol

from zipbob_catalog.settings import OutboxSettings, RabbitSettings
from zipbob_platform.cloudevents import CloudEvent, EventHeaders
from zipbob_platform.messaging import Broker, ConfirmedPublisher
from zipbob_platform.messaging.http_sink import HttpSinkPublisher as PlatformHttpSink
from zipbob_platform.messaging.http_sink import Subscription


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


class HttpSinkPublisher(PlatformHttpSink):
    """The platform's HTTP fan-out on the catalog's ``outbox.http_subscriptions``."""

    def __init__(
        self, settings: OutboxSettings, *, event_headers: EventHeaders | None = None
    ) -> None:
        super().__init__(
            [Subscription(s.url, tuple(s.types)) for s in settings.http_subscriptions],
            sender="catalog-outbox",
            timeout_seconds=settings.http_timeout_seconds,
            event_headers=event_headers,  # event sender credential (event_auth)
        )
