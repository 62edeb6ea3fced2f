"""The one S3 object store (boto3/botocore) of the catalog and the resizer, with ONE error
mapping from S3's failures to domain errors:

- ``StorageUnavailable`` (503 + ``Retry-After``): worth retrying. Connection errors and
  timeouts, every other ``BotoCoreError``, ``ClientError`` for throttling (SlowDown, ...),
  429 or any 5xx, and ``S3UploadFailedError`` unless it wraps a permanent refusal.
- ``StorageRejected`` (500, logged as an error): S3 said no for good, so retrying cannot
  help until an operator acts: AccessDenied, NoSuchBucket, bad credentials, or any other
  4xx ``ClientError``.
- ``ObjectMissing``: the key does not exist (NoSuchKey/404) where it must.

Every call is blocking (run it in a worker thread from async code). The client is the
botocore one, built on first use (or by ``warm_up()``): importing boto3 and loading the
S3 model cost about 0.5 s, and going to botocore directly skips boto3's resource layer
and s3transfer (about 70 ms), which matters for the resizer's cold start. Multipart
uploads (``put_file``) import boto3's transfer manager only when first used.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

from .problems import PROBLEM_BASE, DomainError

log = logging.getLogger("zipbob.objectstore")

DELETE_BATCH = 1000  # the most keys one DeleteObjects request may name
RETRY_AFTER_SECONDS = 5
MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
RETRYABLE_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "BandwidthLimitExceeded",
        "RequestTimeout",
        "RequestTimeoutException",
        "InternalError",
        "ServiceUnavailable",
        "OperationAborted",
    }
)


class StorageUnavailable(DomainError):
    """S3 could not be reached or asked us to back off: retry later."""

    status = 503
    title = "Object storage unavailable"
    type_ = PROBLEM_BASE + "storage-unavailable"

    def __init__(self, reason: str, *, retry_after: int = RETRY_AFTER_SECONDS) -> None:
        super().__init__(
            "the object store is unavailable; nothing was saved, retry shortly",
            headers={"Retry-After": str(retry_after)},
        )
        self.reason = reason  # for logs and internal callers; may name buckets and keys

    def __str__(self) -> str:
        return self.reason


class StorageRejected(DomainError):
    """S3 refused for good (AccessDenied, NoSuchBucket, bad credentials): a configuration
    problem an operator must fix; retrying the same request cannot succeed before that."""

    status = 500
    title = "Object storage refused the request"
    type_ = PROBLEM_BASE + "storage-rejected"

    def __init__(self, reason: str, *, code: str) -> None:
        super().__init__("the object store refused the request; the operators have been told")
        self.reason = reason
        self.code = code

    def __str__(self) -> str:
        return self.reason


class ObjectMissing(DomainError):
    """The object named does not exist."""

    status = 404
    type_ = PROBLEM_BASE + "not-found"

    def __init__(self, reason: str) -> None:
        super().__init__("the object does not exist")
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


def storage_error(exc: BaseException, *, action: str) -> DomainError:
    """The domain error for a failure of an S3 call; ``action`` says what was tried."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        NoCredentialsError,
        ParamValidationError,
        PartialCredentialsError,
    )

    if type(exc).__name__ == "S3UploadFailedError":  # boto3's wrapper of a ClientError
        wrapped = exc.__cause__ or exc.__context__
        if isinstance(wrapped, ClientError):
            exc = wrapped
        else:
            return StorageUnavailable(f"{action}: {exc}")
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code") or "")
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        reason = f"{action}: {code or status} {error.get('Message') or ''}".strip()
        if code in MISSING_CODES:
            return ObjectMissing(reason)
        if code in RETRYABLE_CODES or status == 429 or status >= 500:
            return StorageUnavailable(reason)
        return StorageRejected(reason, code=code or str(status))
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return StorageRejected(f"{action}: {exc}", code=type(exc).__name__)
    if isinstance(exc, ParamValidationError):
        raise exc  # a bug in the caller, not an S3 failure
    if isinstance(exc, BotoCoreError | OSError):  # connection errors, timeouts, ...
        return StorageUnavailable(f"{action}: {type(exc).__name__}: {exc}")
    raise exc


def _raise_mapped(exc: Exception, *, action: str) -> NoReturn:
    error = storage_error(exc, action=action)
    if isinstance(error, StorageRejected):
        log.error("object store refused %s", error.reason, extra={"s3_code": error.code})
    elif isinstance(error, StorageUnavailable):
        log.warning("object store unavailable: %s", error.reason)
    raise error from exc


@dataclass(frozen=True, slots=True)
class StoredObject:
    key: str
    last_modified: datetime


def original_key(*, product_id: str, image_id: str) -> str:
    return f"products/{product_id}/{image_id}/original"


def variant_key(*, product_id: str, image_id: str, variant: str) -> str:
    return f"products/{product_id}/{image_id}/{variant}.jpg"


class ObjectStore:
    """``settings`` is an S3 settings section: ``endpoint_url``, ``region``,
    ``access_key_id`` and ``secret_access_key`` (SecretStr), and optionally
    ``public_endpoint_url`` (the host presigned URLs name), ``presign_expiry_seconds``
    and ``timeout_seconds``. Keyword arguments tune the client per service."""

    def __init__(
        self,
        settings: Any,
        *,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        max_attempts: int = 2,  # retries after the first try (botocore's retries.max_attempts)
        max_pool_connections: int = 16,
    ) -> None:
        timeout = getattr(settings, "timeout_seconds", None) or 10.0
        self.settings = settings
        self._options = {
            "connect_timeout": connect_timeout or timeout,
            "read_timeout": read_timeout or timeout,
            "max_attempts": max_attempts,
            "max_pool_connections": max_pool_connections,
        }
        self._lock = threading.Lock()  # a call arriving mid-warm-up waits for the one client
        self._client: Any = None
        self._presigner: Any = None

    # -- clients ---------------------------------------------------------------------------

    def _new_client(self, endpoint_url: str | None) -> Any:
        # boto3.client() is a thin wrapper over this very call. A session of its own:
        # sessions are not safe to share across threads.
        import botocore.session
        from botocore.config import Config

        settings = self.settings
        return botocore.session.Session().create_client(
            "s3",
            endpoint_url=endpoint_url or None,
            region_name=settings.region,
            aws_access_key_id=settings.access_key_id.get_secret_value() or None,
            aws_secret_access_key=settings.secret_access_key.get_secret_value() or None,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                connect_timeout=self._options["connect_timeout"],
                read_timeout=self._options["read_timeout"],
                retries={"max_attempts": self._options["max_attempts"], "mode": "standard"},
                max_pool_connections=self._options["max_pool_connections"],
            ),
        )

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._new_client(self.settings.endpoint_url)
            return self._client

    def warm_up(self) -> None:
        """Build the client now (off the request path)."""
        self.client  # noqa: B018 (built for its side effect)

    # -- objects ---------------------------------------------------------------------------

    def get(self, *, bucket: str, key: str) -> bytes:
        try:
            body: bytes = self.client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except Exception as exc:
            _raise_mapped(exc, action=f"S3 GET {bucket}/{key}")
        return body

    def put(self, *, bucket: str, key: str, data: bytes, content_type: str) -> None:
        try:
            self.client.put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type)
        except Exception as exc:
            _raise_mapped(exc, action=f"S3 PUT {bucket}/{key}")

    def put_file(self, *, bucket: str, key: str, path: Path, content_type: str) -> None:
        """Upload a file, in parts when large (boto3's transfer manager)."""
        from boto3.s3.transfer import S3Transfer

        try:
            with S3Transfer(self.client) as transfer:
                transfer.upload_file(
                    str(path), bucket, key, extra_args={"ContentType": content_type}
                )
        except Exception as exc:
            _raise_mapped(exc, action=f"S3 PUT {bucket}/{key}")

    def exists(self, *, bucket: str, key: str) -> bool:
        try:
            self.client.head_object(Bucket=bucket, Key=key)
        except Exception as exc:
            if isinstance(storage_error(exc, action="HEAD"), ObjectMissing):
                return False
            _raise_mapped(exc, action=f"S3 HEAD {bucket}/{key}")
        return True

    def delete(self, *, bucket: str, keys: list[str]) -> int:
        """Delete ``keys``; keys that do not exist count as deleted (S3 says so too).

        Returns the number of keys asked for; raises StorageUnavailable if any could not go.
        """
        for start in range(0, len(keys), DELETE_BATCH):
            batch = keys[start : start + DELETE_BATCH]
            try:
                answer = self.client.delete_objects(
                    Bucket=bucket,
                    Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True},
                )
            except Exception as exc:
                _raise_mapped(exc, action=f"S3 DELETE in {bucket}")
            errors = [e for e in answer.get("Errors", []) if e.get("Code") != "NoSuchKey"]
            if errors:
                first = errors[0]
                raise StorageUnavailable(
                    f"S3 DELETE {bucket}/{first.get('Key')}: {first.get('Code')} "
                    f"({len(errors)} of {len(batch)} keys not deleted)"
                )
        return len(keys)

    def list_objects(self, *, bucket: str, prefix: str) -> Iterator[StoredObject]:
        """Every object under ``prefix`` (a blocking generator)."""
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    yield StoredObject(key=item["Key"], last_modified=item["LastModified"])
        except Exception as exc:
            _raise_mapped(exc, action=f"S3 LIST {bucket}/{prefix}")

    def ping(self, *, bucket: str) -> None:
        """Readiness: the bucket is reachable with our credentials."""
        action = f"S3 HEAD bucket {bucket}"
        try:
            self.client.head_bucket(Bucket=bucket)
        except Exception as exc:
            if isinstance(storage_error(exc, action=action), ObjectMissing):  # HEAD: no body
                exc = StorageRejected(f"{action}: NoSuchBucket", code="NoSuchBucket")
                log.error("object store refused %s", exc.reason, extra={"s3_code": exc.code})
                raise exc from None
            _raise_mapped(exc, action=action)

    # -- presigned URLs --------------------------------------------------------------------

    def presigned_get(self, *, bucket: str, key: str) -> str:
        """A GET URL on the public endpoint (signatures cover the host): local computation."""
        with self._lock:
            if self._presigner is None:
                public = getattr(self.settings, "public_endpoint_url", None)
                self._presigner = self._new_client(public or self.settings.endpoint_url)
        return str(
            self._presigner.generate_presigned_url(
                "get_object",
                Params={"Bucket": bucket, "Key": key},
                ExpiresIn=getattr(self.settings, "presign_expiry_seconds", 3600),
            )
        )
