"""Serve an ASGI app with uvicorn (uvloop + httptools), configured from settings."""

from __future__ import annotations

import gc
import os
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .http_limits import HeadLimits, protocol_with
from .settings import ServiceSettings


class FreezeAfterStartup:
    """Once the app has started, move everything alive (modules, settings, pools) out of the
    garbage collector's reach: full collections then stay short, which shows in p99."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def send_and_freeze(message: Message) -> None:
            if message["type"] == "lifespan.startup.complete":
                gc.collect()
                gc.freeze()
            await send(message)

        await self.app(scope, receive, send_and_freeze)


def serve(
    app: Any,
    settings: ServiceSettings,
    *,
    port_env: str | None = None,
    head_limits: HeadLimits | None = None,
    limit_concurrency: int | None = None,
) -> None:
    """Run until SIGINT/SIGTERM. ``port_env`` (e.g. Knative's PORT) wins over settings.

    Request heads are limited (:mod:`.http_limits`). uvicorn's proxy-header handling is off:
    by default it believes ``X-Forwarded-For`` from 127.0.0.1, so any local process or
    sidecar could choose its own client address; the gateway reads the header itself, from
    the proxies its configuration trusts, and nothing else needs it.
    """
    import uvicorn

    port = settings.server.port
    if port_env and os.environ.get(port_env):
        port = int(os.environ[port_env])
    uvicorn.run(
        FreezeAfterStartup(app),
        host=settings.server.host,
        port=port,
        loop="uvloop",
        http=protocol_with(head_limits or HeadLimits()),
        proxy_headers=False,
        forwarded_allow_ips="",
        limit_concurrency=limit_concurrency,
        ws="none",  # no service speaks WebSocket; skipping it shortens cold starts
        lifespan="on",
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=10,
    )
