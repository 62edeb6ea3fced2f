"""Schema migrations: ``python -m zipbob_catalog.migrate`` upgrades the database to head.

The catalog-migrate Job runs this with nothing but the database URL: it loads the
migrations-only settings, never the S3 or RabbitMQ sections.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from zipbob_platform.logging import configure_logging
from zipbob_platform.sql import migrate_url

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
log = logging.getLogger("zipbob.catalog.migrate")


def upgrade_to_head(database_url: str) -> None:
    """Blocking, with an engine of its own (tests call it in a thread from async code)."""
    asyncio.run(migrate_url(database_url, MIGRATIONS_DIR))


def main() -> None:
    from zipbob_catalog.settings import load_migration_settings

    settings = load_migration_settings()
    configure_logging(settings.service, settings.logging.level)
    upgrade_to_head(settings.database.url.get_secret_value())
    log.info("catalog schema is at the latest revision")


if __name__ == "__main__":
    main()
