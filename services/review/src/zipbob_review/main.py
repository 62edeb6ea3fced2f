"""Build the review service's ASGI app."""

from __future__ import annotations

from fastapi import FastAPI
from pymongo.errors import ConnectionFailure, ExecutionTimeout
from starlette.requests import Request
from starlette.responses import Response

from zipbob_platform.app import install_platform
from zipbob_platform.auth import JwksSource, JwksVerifier, http_jwks_source
from zipbob_platform.openapi import install_openapi
from zipbob_platform.problems import PROBLEM_BASE, problem_response
from zipbob_platform.settings import load_settings

from .events.views import router as events_router
from .resources import lifespan, readiness
from .reviews.repository import StorageNotReady
from .reviews.views import router as reviews_router
from .settings import ReviewSettings

MONGO_RETRY_AFTER_SECONDS = "2"


async def _mongo_unavailable(request: Request, exc: Exception) -> Response:
    return problem_response(
        503,
        "the review store is unavailable right now; try again",
        title="Service unavailable",
        type_=PROBLEM_BASE + "dependency-unavailable",
        instance=request.url.path,
        headers={"Retry-After": MONGO_RETRY_AFTER_SECONDS},
    )


def create_app(
    settings: ReviewSettings | None = None, *, jwks_source: JwksSource | None = None
) -> FastAPI:
    settings = settings or load_settings("review", ReviewSettings)
    app = FastAPI(title="ZipBob review", version="0.1.0", lifespan=lifespan)
    # Ours before the platform's: it also reports Redis and RabbitMQ as degraded, not down.
    app.router.add_route("/healthz/ready", readiness, methods=["GET"], include_in_schema=False)
    install_platform(app, settings)
    app.state.jwks_verifier = JwksVerifier(
        settings.auth, jwks_source or http_jwks_source(settings.auth.jwks_url)
    )
    for error in (ConnectionFailure, ExecutionTimeout, StorageNotReady):
        app.add_exception_handler(error, _mongo_unavailable)
    app.include_router(reviews_router)
    if settings.review.events.http_enabled:
        app.include_router(events_router)
    install_openapi(app)
    return app
