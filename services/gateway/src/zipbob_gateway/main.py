"""Build the gateway: a plain ASGI front that sends auth/ops paths to the FastAPI control app
(which runs the lifespan, see bootstrap.py) and everything else to the proxy."""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from zipbob_platform.app import create_service_app, wrap_plain_asgi

from .apidocs.views import install_api_document
from .apidocs.views import router as docs_router
from .auth.views import router as auth_router
from .bootstrap import GatewayContainer, bootstrap, readiness
from .control import is_control_path
from .settings import GatewaySettings, load_gateway_settings


class GatewayFront:
    """The hot path stays a plain ASGI callable: no Starlette routing per proxied request."""

    def __init__(self, control: Any) -> None:
        self.control = control

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.control(scope, receive, send)  # lifespan
            return
        container: GatewayContainer | None = getattr(self.control.state, "container", None)
        if container is None or is_control_path(scope["path"]):
            # Auth and JWKS requests always get an access line, even with the per-request
            # access log off for the proxied hot path (gateway.yaml).
            scope["zipbob.log_access"] = True
            if container is None:
                await self.control(scope, receive, send)
            else:  # body, auth and in-flight limits before FastAPI (proxy/control_guard.py)
                await container.guard(scope, receive, send, self.control)
        else:
            await container.proxy(scope, receive, send)


def create_app(settings: GatewaySettings | None = None) -> ASGIApp:
    settings = settings or load_gateway_settings()
    control = create_service_app(
        settings,
        bootstrap=bootstrap,
        readiness=readiness,
        routers=[auth_router, docs_router],
        verifier=lambda container: container.verifier,
        title="ZipBob gateway",
        docs=False,
        middleware=False,  # wrap_plain_asgi below covers the control app and the proxy
    )
    install_api_document(control, settings)
    return wrap_plain_asgi(GatewayFront(control), settings)
