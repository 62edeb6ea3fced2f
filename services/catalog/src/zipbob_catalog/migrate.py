"""Schema migrations: ``python -m zipbob_catalog.migrate`` upgrades the database to head."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config

from zipbob_platform.logging import configure_logging

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
log = logging.getLogger("zipbob.catalog.migrate")


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["database_url"] = database_url
    return config


def upgrade_to_head(database_url: str) -> None:
    """Blocking (Alembic runs its own event loop): call it in a thread from async code."""
    command.upgrade(alembic_config(database_url), "head")


def main() -> None:
    from zipbob_catalog.settings import load_catalog_settings

    settings = load_catalog_settings()
    configure_logging(settings.service, settings.logging.level)
    url = settings.database.url.get_secret_value()
    if url.startswith("sqlite"):
        Path(url.split("///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)
    upgrade_to_head(url)
    log.info("catalog schema is at the latest revision")


if __name__ == "__main__":
    main()
