"""Removes objects no image row points at: uploads whose commit never happened (crash
between the object write and the commit) and objects of deleted products that the
event consumers missed. Only objects older than the grace period are touched, so an
upload whose transaction is still in flight is never swept."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from zipbob_catalog.db import utcnow
from zipbob_catalog.products.repository import existing_image_ids
from zipbob_catalog.runtime import CatalogRuntime
from zipbob_catalog.storage import StoredObject

log = logging.getLogger("zipbob.catalog.sweeper")
PREFIX = "products/"
_CHUNK = 500


def image_id_of(key: str) -> str | None:
    parts = key.split("/")
    return parts[2] if len(parts) == 4 and parts[0] == "products" else None


class OrphanSweeper:
    def __init__(
        self,
        runtime: CatalogRuntime,
        *,
        prefix: str = PREFIX,
        now: Callable[[], datetime] = utcnow,  # injectable: tests move time, never wait
    ) -> None:
        self.runtime = runtime
        self.now = now
        self.prefix = prefix
        self.settings = runtime.settings.sweeper
        self._stopping = asyncio.Event()

    def _list_old(self, bucket: str) -> list[StoredObject]:
        return list(self.runtime.store.list_objects(bucket=bucket, prefix=self.prefix))

    async def sweep_once(self) -> int:
        cutoff = self.now() - timedelta(seconds=self.settings.grace_seconds)
        s3 = self.runtime.settings.s3
        removed = 0
        for bucket in (s3.original_bucket, s3.resized_bucket):
            objects = await asyncio.to_thread(self._list_old, bucket)
            old = [
                (o.key, image_id)
                for o in objects
                if o.last_modified <= cutoff and (image_id := image_id_of(o.key))
            ]
            known: set[str] = set()
            ids = sorted({image_id for _, image_id in old})
            async with self.runtime.sessions() as session:
                for start in range(0, len(ids), _CHUNK):
                    known |= await existing_image_ids(session, ids[start : start + _CHUNK])
            orphans = [key for key, image_id in old if image_id not in known]
            if orphans:
                await asyncio.to_thread(self.runtime.store.delete_keys, bucket=bucket, keys=orphans)
                log.info("removed %d orphan objects from %s", len(orphans), bucket)
            removed += len(orphans)
        return removed

    async def run_forever(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.sweep_once()
            except Exception as exc:
                log.warning("orphan sweep failed: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.settings.interval_seconds)

    def stop(self) -> None:
        self._stopping.set()
