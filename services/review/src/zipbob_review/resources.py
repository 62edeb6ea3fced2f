"""Everything the service opens at start-up and closes at shutdown, and its readiness."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.requests import Request
from starlette.responses import Response

from zipbob_platform.problems import PROBLEM_JSON, problem_body

from . import storage
from .catalog.client import CatalogClient
from .events.handlers import handle_event
from .events.rabbitmq import ProductDeletedConsumer
from .events.summaries import start_summary_relay
from .reviews.cache import ReviewCache, connect_redis
from .reviews.repository import ReviewRepository
from .reviews.service import ReviewDeps
from .settings import ReviewSettings

log = logging.getLogger("zipbob.review")
PREPARE_RETRY_SECONDS = 2.0


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
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: ReviewSettings = app.state.settings
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
    app.state.review_deps = deps
    app.state.mongo = mongo
    app.state.summary_relay = start_summary_relay(settings, database, deps)
    preparing = asyncio.create_task(_prepare_storage(repository, database))
    consumer = None
    if settings.review.events.rabbitmq.enabled:
        consumer = ProductDeletedConsumer(
            url=settings.rabbitmq.url.get_secret_value(),
            settings=settings.review.events.rabbitmq,
            handler=lambda event: handle_event(deps=deps, event=event),
            heartbeat_seconds=settings.rabbitmq.heartbeat_seconds,
        )
        consumer.start()
    app.state.rabbitmq_consumer = consumer
    try:
        yield
    finally:
        if consumer is not None:
            await consumer.stop()
        if app.state.summary_relay is not None:
            await app.state.summary_relay.close()
        preparing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await preparing
        await catalog.close()
        if redis is not None:
            await redis.aclose()
        await mongo.close()


async def readiness(request: Request) -> Response:
    """Ready when MongoDB answers and indexes exist; Redis or RabbitMQ trouble only degrades."""
    app = request.app
    deps: ReviewDeps | None = getattr(app.state, "review_deps", None)
    checks: dict[str, str] = {}
    if deps is None:
        checks["mongo"] = "starting"
    else:
        try:
            await asyncio.wait_for(app.state.mongo.admin.command("ping"), 2.0)
            checks["mongo"] = "ok" if deps.repository.schema_ready else "preparing indexes"
        except Exception as exc:
            checks["mongo"] = f"{type(exc).__name__}: {exc}"[:300]
        checks["redis"] = await deps.cache.ping()
        checks["catalog_breaker"] = deps.catalog.breaker.state
        consumer = app.state.rabbitmq_consumer
        if consumer is not None:
            checks["rabbitmq"] = "ok" if consumer.connected.is_set() else "degraded: reconnecting"
    if checks.get("mongo") == "ok":
        degraded = any(v not in ("ok", "closed", "disabled") for v in checks.values())
        return JSONResponse({"status": "degraded" if degraded else "ready", "checks": checks})
    body = problem_body(
        503, f"not ready: mongo {checks['mongo']}", title="Not ready", checks=checks
    )
    return JSONResponse(body, status_code=503, media_type=PROBLEM_JSON)
