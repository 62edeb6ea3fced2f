"""Build the catalog's container from settings, inside the app's lifespan (cosmicpython's
``bootstrap``): the runtime (engine, sessions, object store), the schema when this profile
migrates at start-up, then the background workers (relay, results consumer, sweeper)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from zipbob_catalog.background import BackgroundWorkers
from zipbob_catalog.db import ping
from zipbob_catalog.migrate import MIGRATIONS_DIR
from zipbob_catalog.products.repository import SqlProducts
from zipbob_catalog.runtime import CatalogRuntime
from zipbob_catalog.settings import CatalogSettings
from zipbob_platform.health import ReadinessCheck
from zipbob_platform.sql import upgrade_to_head


@dataclass(frozen=True)
class CatalogContainer:
    runtime: CatalogRuntime
    workers: BackgroundWorkers
    products: SqlProducts


@contextlib.asynccontextmanager
async def bootstrap(settings: CatalogSettings) -> AsyncIterator[CatalogContainer]:
    runtime = CatalogRuntime.build(settings)
    try:
        if settings.database.migrate_on_start:
            await upgrade_to_head(runtime.engine, MIGRATIONS_DIR)
        workers = BackgroundWorkers(runtime)
        await workers.start()
        try:
            products = SqlProducts(runtime.sessions, runtime.reads, runtime.pages)
            yield CatalogContainer(runtime=runtime, workers=workers, products=products)
        finally:
            await workers.stop()
    finally:
        await runtime.close()


def relay_only(settings: CatalogSettings) -> CatalogSettings:
    """The settings of ``python -m zipbob_catalog.relay``: the outbox relay on, the other
    background workers (results consumer, sweeper) off."""
    return settings.model_copy(
        update={
            "outbox": settings.outbox.model_copy(update={"relay_enabled": True}),
            "results": settings.results.model_copy(update={"consume_rabbitmq": False}),
            "sweeper": settings.sweeper.model_copy(update={"enabled": False}),
        }
    )


def readiness(container: CatalogContainer) -> dict[str, ReadinessCheck]:
    runtime = container.runtime

    async def database() -> None:  # both pools: writes and the public reads
        await ping(runtime.engine)
        await ping(runtime.reads)

    return {"database": database, "object_store": runtime.store.check}
