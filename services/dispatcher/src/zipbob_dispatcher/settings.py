"""Dispatcher configuration (config/dispatcher*.yaml, ZIPBOB_* variables)."""

from __future__ import annotations

from pydantic import Field

from zipbob_platform.event_auth import EventAuthSettings
from zipbob_platform.events import IMAGE_UPLOADED, PRODUCT_DELETED
from zipbob_platform.sections import RabbitSettings, Section
from zipbob_platform.settings import ServiceSettings, load_settings

__all__ = [
    "DeliverySettings",
    "DispatcherSettings",
    "QueueSettings",
    "RabbitSettings",
    "load_dispatcher_settings",
]


class QueueSettings(Section):
    """A queue the dispatcher declares, binds to the events exchange and consumes."""

    name: str = Field(min_length=1, max_length=200)
    routing_key: str = Field(min_length=1)


class DeliverySettings(Section):
    queues: list[QueueSettings] = Field(
        default_factory=lambda: [
            QueueSettings(name="resizer.image-uploaded", routing_key=IMAGE_UPLOADED),
            QueueSettings(name="resizer.product-deleted", routing_key=PRODUCT_DELETED),
        ],
        min_length=1,
    )
    target_url: str = "http://127.0.0.1:8083/"
    prefetch: int = Field(4, ge=1, le=1000)
    concurrency: int = Field(2, ge=1, le=256)
    max_attempts: int = Field(5, ge=1)
    backoff_initial_seconds: float = Field(0.5, gt=0)
    backoff_max_seconds: float = Field(30.0, gt=0)
    request_timeout_seconds: float = Field(60.0, gt=0)
    # /metrics for Prometheus (the dispatcher has no other HTTP surface); 0 turns it off.
    metrics_port: int = Field(8084, ge=0, le=65535)


class DispatcherSettings(ServiceSettings):
    rabbitmq: RabbitSettings = RabbitSettings()
    dispatcher: DeliverySettings = DeliverySettings()
    event_auth: EventAuthSettings = EventAuthSettings()  # the credential it sends the target


def load_dispatcher_settings(profile: str | None = None) -> DispatcherSettings:
    # It always consumes from RabbitMQ: its URL is required in dev/prod.
    return load_settings("dispatcher", DispatcherSettings, profile=profile, require=("rabbitmq",))
