"""Engine, session factory and the column types every backend stores exactly."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, DateTime, text
from sqlalchemy.dialects import mysql
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

# Money is stored as an integer count of thousandths: exact on SQLite too (its NUMERIC
# affinity would turn decimals into floats), and enough for every ISO 4217 minor unit.
MONEY_SCALE = 3
_MONEY_FACTOR = Decimal(10) ** MONEY_SCALE


class Money(TypeDecorator[Decimal]):
    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> int | None:
        if value is None:
            return None
        return int((Decimal(value) * _MONEY_FACTOR).to_integral_exact())

    def process_result_value(self, value: Any, dialect: Any) -> Decimal | None:
        if value is None:
            return None
        return Decimal(int(value)).scaleb(-MONEY_SCALE)


class UtcDateTime(TypeDecorator[datetime]):
    """Naive UTC in the database (MariaDB/SQLite keep no zone), aware UTC in Python."""

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: Any, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value  # type: ignore[no-any-return]

    def process_result_value(self, value: Any, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


def make_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> AsyncEngine:
    # No pre-ping: on asyncpg it is BEGIN + SELECT + ROLLBACK on every checkout, more than
    # the read itself. A connection gone stale (database restarted) fails its statement
    # once, SQLAlchemy sees the disconnect and drops the pool, and the caller gets a 503
    # with Retry-After; pool_recycle keeps idle connections younger than server timeouts.
    kwargs: dict[str, Any] = {"echo": echo, "pool_pre_ping": False}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 30}
    else:
        kwargs.update(pool_size=pool_size, max_overflow=pool_size, pool_recycle=1800)
    if url.startswith("postgresql"):
        # asyncpg prepares every statement; after five runs PostgreSQL may switch to a
        # generic plan, blind to the search term (a seq scan for a rare word). Plan each.
        kwargs["connect_args"] = {"server_settings": {"plan_cache_mode": "force_custom_plan"}}
    return create_async_engine(url, **kwargs)


def make_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def supports_skip_locked(engine: AsyncEngine) -> bool:
    return engine.dialect.name in ("postgresql", "mysql", "mariadb")


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
