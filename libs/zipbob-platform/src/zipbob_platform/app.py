"""Wire the platform into a Starlette or FastAPI app in one call.

``create_service_app`` is the one service shape: a service's ``bootstrap(settings)`` is an
async context manager that builds its container of dependencies (pools, clients, workers)
and closes it; the app runs it as its lifespan, puts the container on
``app.state.container`` and asks ``readiness(container)`` for the named checks that
``/healthz/ready`` runs (until then it answers 503 "starting").
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp

from .health import NotReady, ReadinessCheck, live, readiness_endpoint
from .logging import configure_logging
from .metrics import HttpMetricsMiddleware, render_metrics
from .middleware import RequestContextMiddleware
from .problems import install_problem_handlers
from .settings import ConfigError, ServiceSettings, describe_secrets
from .tracing import setup_tracing

S = TypeVar("S", bound=ServiceSettings)
C = TypeVar("C")
ExceptionHandler = Callable[[Request, Exception], Awaitable[Response]]
log = logging.getLogger("zipbob.platform")
_NO_FASTAPI_TELEMETRY: Any = {"tracing": False, "metrics": False, "logs": False}


async def _metrics(_: Request) -> Response:
    return Response(render_metrics(), media_type=CONTENT_TYPE_LATEST)


def install_platform(
    app: Any,
    settings: ServiceSettings,
    *,
    readiness: Mapping[str, ReadinessCheck] | None = None,
    middleware: bool = True,
) -> dict[str, ReadinessCheck]:
    """Logging, tracing, problem+json, health, metrics and request context for ``app``.

    Returns the readiness-check mapping; services may add checks to it later (for example
    once their lifespan has opened a connection pool). ``middleware=False`` leaves logging,
    tracing and the request middleware to ``wrap_plain_asgi`` around an outer ASGI app.
    """
    if middleware:
        configure_logging(settings.service, settings.logging.level)
        setup_tracing(settings.service, sample_ratio=settings.tracing.sample_ratio)
    checks: dict[str, ReadinessCheck] = dict(readiness or {})
    install_problem_handlers(app)
    app.router.add_route("/healthz/live", live, methods=["GET"], include_in_schema=False)
    app.router.add_route(
        "/healthz/ready", readiness_endpoint(checks), methods=["GET"], include_in_schema=False
    )
    app.router.add_route("/metrics", _metrics, methods=["GET"], include_in_schema=False)
    if middleware:
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


async def _starting() -> None:
    raise NotReady("starting")


def create_service_app(
    settings: S,
    *,
    bootstrap: Callable[[S], AbstractAsyncContextManager[C]],
    readiness: Callable[[C], Mapping[str, ReadinessCheck]],
    routers: Sequence[Any] = (),
    routes: Sequence[Any] = (),
    exception_handlers: Mapping[type[Exception], ExceptionHandler] | None = None,
    jwks_source: Any = None,
    verify_tokens: bool = False,
    verifier: Callable[[C], Any] | None = None,
    title: str | None = None,
    docs: bool = True,
    middleware: bool = True,
) -> Any:
    """A FastAPI app when ``routers`` are given, else a plain Starlette one (``routes``),
    with the platform installed and ``bootstrap`` as its lifespan.

    Tokens: ``verify_tokens`` puts a ``JwksVerifier`` (over ``jwks_source``, default the
    gateway's JWKS URL) on ``app.state`` for ``zipbob_platform.auth.require_principal``;
    ``verifier`` instead takes the one the container built (the gateway's own keys).
    ``middleware=False``: see ``install_platform``.
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        log.info(describe_secrets(settings))
        checks: dict[str, ReadinessCheck] = app.state.readiness
        async with contextlib.AsyncExitStack() as stack:
            try:
                container = await stack.enter_async_context(bootstrap(settings))
            except ConfigError as exc:  # found while building (a malformed key): say so
                log.error("%s", exc.code)
                raise
            app.state.container = container
            if verifier is not None:
                app.state.jwks_verifier = verifier(container)
            checks.clear()
            checks.update(readiness(container))
            try:
                yield
            finally:
                checks.clear()
                checks["startup"] = _starting

    app: Any
    if routers:
        from fastapi import FastAPI

        no_docs: dict[str, Any] = (
            {} if docs else dict(docs_url=None, redoc_url=None, openapi_url=None)
        )
        app = FastAPI(
            title=title or f"ZipBob {settings.service}",
            lifespan=lifespan,
            # FastAPI's own OpenTelemetry layer would add a second SERVER span (beside
            # RequestContextMiddleware's) and three operation spans to every request: a
            # duplicate trace and, measured on the catalog's reads, most of their CPU.
            telemetry=_NO_FASTAPI_TELEMETRY,
            **no_docs,
        )
        for route in routes:
            app.router.routes.append(route)
        for router in routers:
            app.include_router(router)
        if docs:
            from .openapi import install_openapi

            install_openapi(app)
    else:
        from starlette.applications import Starlette

        app = Starlette(routes=list(routes), lifespan=lifespan)
    install_platform(app, settings, readiness={"startup": _starting}, middleware=middleware)
    for error, handler in (exception_handlers or {}).items():
        app.add_exception_handler(error, handler)
    if verify_tokens:
        from .auth import JwksVerifier, http_jwks_source

        app.state.jwks_verifier = JwksVerifier(
            settings.auth, jwks_source or http_jwks_source(settings.auth.jwks_url)
        )
    return app
