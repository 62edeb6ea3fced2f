"""Catalog configuration: the platform base plus database, S3, uploads, RabbitMQ and outbox."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr

from zipbob_platform.event_auth import EventAuthSettings
from zipbob_platform.settings import Section, ServiceSettings, load_settings

MIB = 1024 * 1024


class DatabaseSettings(Section):
    # The URL carries the password in dev/prod, so it is a secret (ZIPBOB_DATABASE__URL).
    url: SecretStr = SecretStr("")
    migrate_on_start: bool = False
    pool_size: int = Field(10, ge=1)
    echo: bool = False


class S3Settings(Section):
    endpoint_url: str | None = None
    # The address clients use for presigned variant URLs (signatures cover the host).
    public_endpoint_url: str | None = None
    region: str = "us-east-1"
    access_key_id: SecretStr = SecretStr("")
    secret_access_key: SecretStr = SecretStr("")
    original_bucket: str = "original-images"
    resized_bucket: str = "resized-images"
    presign_expiry_seconds: int = Field(3600, ge=60, le=7 * 24 * 3600)


class UploadSettings(Section):
    max_bytes: int = Field(20 * MIB, ge=1)
    max_pixels: int = Field(50_000_000, ge=1)
    max_field_bytes: int = Field(64 * 1024, ge=1)
    max_parts: int = Field(16, ge=1)
    spool_dir: str | None = None


class RabbitSettings(Section):
    url: SecretStr = SecretStr("")
    exchange: str = "zipbob.events"
    dead_letter_exchange: str = "zipbob.dlx"
    results_queue: str = "catalog.image-results"
    prefetch: int = Field(32, ge=1)
    heartbeat_seconds: int = Field(30, ge=0)


class HttpSubscription(Section):
    """One consumer of the HTTP transport, like a Knative Trigger: a sink and the event
    types it wants (empty = every type)."""

    url: str
    types: list[str] = []


class OutboxSettings(Section):
    relay_enabled: bool = True
    transport: Literal["rabbitmq", "http"] = "rabbitmq"
    # Local profile: the Knative-style CloudEvents endpoints that receive each event type.
    http_subscriptions: list[HttpSubscription] = [HttpSubscription(url="http://127.0.0.1:8083/")]
    http_timeout_seconds: float = Field(30.0, gt=0)
    batch_size: int = Field(100, ge=1, le=1000)
    poll_interval_seconds: float = Field(0.5, gt=0)
    max_backoff_seconds: float = Field(30.0, gt=0)


class ResultsSettings(Section):
    consume_rabbitmq: bool = True


class SweeperSettings(Section):
    enabled: bool = True
    interval_seconds: float = Field(900.0, gt=0)
    # Objects younger than this may belong to an upload whose commit is still in flight.
    grace_seconds: float = Field(3600.0, ge=0)


class CatalogSettings(ServiceSettings):
    database: DatabaseSettings = DatabaseSettings()
    s3: S3Settings = S3Settings()
    uploads: UploadSettings = UploadSettings()
    rabbitmq: RabbitSettings = RabbitSettings()
    outbox: OutboxSettings = OutboxSettings()
    results: ResultsSettings = ResultsSettings()
    sweeper: SweeperSettings = SweeperSettings()
    event_auth: EventAuthSettings = EventAuthSettings()  # who may POST /internal/events


def load_catalog_settings() -> CatalogSettings:
    return load_settings("catalog", CatalogSettings)
