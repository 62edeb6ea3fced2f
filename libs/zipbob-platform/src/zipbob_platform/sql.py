"""SQL for the services that have a database: one engine recipe, one migration style.

Migrations run on an async engine's connection (``upgrade_to_head``), the same way from the
app's lifespan (local/test profiles) and from ``python -m zipbob_<service>.migrate`` (the
migrate Jobs); each service's Alembic ``env.py`` is one call to ``run_migrations``. Needs
``sqlalchemy[asyncio]`` and ``alembic`` (the ``sql`` extra; imported lazily).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy import Connection, Dialect, MetaData
    from sqlalchemy.ext.asyncio import AsyncEngine


def ensure_sqlite_dir(url: str) -> None:
    """SQLite creates the file but not its folder (the data dir on a first ``make run``)."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1].split("?", 1)[0]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)


def create_engine(
    url: str,
    *,
    pool_size: int = 10,
    echo: bool = False,
    max_overflow: int | None = None,
    pre_ping: bool = True,
    custom_plans: bool = False,
    autocommit: bool = False,
) -> AsyncEngine:
    """``pre_ping=False`` saves a round trip per checkout (BEGIN + SELECT + ROLLBACK on
    asyncpg) at the price of one failed statement per stale connection after a database
    restart; ``custom_plans`` makes PostgreSQL plan every execution of asyncpg's prepared
    statements (a generic plan is blind to parameter values such as a search term).
    ``autocommit``: an engine for single-statement reads, its connections in autocommit
    from their first connect (no transaction, no reset on return). Per checkout, as an
    execution option on a transactional engine, the same costs MariaDB four more commands
    a read (autocommit on, then a rollback and autocommit off on return).

    At most ``pool_size + max_overflow`` connections (``max_overflow`` defaults to
    ``pool_size``), and each one opened is kept: SQLAlchemy's QueuePool closes an overflow
    connection as soon as it is returned, so a replica with more requests in flight than
    ``pool_size`` opened and closed a connection every few requests (catalog, 8 list pages
    in flight on a pool of 4 + 2: 836 MariaDB connects for 3,320 requests, each connect
    costing more CPU than the page's query; on SQLite each one a new thread of aiosqlite's,
    whose default pool SQLAlchemy used to give it). Connections open lazily, so an idle replica
    still holds only what its busiest moment needed (recycled after 30 minutes)."""
    from sqlalchemy import event
    from sqlalchemy.ext.asyncio import create_async_engine

    ensure_sqlite_dir(url)
    kwargs: dict[str, Any] = {"echo": echo, "pool_pre_ping": pre_ping}
    if autocommit:
        kwargs.update(isolation_level="AUTOCOMMIT", pool_reset_on_return=None)
    overflow = pool_size if max_overflow is None else max_overflow
    kwargs.update(pool_size=pool_size + overflow, max_overflow=0, pool_recycle=1800)
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 30}
    if custom_plans and url.startswith("postgresql"):
        kwargs["connect_args"] = {"server_settings": {"plan_cache_mode": "force_custom_plan"}}
    engine = create_async_engine(url, **kwargs)
    event.listen(engine.sync_engine, "do_connect", _connect_errors_as_dbapi_errors)
    return engine


def _connect_errors_as_dbapi_errors(
    dialect: Dialect, _record: Any, cargs: Any, cparams: Any
) -> Any:
    """asyncpg lets a refused or unresolvable address through as a bare OSError, which
    SQLAlchemy passes on unwrapped: the services' DBAPIError handlers (503 + Retry-After)
    would not see it and the caller would get a 500. Raised as the driver's
    OperationalError, it becomes SQLAlchemy's, as asyncmy's own connect errors already are."""
    try:
        return dialect.connect(*cargs, **cparams)
    except OSError as exc:
        raise dialect.loaded_dbapi.OperationalError(f"cannot connect: {exc}") from exc


async def ping(engine: AsyncEngine) -> None:
    from sqlalchemy import text

    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


async def upgrade_to_head(engine: AsyncEngine, migrations_dir: Path) -> None:
    """Upgrade the database behind ``engine`` to the newest revision in ``migrations_dir``."""
    from alembic import command
    from alembic.config import Config

    def upgrade(connection: Connection) -> None:
        config = Config()
        config.set_main_option("script_location", str(migrations_dir))
        config.attributes["connection"] = connection
        command.upgrade(config, "head")

    async with engine.begin() as connection:
        await connection.run_sync(upgrade)


async def migrate_url(url: str, migrations_dir: Path) -> None:
    """``upgrade_to_head`` on an engine of its own (the migrate entry points)."""
    engine = create_engine(url, pool_size=1)
    try:
        await upgrade_to_head(engine, migrations_dir)
    finally:
        await engine.dispose()


def run_migrations(metadata: MetaData) -> None:
    """The body of a service's Alembic ``env.py``: run on the connection handed in."""
    from alembic import context

    if context.is_offline_mode():
        raise SystemExit("offline (SQL script) migrations are not supported; run on a database")
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise SystemExit("run migrations with zipbob_platform.sql.upgrade_to_head")
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()
