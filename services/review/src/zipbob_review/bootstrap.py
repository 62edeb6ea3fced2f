"""Build the review service's container from settings, inside the app's lifespan: MongoDB
(indexes prepared in the background), the Redis cache, the catalog client and, when the
configuration turns them on, the RabbitMQ consumer of product.deleted and the
summary.changed outbox relay. Also its readiness:
MongoDB decides; Redis, the catalog breaker and RabbitMQ only degrade."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from zipbob_platform.health import Health, NotReady, ReadinessCheck

from . import storage
from .catalog.client import CatalogClient
from .events.handlers import handle_event
from .events.rabbitmq import ProductDeletedConsumer
from .events.summaries import SummaryRelay, start_summary_relay
from .reviews.cache import ReviewCache, connect_redis
from .reviews.repository import ReviewRepository
from .reviews.service import ReviewDeps
from .settings import ReviewSettings

log = logging.getLogger("zipbob.review")
PREPARE_RETRY_SECONDS = 2.0


@dataclass(frozen=True)
class ReviewContainer:
    deps: ReviewDeps
    mongo: Any
    consumer: ProductDeletedConsumer | None
    summaries: SummaryRelay | None = None  # the summary.changed outbox relay


async def _prepare_storage(repository: ReviewRepository, database: Any) -> None:
    """Indexes before writes: the unique index is what makes a second review a 409."""
    while True:
        try:
            await storage.prepare(database)
        except Exception as exc:
            log.warning("cannot prepare MongoDB yet (%s); retrying", exc)
            await asyncio.sleep(PREPARE_RETRY_SECONDS)
        else:
            repository.schema_ready = True
            return


@contextlib.asynccontextmanager
async def bootstrap(settings: ReviewSettings) -> AsyncIterator[ReviewContainer]:
    mongo = storage.connect(settings.mongo)
    database = mongo[settings.mongo.database]
    repository = ReviewRepository(storage.collections(database))
    redis = connect_redis(settings.redis) if settings.review.cache.enabled else None
    cache = ReviewCache(
        redis, settings.review.cache, retry_after_failure=settings.redis.retry_after_failure_seconds
    )
    catalog = CatalogClient(settings.catalog)
    deps = ReviewDeps(
        repository=repository,
        cache=cache,
        catalog=catalog,
        pagination=settings.review.pagination,
        first_page_items=settings.review.cache.first_page_items,
    )
    summaries = start_summary_relay(settings, database, deps)
    preparing = asyncio.create_task(_prepare_storage(repository, database))
    consumer = None
    if settings.review.events.rabbitmq.enabled:
        consumer = ProductDeletedConsumer(
            rabbitmq=settings.rabbitmq,
            settings=settings.review.events.rabbitmq,
            handler=lambda event: handle_event(deps=deps, event=event),
        )
        consumer.start()
    try:
        yield ReviewContainer(deps=deps, mongo=mongo, consumer=consumer, summaries=summaries)
    finally:
        if consumer is not None:
            await consumer.stop()
        if summaries is not None:
            await summaries.close()
        preparing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await preparing
        await catalog.close()
        if redis is not None:
            await redis.aclose()
        await mongo.close()


def readiness(container: ReviewContainer) -> dict[str, ReadinessCheck]:
    deps, consumer = container.deps, container.consumer

    async def mongo() -> None:
        await container.mongo.admin.command("ping")
        if not deps.repository.schema_ready:
            raise NotReady("preparing indexes")

    async def redis() -> Health:
        state = await deps.cache.ping()
        return Health(state, degraded=state not in ("ok", "disabled"))

    async def catalog_breaker() -> Health:
        state = deps.catalog.breaker.state
        return Health(state, degraded=state != "closed")

    checks: dict[str, ReadinessCheck] = {
        "mongo": mongo,
        "redis": redis,
        "catalog_breaker": catalog_breaker,
    }
    if consumer is not None:

        async def rabbitmq() -> Health:
            if consumer.connected.is_set():
                return Health()
            return Health.degraded_because("reconnecting")

        checks["rabbitmq"] = rabbitmq
    return checks
