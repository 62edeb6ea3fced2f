"""``python -m zipbob_gateway.migrate``: upgrade the users database to the latest schema.

The gateway-migrate Job runs this with nothing but the database URL: it loads the
migrations-only settings, never the JWT keys or Redis.
"""

from __future__ import annotations

import asyncio

from zipbob_platform.sql import migrate_url

from .db import MIGRATIONS_DIR
from .settings import load_migration_settings


def main() -> None:
    settings = load_migration_settings()
    asyncio.run(migrate_url(settings.database_url, MIGRATIONS_DIR))
    print(f"gateway database at revision head ({settings.profile} profile)")


if __name__ == "__main__":
    main()
