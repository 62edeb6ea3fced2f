"""The catalog's async face of the platform's object store: originals in, presigned
variant URLs out. Each blocking boto3 call runs in a worker thread; errors arrive already
mapped by the platform (StorageUnavailable → 503 + Retry-After, StorageRejected → 500)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

from zipbob_catalog.settings import S3Settings
from zipbob_platform import objectstore
from zipbob_platform.objectstore import StoredObject, original_key

__all__ = ["ObjectStore", "StoredObject", "original_key"]


class ObjectStore:
    def __init__(self, settings: S3Settings) -> None:
        self.settings = settings
        self.blocking = objectstore.ObjectStore(
            settings, connect_timeout=3, read_timeout=30, max_attempts=3, max_pool_connections=32
        )

    async def put_file(self, *, bucket: str, key: str, path: Path, content_type: str) -> None:
        await asyncio.to_thread(
            self.blocking.put_file, bucket=bucket, key=key, path=path, content_type=content_type
        )

    async def delete(self, *, bucket: str, key: str) -> None:
        await asyncio.to_thread(self.blocking.delete, bucket=bucket, keys=[key])

    async def exists(self, *, bucket: str, key: str) -> bool:
        return await asyncio.to_thread(self.blocking.exists, bucket=bucket, key=key)

    async def check(self) -> None:
        await asyncio.to_thread(self.blocking.ping, bucket=self.settings.original_bucket)

    def presigned_get(self, *, bucket: str, key: str) -> str:
        return self.blocking.presigned_get(bucket=bucket, key=key)

    def list_objects(self, *, bucket: str, prefix: str) -> Iterator[StoredObject]:
        """Blocking generator (the sweeper runs it in a thread)."""
        return self.blocking.list_objects(bucket=bucket, prefix=prefix)

    def delete_keys(self, *, bucket: str, keys: list[str]) -> None:
        self.blocking.delete(bucket=bucket, keys=keys)
