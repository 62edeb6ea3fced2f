"""The platform's object store against real servers, one test per branch of its error map.

moto's S3 server answers the happy path and the permanent refusals (NoSuchKey,
NoSuchBucket, and AccessDenied from a second moto server that enforces IAM). S3 being
unreachable is a real socket fault (TcpProxy cut or blackholed). moto cannot throttle,
so SlowDown and 5xx answers come from faults.S3ErrorServer, which speaks S3's error format.
"""

from __future__ import annotations

import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import SecretStr

from zipbob_devkit import embedded
from zipbob_devkit.faults import S3ErrorServer, TcpProxy
from zipbob_devkit.testing import unique_name
from zipbob_platform.objectstore import (
    ObjectMissing,
    ObjectStore,
    StorageRejected,
    StorageUnavailable,
)

BUCKET = "original-images"  # created by the s3_server fixture


def s3_settings(url: str, key: str = embedded.LOCAL_S3_KEY, secret: str = "") -> Any:
    """Any S3 settings section will do: the store reads these attributes."""
    return SimpleNamespace(
        endpoint_url=url,
        public_endpoint_url=None,
        region=embedded.S3_REGION,
        access_key_id=SecretStr(key),
        secret_access_key=SecretStr(secret or embedded.LOCAL_S3_SECRET),
        timeout_seconds=1.0,
        presign_expiry_seconds=600,
    )


def store_at(url: str, **credentials: str) -> ObjectStore:
    return ObjectStore(s3_settings(url, **credentials), max_attempts=0)  # no client retries


@pytest.fixture(scope="module")
def store(s3_server) -> ObjectStore:
    return store_at(s3_server.url)


def test_objects_round_trip(store: ObjectStore, tmp_path: Path) -> None:
    prefix = unique_name("objectstore")
    store.put(bucket=BUCKET, key=f"{prefix}/a", data=b"abc", content_type="text/plain")
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * (9 * 1024 * 1024))  # past the 8 MiB multipart threshold
    store.put_file(bucket=BUCKET, key=f"{prefix}/b", path=big, content_type="image/jpeg")
    assert store.get(bucket=BUCKET, key=f"{prefix}/a") == b"abc"
    assert store.exists(bucket=BUCKET, key=f"{prefix}/b")
    assert sorted(o.key for o in store.list_objects(bucket=BUCKET, prefix=prefix)) == [
        f"{prefix}/a",
        f"{prefix}/b",
    ]
    with urllib.request.urlopen(store.presigned_get(bucket=BUCKET, key=f"{prefix}/a")) as answer:  # noqa: S310
        assert answer.read() == b"abc"
    assert store.delete(bucket=BUCKET, keys=[f"{prefix}/a", f"{prefix}/b", f"{prefix}/c"]) == 3
    assert not store.exists(bucket=BUCKET, key=f"{prefix}/a")
    store.ping(bucket=BUCKET)


def test_a_missing_key_is_object_missing(store: ObjectStore) -> None:
    with pytest.raises(ObjectMissing) as missing:
        store.get(bucket=BUCKET, key=unique_name("nothing"))
    assert missing.value.status == 404


def test_a_missing_bucket_is_rejected_not_retried(store: ObjectStore, tmp_path: Path) -> None:
    absent = unique_name("no-such-bucket").replace("_", "-")
    with pytest.raises(StorageRejected) as put:
        store.put(bucket=absent, key="k", data=b"1", content_type="text/plain")
    assert put.value.code == "NoSuchBucket" and put.value.status == 500
    small = tmp_path / "f"
    small.write_bytes(b"1")
    with pytest.raises(StorageRejected) as upload:  # boto3 wraps it in S3UploadFailedError
        store.put_file(bucket=absent, key="k", path=small, content_type="text/plain")
    assert upload.value.code == "NoSuchBucket"
    with pytest.raises(StorageRejected):
        store.ping(bucket=absent)


@pytest.fixture(scope="module")
def locked_s3(tmp_path_factory) -> Iterator[SimpleNamespace]:
    """A moto server that enforces IAM, and an IAM user that may do nothing at all."""
    import boto3

    port = embedded.free_port()
    args = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    # The first three calls (the setup below) are let through unauthenticated.
    server = embedded._spawn(
        "s3-iam",
        args,
        port,
        tmp_path_factory.mktemp("s3-iam-logs"),
        env={"INITIAL_NO_AUTH_ACTION_COUNT": "3"},
    )
    try:
        admin = {
            "endpoint_url": server.url,
            "region_name": embedded.S3_REGION,
            "aws_access_key_id": "setup",
            "aws_secret_access_key": "setup",
        }
        boto3.client("s3", **admin).create_bucket(Bucket="locked")
        iam = boto3.client("iam", **admin)
        iam.create_user(UserName="nobody")
        key = iam.create_access_key(UserName="nobody")["AccessKey"]
        yield SimpleNamespace(url=server.url, key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    finally:
        server.stop()


def test_access_denied_is_rejected_not_retried(locked_s3, tmp_path: Path) -> None:
    store = store_at(locked_s3.url, key=locked_s3.key, secret=locked_s3.secret)
    with pytest.raises(StorageRejected) as get:
        store.get(bucket="locked", key="k")
    assert get.value.code == "AccessDenied"
    small = tmp_path / "f"
    small.write_bytes(b"1")
    with pytest.raises(StorageRejected) as upload:
        store.put_file(bucket="locked", key="k", path=small, content_type="text/plain")
    assert upload.value.code == "AccessDenied"
    stranger = store_at(locked_s3.url, key="AKIAUNKNOWN", secret="wrong")
    with pytest.raises(StorageRejected) as unknown:
        stranger.put(bucket="locked", key="k", data=b"1", content_type="text/plain")
    assert unknown.value.code == "InvalidAccessKeyId"


def test_unreachable_s3_is_unavailable(s3_server, tmp_path: Path) -> None:
    proxy = TcpProxy(s3_server.port).start()
    try:
        store = store_at(f"http://{proxy.url_host_port}")
        store.ping(bucket=BUCKET)  # through the proxy, all is well
        small = tmp_path / "f"
        small.write_bytes(b"1")
        proxy.cut()  # connections reset, new ones refused
        for call in (
            lambda: store.get(bucket=BUCKET, key="k"),
            lambda: store.put_file(bucket=BUCKET, key="k", path=small, content_type="a/b"),
            lambda: store.exists(bucket=BUCKET, key="k"),
        ):
            with pytest.raises(StorageUnavailable) as refused:
                call()
            assert refused.value.status == 503
            assert refused.value.headers == {"Retry-After": "5"}
        proxy.blackhole()  # accepted, never answered: the read timeout fires
        with pytest.raises(StorageUnavailable) as hung:
            store.put(bucket=BUCKET, key="k", data=b"1", content_type="text/plain")
        assert "Timeout" in hung.value.reason
    finally:
        proxy.stop()


@pytest.fixture(scope="module")
def s3_error_server() -> Iterator[S3ErrorServer]:
    server = S3ErrorServer().start()
    yield server
    server.stop()


@pytest.mark.parametrize(
    ("status", "code"),
    [(503, "SlowDown"), (500, "InternalError"), (429, "TooManyRequests"), (400, "Throttling")],
)
def test_throttling_and_server_errors_are_unavailable(
    s3_error_server: S3ErrorServer, status: int, code: str, tmp_path: Path
) -> None:
    s3_error_server.status, s3_error_server.code = status, code
    store = store_at(s3_error_server.url)
    with pytest.raises(StorageUnavailable) as get:
        store.get(bucket=BUCKET, key="k")
    assert code in get.value.reason
    small = tmp_path / "f"
    small.write_bytes(b"1")
    with pytest.raises(StorageUnavailable):  # S3UploadFailedError wrapping the same answer
        store.put_file(bucket=BUCKET, key="k", path=small, content_type="text/plain")
