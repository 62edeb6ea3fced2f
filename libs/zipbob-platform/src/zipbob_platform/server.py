"""Serve an ASGI app with uvicorn (uvloop + httptools), configured from settings."""

from __future__ import annotations

import os
from typing import Any

from .settings import ServiceSettings


def serve(app: Any, settings: ServiceSettings, *, port_env: str | None = None) -> None:
    """Run until SIGINT/SIGTERM. ``port_env`` (e.g. Knative's PORT) wins over settings."""
    import uvicorn

    port = settings.server.port
    if port_env and os.environ.get(port_env):
        port = int(os.environ[port_env])
    uvicorn.run(
        app,
        host=settings.server.host,
        port=port,
        loop="uvloop",
        http="httptools",
        ws="none",  # no service speaks WebSocket; skipping it shortens cold starts
        lifespan="on",
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=10,
    )
