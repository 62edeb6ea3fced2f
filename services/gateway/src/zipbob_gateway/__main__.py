"""``python -m zipbob_gateway``: serve the gateway on server.port (ZIPBOB_GATEWAY_PORT)."""

from __future__ import annotations

from zipbob_platform.http_limits import HeadLimits
from zipbob_platform.server import serve

from .main import create_app
from .settings import load_gateway_settings


def main() -> None:
    settings = load_gateway_settings()
    edge = settings.edge
    serve(
        create_app(settings),
        settings,
        head_limits=HeadLimits(
            max_header_bytes=edge.max_header_bytes,
            max_headers=edge.max_headers,
            head_timeout_seconds=edge.head_timeout_seconds,
        ),
        limit_concurrency=edge.max_connections,
    )


if __name__ == "__main__":
    main()
