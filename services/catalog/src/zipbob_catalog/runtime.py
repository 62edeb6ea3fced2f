"""Everything a request or background task needs, built once per app."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from zipbob_catalog.db import make_engine, make_session_factory
from zipbob_catalog.settings import CatalogSettings
from zipbob_catalog.storage import ObjectStore


@dataclass
class CatalogRuntime:
    settings: CatalogSettings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    store: ObjectStore
    # Set by the in-process relay so fresh events go out without waiting for a poll.
    on_events_committed: Callable[[], None] = field(default=lambda: None)

    @classmethod
    def build(cls, settings: CatalogSettings) -> CatalogRuntime:
        engine = make_engine(
            settings.database.url.get_secret_value(),
            pool_size=settings.database.pool_size,
            echo=settings.database.echo,
        )
        return cls(
            settings=settings,
            engine=engine,
            sessions=make_session_factory(engine),
            store=ObjectStore(settings.s3),
        )

    async def close(self) -> None:
        await self.engine.dispose()
