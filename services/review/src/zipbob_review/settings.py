"""The review service's configuration sections (config/review*.yaml, ZIPBOB_* variables)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr

from zipbob_platform import events, sections
from zipbob_platform.event_auth import EventAuthSettings
from zipbob_platform.sections import RabbitSettings, Section
from zipbob_platform.settings import ServiceSettings, load_settings

__all__ = [
    "CacheSettings",
    "CatalogSettings",
    "EventSettings",
    "MongoSettings",
    "PaginationSettings",
    "RabbitConsumerSettings",
    "RabbitSettings",
    "RedisSettings",
    "ReviewSection",
    "ReviewSettings",
    "load_review_settings",
]


class MongoSettings(Section):
    url: SecretStr = SecretStr("mongodb://127.0.0.1:27017/?directConnection=true")
    database: str = "zipbob_review"
    # Short on purpose: a MongoDB outage must become a quick 503, not a hung request.
    server_selection_timeout_ms: int = Field(1500, ge=50)
    connect_timeout_ms: int = Field(1500, ge=50)
    socket_timeout_ms: int = Field(5000, ge=50)
    max_pool_size: int = Field(50, ge=1)


class RedisSettings(sections.RedisSettings):
    # Short on purpose: a Redis outage must cost a quick fallback to MongoDB.
    timeout_seconds: float = Field(0.25, gt=0)
    # After a Redis error, skip the cache for this long instead of paying a timeout per request.
    retry_after_failure_seconds: float = Field(1.0, ge=0)


class CatalogSettings(Section):
    url: str = "http://127.0.0.1:8081"
    timeout_seconds: float = Field(1.0, gt=0, le=30)
    cache_seconds: float = Field(30.0, ge=0)
    not_found_cache_seconds: float = Field(5.0, ge=0)
    cache_size: int = Field(10_000, ge=0)
    breaker_failures: int = Field(5, ge=1)
    breaker_open_seconds: float = Field(10.0, gt=0)


class CacheSettings(Section):
    enabled: bool = True
    key_prefix: str = Field("zipbob:review", min_length=1)
    ttl_seconds: int = Field(60, ge=1)
    lock_ms: int = Field(2000, ge=10)
    lock_wait_ms: int = Field(300, ge=0)
    # The cached first page holds this many items; any requested size up to it is a slice.
    first_page_items: int = Field(100, ge=1, le=100)


class PaginationSettings(Section):
    default_size: int = Field(20, ge=1, le=100)
    max_size: int = Field(100, ge=1, le=100)
    # Deepest offset served by ?page=; deeper reads use the keyset ?cursor= instead.
    max_offset: int = Field(10_000, ge=0)


class RabbitConsumerSettings(Section):
    """The product.deleted consumer; the broker, exchange and dead-letter exchange are the
    shared ``rabbitmq`` section's, like every service's."""

    enabled: bool = False
    queue: str = "review.product-deleted"
    routing_key: str = events.PRODUCT_DELETED
    prefetch: int = Field(10, ge=1)
    reconnect_seconds: float = Field(2.0, gt=0)


class SummarySubscription(Section):
    """A sink of the HTTP transport: the catalog like a Knative Trigger (local), or the
    Broker (Kubernetes, K_SINK from a SinkBinding)."""

    url: str
    types: list[str] = []


class SummarySettings(Section):
    """summary.changed (the ratings read model): outbox relay and where it publishes."""

    enabled: bool = False
    transport: Literal["rabbitmq", "http"] = "rabbitmq"
    http_subscriptions: list[SummarySubscription] = []
    http_timeout_seconds: float = Field(10.0, gt=0)
    batch_size: int = Field(100, ge=1, le=1000)
    poll_interval_seconds: float = Field(0.25, gt=0)
    max_backoff_seconds: float = Field(30.0, gt=0)
    # An intent older than this is a write whose process died before its bookkeeping.
    stale_write_seconds: float = Field(30.0, gt=0)


class EventSettings(Section):
    http_enabled: bool = True
    rabbitmq: RabbitConsumerSettings = RabbitConsumerSettings()
    summaries: SummarySettings = SummarySettings()


class ReviewSection(Section):
    cache: CacheSettings = CacheSettings()
    pagination: PaginationSettings = PaginationSettings()
    events: EventSettings = EventSettings()


class ReviewSettings(ServiceSettings):
    mongo: MongoSettings = MongoSettings()
    redis: RedisSettings = RedisSettings()
    rabbitmq: RabbitSettings = RabbitSettings()
    catalog: CatalogSettings = CatalogSettings()
    review: ReviewSection = ReviewSection()
    event_auth: EventAuthSettings = EventAuthSettings()  # who may POST /internal/events

    def unused_sections(self) -> dict[str, str]:
        unused = {}
        summaries = self.review.events.summaries
        publishes = summaries.enabled and summaries.transport == "rabbitmq"
        if not self.review.events.rabbitmq.enabled and not publishes:
            unused["rabbitmq"] = "review.events.rabbitmq.enabled is off"
        if not self.review.cache.enabled:
            unused["redis"] = "review.cache.enabled is off"
        return unused


def load_review_settings() -> ReviewSettings:
    return load_settings("review", ReviewSettings)
