"""The catalog app: products API, result-event receiver, outbox relay and sweeper."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from botocore.exceptions import BotoCoreError
from fastapi import FastAPI
from sqlalchemy.exc import DBAPIError
from starlette.requests import Request
from starlette.responses import Response

from zipbob_catalog.background import BackgroundWorkers
from zipbob_catalog.db import ping
from zipbob_catalog.migrate import upgrade_to_head
from zipbob_catalog.products.views import router as products_router
from zipbob_catalog.results.views import router as results_router
from zipbob_catalog.runtime import CatalogRuntime
from zipbob_catalog.settings import CatalogSettings, load_catalog_settings
from zipbob_platform.app import install_platform
from zipbob_platform.auth import JwksSource, JwksVerifier, http_jwks_source
from zipbob_platform.openapi import install_openapi
from zipbob_platform.problems import problem_response

log = logging.getLogger("zipbob.catalog")


async def _database_unavailable(request: Request, exc: Exception) -> Response:
    log.warning("database error on %s: %s", request.url.path, type(exc).__name__)
    return problem_response(
        503,
        "the catalog database is unavailable; retry shortly",
        instance=request.url.path,
        headers={"Retry-After": "5"},
    )


async def _object_store_unavailable(request: Request, exc: Exception) -> Response:
    # Photos are written before any row (write order), so a refusal here stores nothing.
    log.warning("object store error on %s: %s", request.url.path, type(exc).__name__)
    return problem_response(
        503,
        "the photo store is unavailable; nothing was saved, retry shortly",
        instance=request.url.path,
        headers={"Retry-After": "5"},
    )


def create_app(
    settings: CatalogSettings | None = None, *, jwks_source: JwksSource | None = None
) -> FastAPI:
    settings = settings or load_catalog_settings()
    runtime = CatalogRuntime.build(settings)
    workers = BackgroundWorkers(runtime)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        url = settings.database.url.get_secret_value()
        if settings.database.migrate_on_start:
            if url.startswith("sqlite"):
                Path(url.split("///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)
            await asyncio.to_thread(upgrade_to_head, url)
        await workers.start()
        try:
            yield
        finally:
            await workers.stop()
            await runtime.close()

    app = FastAPI(title="ZipBob catalog", version="0.1.0", lifespan=lifespan)
    install_platform(
        app,
        settings,
        readiness={"database": lambda: ping(runtime.engine), "object_store": runtime.store.check},
    )
    app.add_exception_handler(DBAPIError, _database_unavailable)
    app.add_exception_handler(BotoCoreError, _object_store_unavailable)
    app.state.catalog = runtime
    app.state.workers = workers
    app.state.jwks_verifier = JwksVerifier(
        settings.auth, jwks_source or http_jwks_source(settings.auth.jwks_url)
    )
    app.include_router(products_router)
    app.include_router(results_router)
    install_openapi(app)
    return app
