"""Engine, session factory and the column types every backend stores exactly."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, DateTime
from sqlalchemy.dialects import mysql
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Session
from sqlalchemy.types import TypeDecorator

from zipbob_platform import sql

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


def make_engine(url: str, **options: Any) -> AsyncEngine:
    """A catalog engine: zipbob_platform.sql.create_engine's ``options`` (pool_size,
    max_overflow, echo; ``autocommit`` for the public reads), without pre-ping and with
    custom plans."""
    # No pre-ping: a read costs less than the ping did; a connection gone stale (database
    # restarted) fails once with a 503 + Retry-After and SQLAlchemy drops it. Custom plans:
    # a generic plan does not see the search term (a seq scan for a rare word).
    return sql.create_engine(url, pre_ping=False, custom_plans=True, **options)


class CatalogSession(Session):
    """The catalog's ORM session: on MariaDB every flush that inserts, renames or deletes
    a product writes its search terms in the same transaction (products.search)."""


def make_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # Imported here, not at the top: search imports this module; importing it registers
    # the flush listeners on CatalogSession.
    from zipbob_catalog.products import search  # noqa: F401

    return async_sessionmaker(engine, expire_on_commit=False, sync_session_class=CatalogSession)


def supports_skip_locked(engine: AsyncEngine) -> bool:
    return engine.dialect.name in ("postgresql", "mysql", "mariadb")


async def ping(engine: AsyncEngine) -> None:
    await sql.ping(engine)
