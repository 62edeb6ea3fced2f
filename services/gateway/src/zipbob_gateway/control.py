"""The non-hot-path endpoints: /api/auth/*, the JWKS, /api/openapi.json and /api/docs,
health and metrics (FastAPI). They are answered here, never proxied."""

from __future__ import annotations

from fastapi import FastAPI
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response

from zipbob_platform.health import ReadinessCheck, live, readiness_endpoint
from zipbob_platform.metrics import render_metrics
from zipbob_platform.problems import install_problem_handlers

from .apidocs.views import is_docs_path
from .apidocs.views import router as docs_router
from .auth.views import router as auth_router

AUTH_PREFIX = "/api/auth/"
CONTROL_PATHS = frozenset({"/.well-known/jwks.json", "/healthz/live", "/healthz/ready", "/metrics"})


async def _metrics(_: Request) -> Response:
    return Response(render_metrics(), media_type=CONTENT_TYPE_LATEST)


def build_control_app(readiness: dict[str, ReadinessCheck]) -> FastAPI:
    app = FastAPI(title="ZipBob gateway", docs_url=None, redoc_url=None, openapi_url=None)
    install_problem_handlers(app)
    app.include_router(auth_router)
    app.include_router(docs_router)
    app.router.add_route("/healthz/live", live, methods=["GET"], include_in_schema=False)
    app.router.add_route(
        "/healthz/ready", readiness_endpoint(readiness), methods=["GET"], include_in_schema=False
    )
    app.router.add_route("/metrics", _metrics, methods=["GET"], include_in_schema=False)
    return app


def is_control_path(path: str) -> bool:
    return path.startswith(AUTH_PREFIX) or path in CONTROL_PATHS or is_docs_path(path)
