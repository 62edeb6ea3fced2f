"""Build the review service's ASGI app."""

from __future__ import annotations

from fastapi import FastAPI
from pymongo.errors import ConnectionFailure, ExecutionTimeout
from starlette.requests import Request
from starlette.responses import Response

from zipbob_platform.app import create_service_app
from zipbob_platform.auth import JwksSource
from zipbob_platform.problems import PROBLEM_BASE, problem_response

from .bootstrap import bootstrap, readiness
from .events.views import router as events_router
from .reviews.repository import StorageNotReady
from .reviews.views import router as reviews_router
from .settings import ReviewSettings, load_review_settings

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
    settings = settings or load_review_settings()
    routers = [reviews_router]
    if settings.review.events.http_enabled:
        routers.append(events_router)
    app: FastAPI = create_service_app(
        settings,
        bootstrap=bootstrap,
        readiness=readiness,
        routers=routers,
        exception_handlers=dict.fromkeys(
            (ConnectionFailure, ExecutionTimeout, StorageNotReady), _mongo_unavailable
        ),
        verify_tokens=True,
        jwks_source=jwks_source,
        title="ZipBob review",
    )
    return app
