"""Object storage through boto3 (S3 API): originals in, presigned variant URLs out.

boto3 is blocking, so every network call runs in a worker thread. Presigning is a local
computation made with a client whose endpoint is the public address clients can reach.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from zipbob_catalog.settings import S3Settings


def original_key(*, product_id: str, image_id: str) -> str:
    return f"products/{product_id}/{image_id}/original"


@dataclass(frozen=True, slots=True)
class StoredObject:
    key: str
    last_modified: datetime


class ObjectStore:
    def __init__(self, settings: S3Settings) -> None:
        self.settings = settings
        credentials: dict[str, Any] = {"region_name": settings.region}
        if settings.access_key_id.get_secret_value():
            credentials["aws_access_key_id"] = settings.access_key_id.get_secret_value()
            credentials["aws_secret_access_key"] = settings.secret_access_key.get_secret_value()
        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=3,
            read_timeout=30,
            max_pool_connections=32,
        )
        self.client = boto3.client(
            "s3", endpoint_url=settings.endpoint_url or None, config=config, **credentials
        )
        public_endpoint = settings.public_endpoint_url or settings.endpoint_url or None
        self.presigner = boto3.client(
            "s3", endpoint_url=public_endpoint, config=config, **credentials
        )

    async def put_file(self, *, bucket: str, key: str, path: Path, content_type: str) -> None:
        await asyncio.to_thread(
            self.client.upload_file,
            str(path),
            bucket,
            key,
            ExtraArgs={"ContentType": content_type},
        )

    async def delete(self, *, bucket: str, key: str) -> None:
        await asyncio.to_thread(self.client.delete_object, Bucket=bucket, Key=key)

    async def exists(self, *, bucket: str, key: str) -> bool:
        try:
            await asyncio.to_thread(self.client.head_object, Bucket=bucket, Key=key)
        except self.client.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    async def check(self) -> None:
        await asyncio.to_thread(self.client.head_bucket, Bucket=self.settings.original_bucket)

    def presigned_get(self, *, bucket: str, key: str) -> str:
        return str(
            self.presigner.generate_presigned_url(
                "get_object",
                Params={"Bucket": bucket, "Key": key},
                ExpiresIn=self.settings.presign_expiry_seconds,
            )
        )

    def list_objects(self, *, bucket: str, prefix: str) -> Iterator[StoredObject]:
        """Blocking generator (the sweeper runs it in a thread)."""
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                yield StoredObject(key=item["Key"], last_modified=item["LastModified"])

    def delete_keys(self, *, bucket: str, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):
            batch = [{"Key": key} for key in keys[start : start + 1000]]
            self.client.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
