"""``python -m zipbob_gateway``: serve the gateway on server.port (ZIPBOB_GATEWAY_PORT)."""

from __future__ import annotations

from zipbob_platform.server import serve

from .main import create_app
from .settings import load_gateway_settings


def main() -> None:
    settings = load_gateway_settings()
    serve(create_app(settings), settings)


if __name__ == "__main__":
    main()
