"""Catalog configuration: the platform base plus database, S3, uploads, RabbitMQ and outbox."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from zipbob_platform import sections
from zipbob_platform.event_auth import EventAuthSettings
from zipbob_platform.sections import S3Settings, Section, SqlSettings
from zipbob_platform.settings import MigrationSettings, ServiceSettings, load_settings

__all__ = [
    "CatalogSettings",
    "HttpSubscription",
    "ListCacheSettings",
    "OutboxSettings",
    "RabbitSettings",
    "ResultsSettings",
    "S3Settings",
    "SqlSettings",
    "SweeperSettings",
    "UploadSettings",
    "load_catalog_settings",
    "load_migration_settings",
]

MIB = 1024 * 1024


class UploadSettings(Section):
    max_bytes: int = Field(20 * MIB, ge=1)
    max_pixels: int = Field(50_000_000, ge=1)
    max_field_bytes: int = Field(64 * 1024, ge=1)
    max_parts: int = Field(16, ge=1)
    spool_dir: str | None = None


class RabbitSettings(sections.RabbitSettings):
    results_queue: str = "catalog.image-results"


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


class ListCacheSettings(Section):
    """The per-replica cache of list pages (products.pagecache): how long a page is kept
    (0 = off) and how many rows all kept pages hold at most."""

    seconds: float = Field(1.0, ge=0, le=60)
    # A relevance walk's ranking as of its snapshot (products.repository.Ranked).
    walk_seconds: float = Field(60.0, ge=0, le=3600)
    # A search's ranking, total and term plan, reused by its new first pages: another
    # replica's new or edited product shows in search within it (a search refresh interval).
    search_seconds: float = Field(5.0, ge=0, le=600)
    max_rows: int = Field(20_000, ge=1)


class CatalogSettings(ServiceSettings):
    database: SqlSettings = SqlSettings()
    s3: S3Settings = S3Settings()
    uploads: UploadSettings = UploadSettings()
    rabbitmq: RabbitSettings = RabbitSettings()
    outbox: OutboxSettings = OutboxSettings()
    results: ResultsSettings = ResultsSettings()
    sweeper: SweeperSettings = SweeperSettings()
    list_cache: ListCacheSettings = ListCacheSettings()
    event_auth: EventAuthSettings = EventAuthSettings()  # who may POST /internal/events

    def uses_rabbitmq(self) -> bool:
        relay = self.outbox.relay_enabled and self.outbox.transport == "rabbitmq"
        return relay or self.results.consume_rabbitmq

    def unused_sections(self) -> dict[str, str]:
        if self.uses_rabbitmq():
            return {}
        return {"rabbitmq": "outbox.transport is not rabbitmq and results.consume_rabbitmq is off"}


def load_catalog_settings() -> CatalogSettings:
    return load_settings("catalog", CatalogSettings)


def load_migration_settings() -> MigrationSettings:
    """The catalog-migrate Job's settings: the database URL and nothing else."""
    return load_settings("catalog", MigrationSettings)
