"""Originals in, variants out: S3 through boto3's botocore client (blocking calls, run in
worker threads)."""

from __future__ import annotations

import threading
from typing import Any

from zipbob_resizer.settings import S3Settings

DELETE_BATCH = 1000  # the most keys one DeleteObjects request may name


class OriginalMissing(Exception):
    """The object named by the event does not exist: a permanent failure."""


class StorageUnavailable(Exception):
    """S3 could not be reached or answered with an error: retry later."""


class ObjectStore:
    """The boto3 client is built on first use: importing boto3 and loading the S3 model
    take about 0.5 s, which `warm_up()` moves off the cold-start path (see __main__)."""

    def __init__(self, settings: S3Settings) -> None:
        self.settings = settings
        self._client_lock = threading.Lock()
        self._built: Any = None

    @property
    def _client(self) -> Any:
        with self._client_lock:  # a request arriving mid-warm-up waits for the one client
            if self._built is None:
                self._built = _new_client(self.settings)
            return self._built

    def warm_up(self) -> None:
        self._client  # noqa: B018 (built for its side effect)

    def get(self, *, bucket: str, key: str) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return self._client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "404", "NotFound"):
                raise OriginalMissing(f"s3://{bucket}/{key} does not exist") from exc
            raise StorageUnavailable(f"S3 GET {bucket}/{key}: {code or exc}") from exc
        except BotoCoreError as exc:
            raise StorageUnavailable(f"S3 GET {bucket}/{key}: {exc}") from exc

    def put(self, *, bucket: str, key: str, data: bytes, content_type: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client.put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type)
        except (BotoCoreError, ClientError) as exc:
            raise StorageUnavailable(f"S3 PUT {bucket}/{key}: {exc}") from exc

    def exists(self, *, bucket: str, key: str) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client.head_object(Bucket=bucket, Key=key)
            return True
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "404", "NotFound"):
                return False
            raise StorageUnavailable(f"S3 HEAD {bucket}/{key}: {code or exc}") from exc
        except BotoCoreError as exc:
            raise StorageUnavailable(f"S3 HEAD {bucket}/{key}: {exc}") from exc

    def delete(self, *, bucket: str, keys: list[str]) -> int:
        """Delete `keys` from `bucket`; keys that do not exist count as deleted (S3 says so too).

        Returns the number of keys asked for; raises StorageUnavailable if any could not go.
        """
        from botocore.exceptions import BotoCoreError, ClientError

        for start in range(0, len(keys), DELETE_BATCH):
            batch = keys[start : start + DELETE_BATCH]
            try:
                answer = self._client.delete_objects(
                    Bucket=bucket,
                    Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True},
                )
            except (BotoCoreError, ClientError) as exc:
                raise StorageUnavailable(f"S3 DELETE in {bucket}: {exc}") from exc
            errors = [e for e in answer.get("Errors", []) if e.get("Code") != "NoSuchKey"]
            if errors:
                first = errors[0]
                raise StorageUnavailable(
                    f"S3 DELETE {bucket}/{first.get('Key')}: {first.get('Code')} "
                    f"({len(errors)} of {len(batch)} keys not deleted)"
                )
        return len(keys)

    def ping(self) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client.head_bucket(Bucket=self.settings.resized_bucket)
        except (BotoCoreError, ClientError) as exc:
            raise StorageUnavailable(str(exc)) from exc


def _new_client(settings: S3Settings) -> Any:
    # boto3.client() is a thin wrapper over this very call; going to botocore directly
    # skips importing boto3's resource layer and s3transfer (about 70 ms of cold start).
    # A session of its own: sessions are not safe to share across threads.
    import botocore.session
    from botocore.config import Config

    return botocore.session.Session().create_client(
        "s3",
        endpoint_url=settings.endpoint_url,
        region_name=settings.region,
        aws_access_key_id=settings.access_key_id.get_secret_value() or None,
        aws_secret_access_key=settings.secret_access_key.get_secret_value() or None,
        config=Config(
            connect_timeout=settings.timeout_seconds,
            read_timeout=settings.timeout_seconds,
            retries={"max_attempts": 2, "mode": "standard"},
            max_pool_connections=16,
        ),
    )


def variant_key(product_id: str, image_id: str, variant: str) -> str:
    return f"products/{product_id}/{image_id}/{variant}.jpg"


def original_key(product_id: str, image_id: str) -> str:
    return f"products/{product_id}/{image_id}/original"
