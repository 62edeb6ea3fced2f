"""Async SQLAlchemy engine and sessions for the users database; Alembic migrations."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase

from zipbob_platform import sql

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


class Base(DeclarativeBase):
    pass


def create_engine(url: str, *, pool_size: int = 5) -> AsyncEngine:
    return sql.create_engine(url, pool_size=pool_size)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def upgrade_to_head(engine: AsyncEngine) -> None:
    """Run the migrations on an existing engine (from inside a running event loop)."""
    await sql.upgrade_to_head(engine, MIGRATIONS_DIR)
