"""Alembic environment: async engines; reuses a connection handed in by the application."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from zipbob_gateway.auth.models import User  # noqa: F401 - registers the table
from zipbob_gateway.db import Base

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_own_engine(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
        await connection.commit()
    await engine.dispose()


def run_migrations_online() -> None:
    handed_in = context.config.attributes.get("connection")
    if handed_in is not None:
        _run(handed_in)
        return
    asyncio.run(_run_with_own_engine(context.config.get_main_option("sqlalchemy.url")))


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; run against a database")
run_migrations_online()
