"""The S3 error map as a table: which failure becomes which domain error (pure, no I/O).
The same branches run against real servers in tests/integration/test_platform_objectstore."""

from __future__ import annotations

import pytest
from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    ReadTimeoutError,
)

from zipbob_platform.objectstore import (
    ObjectMissing,
    StorageRejected,
    StorageUnavailable,
    storage_error,
)


def client_error(code: str, status: int) -> ClientError:
    response = {
        "Error": {"Code": code, "Message": "m"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, "PutObject")  # type: ignore[arg-type]


def upload_failed(cause: BaseException | None) -> S3UploadFailedError:
    """What boto3's transfer raises: its own error, raised while handling the ClientError."""
    try:
        try:
            if cause is not None:
                raise cause
            raise S3UploadFailedError("Failed to upload f to b/k: no cause")
        except ClientError as exc:
            raise S3UploadFailedError(f"Failed to upload f to b/k: {exc}")  # noqa: B904
    except S3UploadFailedError as wrapped:
        return wrapped


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (client_error("SlowDown", 503), StorageUnavailable),
        (client_error("Throttling", 400), StorageUnavailable),
        (client_error("RequestTimeout", 400), StorageUnavailable),
        (client_error("InternalError", 500), StorageUnavailable),
        (client_error("", 502), StorageUnavailable),
        (client_error("TooManyRequests", 429), StorageUnavailable),
        (client_error("AccessDenied", 403), StorageRejected),
        (client_error("NoSuchBucket", 404), StorageRejected),
        (client_error("InvalidAccessKeyId", 403), StorageRejected),
        (client_error("SignatureDoesNotMatch", 403), StorageRejected),
        (client_error("NoSuchKey", 404), ObjectMissing),
        (client_error("404", 404), ObjectMissing),
        (EndpointConnectionError(endpoint_url="http://s3"), StorageUnavailable),
        (ConnectTimeoutError(endpoint_url="http://s3"), StorageUnavailable),
        (ReadTimeoutError(endpoint_url="http://s3"), StorageUnavailable),
        (ConnectionResetError("reset"), StorageUnavailable),
        (NoCredentialsError(), StorageRejected),
        (upload_failed(client_error("SlowDown", 503)), StorageUnavailable),
        (upload_failed(client_error("AccessDenied", 403)), StorageRejected),
        (upload_failed(None), StorageUnavailable),
    ],
)
def test_each_failure_maps_to_one_domain_error(failure: BaseException, expected: type) -> None:
    error = storage_error(failure, action="S3 PUT b/k")
    assert type(error) is expected
    assert str(error).startswith("S3 PUT b/k")
    if expected is StorageUnavailable:
        assert error.status == 503 and error.headers["Retry-After"] == "5"


def test_bugs_are_not_storage_errors() -> None:
    with pytest.raises(ParamValidationError):
        storage_error(ParamValidationError(report="Bucket is required"), action="S3 GET")
    with pytest.raises(KeyError):
        storage_error(KeyError("x"), action="S3 GET")
