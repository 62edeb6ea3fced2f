"""Build the web console's ASGI app: pages, static assets, sessions, platform wiring."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from zipbob_platform.app import install_platform
from zipbob_platform.settings import load_settings

from .api import GatewayClient
from .middleware import WebSessionMiddleware
from .pages import CsrfRefused, LoginRequired, WrongRole, login_redirect, render
from .session import RefreshCoordinator
from .settings import WebSettings
from .views.auth import router as auth_router
from .views.seller import router as seller_router
from .views.store import router as store_router

STATIC_DIR = Path(__file__).parent / "static"


async def _csrf_refused(request: Request, _: Exception) -> Response:
    message = "This form has expired or did not come from this site. Reload the page and try again."
    return render(request, "error.html", {"message": message, "title": "Form refused"}, 403)


async def _login_required(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    return login_redirect(exc.next_path)


async def _wrong_role(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, WrongRole)
    message = f"This page is for {exc.role} accounts."
    return render(request, "error.html", {"message": message, "title": "Not for you"}, 403)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if "web_session" not in request.scope.get("state", {}):
        return Response(str(exc.detail), status_code=exc.status_code)
    if exc.status_code == 404:
        return render(request, "not_found.html", status=404)
    return render(request, "error.html", {"message": str(exc.detail)}, status=exc.status_code)


def create_app(settings: WebSettings | None = None) -> FastAPI:
    settings = settings or load_settings("web", WebSettings)
    gateway = GatewayClient(
        settings.web.gateway_url,
        timeout=settings.web.request_timeout_seconds,
        proxy_token=settings.web.gateway_proxy_token.get_secret_value(),
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await gateway.close()

    async def gateway_reachable() -> None:
        response = await gateway.http.get("/healthz/live", timeout=2)
        response.raise_for_status()

    app = FastAPI(
        title="ZipBob web console", docs_url=None, redoc_url=None, openapi_url=None,
        lifespan=lifespan,
    )  # fmt: skip
    # Added first, so it runs inside the platform's request context (request id, metrics).
    app.add_middleware(
        WebSessionMiddleware,
        settings=settings,
        coordinator=RefreshCoordinator(gateway),
        key=settings.signing_key(),
    )
    install_platform(app, settings, readiness={"gateway": gateway_reachable})
    app.state.gateway = gateway
    app.add_exception_handler(CsrfRefused, _csrf_refused)
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(WrongRole, _wrong_role)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(auth_router)
    app.include_router(seller_router)
    app.include_router(store_router)
    return app
