"""The catalog app: products API, result-event receiver, outbox relay and sweeper."""

from __future__ import annotations

import logging

from fastapi import FastAPI
from sqlalchemy.exc import DBAPIError
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from zipbob_catalog.bootstrap import bootstrap, readiness
from zipbob_catalog.products.fastpath import PublicReadFastPath
from zipbob_catalog.products.views import router as products_router
from zipbob_catalog.results.views import router as results_router
from zipbob_catalog.settings import CatalogSettings, load_catalog_settings
from zipbob_platform.app import create_service_app
from zipbob_platform.auth import JwksSource
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


def create_app(
    settings: CatalogSettings | None = None, *, jwks_source: JwksSource | None = None
) -> FastAPI:
    app: FastAPI = create_service_app(
        settings or load_catalog_settings(),
        bootstrap=bootstrap,
        readiness=readiness,
        routers=[products_router, results_router],
        # Object store failures are domain errors (zipbob_platform.objectstore) that the
        # platform answers itself: StorageUnavailable is a 503 with Retry-After (photos are
        # written before any row, so such a refusal stores nothing).
        exception_handlers={DBAPIError: _database_unavailable},
        verify_tokens=True,
        jwks_source=jwks_source,
        title="ZipBob catalog",
    )
    # Innermost of the app's middleware: inside request id, tracing, logging and metrics,
    # before FastAPI's routing (see products.fastpath).
    app.user_middleware.append(Middleware(PublicReadFastPath))
    return app
