"""Keep the local profile's data across a clean restart, or none of it.

SQLite (gateway, catalog) and nx-27017 (review) live on disk, but the embedded S3 (moto)
and Redis (fakeredis) live in memory. On a clean stop — services already stopped, so
nothing is being written — the launcher copies both to disk and marks the data dir
clean. On start, a clean data dir is restored and the mark removed at once; a data dir
without the mark (a crash, a kill -9, a snapshot cut short) is wiped instead. So a user
gets back everything they created, or a fresh platform, never rows pointing at photos
that are gone.
"""

from __future__ import annotations

import base64
import json
import shutil
import time
from pathlib import Path
from typing import Any

CLEAN_MARK = "clean-shutdown"
S3_SNAPSHOT = "s3-snapshot"
REDIS_SNAPSHOT = "redis-snapshot.json"


def claim_data_dir(data_dir: Path) -> bool:
    """True when the data dir holds a complete snapshot to restore; otherwise it is wiped."""
    mark = data_dir / CLEAN_MARK
    if mark.is_file():
        mark.unlink()  # from here on a crash must not pass for a clean stop
        return True
    if data_dir.exists():
        shutil.rmtree(data_dir)
    return False


def _s3_client(endpoint_url: str, env: dict[str, str]) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id=env["ZIPBOB_S3__ACCESS_KEY_ID"],
        aws_secret_access_key=env["ZIPBOB_S3__SECRET_ACCESS_KEY"],
    )


def save(data_dir: Path, *, s3_url: str, redis_url: str, env: dict[str, str]) -> None:
    """Copy the in-memory servers' state to disk, then mark the data dir clean."""
    import redis

    s3 = _s3_client(s3_url, env)
    target = data_dir / S3_SNAPSHOT
    if target.exists():
        shutil.rmtree(target)
    for bucket in (b["Name"] for b in s3.list_buckets()["Buckets"]):
        (target / bucket).mkdir(parents=True, exist_ok=True)
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                path = target / bucket / item["Key"]
                path.parent.mkdir(parents=True, exist_ok=True)
                s3.download_file(bucket, item["Key"], str(path))
    client = redis.Redis.from_url(redis_url)
    entries = []
    now_ms = int(time.time() * 1000)
    for key in client.scan_iter(count=1000):
        dumped, pttl = client.dump(key), client.pttl(key)
        if dumped is None or pttl == -2:  # gone in between
            continue
        entries.append(
            {
                "key": base64.b64encode(key).decode(),
                "value": base64.b64encode(dumped).decode(),
                # Absolute, so time spent stopped counts against expiring keys.
                "expires_at_ms": now_ms + pttl if pttl > 0 else None,
            }
        )
    client.close()
    (data_dir / REDIS_SNAPSHOT).write_text(json.dumps(entries))
    (data_dir / CLEAN_MARK).write_text("the embedded servers' state was saved completely\n")


def restore(data_dir: Path, *, s3_url: str, redis_url: str, env: dict[str, str]) -> int:
    """Load a snapshot made by save() into fresh servers; returns how many objects."""
    import redis

    s3 = _s3_client(s3_url, env)
    restored = 0
    source = data_dir / S3_SNAPSHOT
    if source.is_dir():
        for bucket_dir in source.iterdir():
            existing = {b["Name"] for b in s3.list_buckets()["Buckets"]}
            if bucket_dir.name not in existing:
                s3.create_bucket(Bucket=bucket_dir.name)
            for path in (p for p in bucket_dir.rglob("*") if p.is_file()):
                s3.upload_file(str(path), bucket_dir.name, path.relative_to(bucket_dir).as_posix())
                restored += 1
    snapshot = data_dir / REDIS_SNAPSHOT
    if snapshot.is_file():
        client = redis.Redis.from_url(redis_url)
        now_ms = int(time.time() * 1000)
        for entry in json.loads(snapshot.read_text()):
            ttl_ms = 0  # RESTORE reads 0 as "no expiry"
            if entry["expires_at_ms"] is not None:
                ttl_ms = entry["expires_at_ms"] - now_ms
                if ttl_ms <= 0:
                    continue  # expired while the platform was stopped
            client.restore(
                base64.b64decode(entry["key"]),
                ttl_ms,
                base64.b64decode(entry["value"]),
                replace=True,
            )
        client.close()
    return restored
