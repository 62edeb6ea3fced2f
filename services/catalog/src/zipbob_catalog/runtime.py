"""Everything a request or background task needs, built once per app (see bootstrap.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from zipbob_catalog.db import make_engine, make_session_factory
from zipbob_catalog.products.pagecache import PageCache
from zipbob_catalog.settings import CatalogSettings
from zipbob_catalog.storage import ObjectStore


class CommitSignal:
    """Rung after a transaction that wrote outbox rows commits; the in-process relay is
    its listener (it wakes instead of waiting for its next poll). Without one: a no-op."""

    def __init__(self) -> None:
        self._listeners: list[Callable[[], None]] = []

    def listen(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def __call__(self) -> None:
        for listener in self._listeners:
            listener()


@dataclass(frozen=True)
class CatalogRuntime:
    settings: CatalogSettings
    engine: AsyncEngine
    reads: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    store: ObjectStore
    on_events_committed: CommitSignal
    # List pages this process answered, dropped whenever it commits a product write.
    pages: PageCache

    @classmethod
    def build(cls, settings: CatalogSettings) -> CatalogRuntime:
        # Two pools: transactions (ORM writes, outbox, sweeper, migrations) and the public
        # reads, in autocommit from connect (products.repository.SqlProducts). Reads take
        # most of the traffic: ``pool_size`` for them, half that for transactions, each
        # with half the setting again as overflow (2 x pool_size at most, as one pool was).
        url = settings.database.url.get_secret_value()
        size, echo = settings.database.pool_size, settings.database.echo
        half = max(1, size // 2)
        engine = make_engine(url, pool_size=half, max_overflow=half, echo=echo)
        return cls(
            settings=settings,
            engine=engine,
            reads=make_engine(url, pool_size=size, max_overflow=half, echo=echo, autocommit=True),
            sessions=make_session_factory(engine),
            store=ObjectStore(settings.s3),
            on_events_committed=CommitSignal(),
            pages=PageCache(
                seconds=settings.list_cache.seconds,
                walk_seconds=settings.list_cache.walk_seconds,
                search_seconds=settings.list_cache.search_seconds,
                max_rows=settings.list_cache.max_rows,
            ),
        )

    async def close(self) -> None:
        await self.pages.close()
        await self.engine.dispose()
        await self.reads.dispose()
