"""Wire the platform into a Starlette or FastAPI app in one call."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp

from .health import ReadinessCheck, live, readiness_endpoint
from .logging import configure_logging
from .metrics import HttpMetricsMiddleware, render_metrics
from .middleware import RequestContextMiddleware
from .problems import install_problem_handlers
from .settings import ServiceSettings
from .tracing import setup_tracing


async def _metrics(_: Request) -> Response:
    return Response(render_metrics(), media_type=CONTENT_TYPE_LATEST)


def install_platform(
    app: Any,
    settings: ServiceSettings,
    *,
    readiness: Mapping[str, ReadinessCheck] | None = None,
) -> dict[str, ReadinessCheck]:
    """Logging, tracing, problem+json, health, metrics and request context for ``app``.

    Returns the readiness-check mapping; services may add checks to it later (for example
    once their lifespan has opened a connection pool).
    """
    configure_logging(settings.service, settings.logging.level)
    setup_tracing(settings.service, sample_ratio=settings.tracing.sample_ratio)
    checks: dict[str, ReadinessCheck] = dict(readiness or {})
    install_problem_handlers(app)
    app.router.add_route("/healthz/live", live, methods=["GET"], include_in_schema=False)
    app.router.add_route(
        "/healthz/ready", readiness_endpoint(checks), methods=["GET"], include_in_schema=False
    )
    app.router.add_route("/metrics", _metrics, methods=["GET"], include_in_schema=False)
    app.add_middleware(HttpMetricsMiddleware, service=settings.service)
    app.add_middleware(RequestContextMiddleware, access_log_enabled=settings.logging.access_log)
    app.state.settings = settings
    app.state.readiness = checks
    return checks


def wrap_plain_asgi(app: ASGIApp, settings: ServiceSettings) -> ASGIApp:
    """The same middleware for a hand-written ASGI app (the gateway's hot path)."""
    configure_logging(settings.service, settings.logging.level)
    setup_tracing(settings.service, sample_ratio=settings.tracing.sample_ratio)
    return RequestContextMiddleware(
        HttpMetricsMiddleware(app, service=settings.service),
        access_log_enabled=settings.logging.access_log,
    )
