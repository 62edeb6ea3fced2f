"""``python -m zipbob_gateway.migrate``: upgrade the users database to the latest schema."""

from __future__ import annotations

import asyncio

from zipbob_platform.settings import load_settings

from .db import create_engine, upgrade_to_head
from .settings import GatewaySettings


async def migrate(url: str) -> None:
    engine = create_engine(url)
    try:
        await upgrade_to_head(engine)
    finally:
        await engine.dispose()


def main() -> None:
    settings = load_settings("gateway", GatewaySettings)
    asyncio.run(migrate(settings.database_url))
    print(f"gateway database at revision head ({settings.profile} profile)")


if __name__ == "__main__":
    main()
