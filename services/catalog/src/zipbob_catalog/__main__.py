"""``python -m zipbob_catalog``: serve the catalog on ``server.port`` (8081)."""

from zipbob_catalog.main import create_app
from zipbob_catalog.settings import load_catalog_settings
from zipbob_platform.server import serve


def main() -> None:
    settings = load_catalog_settings()
    serve(create_app(settings), settings)


if __name__ == "__main__":
    main()
