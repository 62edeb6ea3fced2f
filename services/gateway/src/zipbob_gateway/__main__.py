"""``python -m zipbob_gateway``: serve the gateway on server.port (ZIPBOB_GATEWAY_PORT)."""

from __future__ import annotations

from zipbob_platform.server import serve
from zipbob_platform.settings import load_settings

from .main import create_app
from .settings import GatewaySettings


def main() -> None:
    settings = load_settings("gateway", GatewaySettings)
    serve(create_app(settings), settings)


if __name__ == "__main__":
    main()
