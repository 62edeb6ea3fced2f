"""Alembic environment: runs the catalog migrations on the async engine it is given."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from zipbob_catalog.db import Base, make_engine

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    engine = make_engine(config.attributes["database_url"])
    try:
        async with engine.connect() as conn:
            await conn.run_sync(_run)
            await conn.commit()
    finally:
        await engine.dispose()


asyncio.run(_run_online())
