"""`make dev-env`: write a git-ignored .env for `make run PROFILE=dev` and create its databases.

The dev profile talks to real servers on localhost; its secrets never live in config/,
so this writes them once: database URLs, the RabbitMQ URL, S3 credentials for your local
MinIO (or any S3 endpoint) and a freshly generated ES256 signing key for the gateway.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sys
from pathlib import Path

GATEWAY_DB = "postgresql+asyncpg://postgres@127.0.0.1:5432/zipbob_gateway"
CATALOG_DB = "mysql+asyncmy://root@127.0.0.1:3306/zipbob_catalog?charset=utf8mb4"


async def create_databases() -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    postgres = create_async_engine(
        "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres", isolation_level="AUTOCOMMIT"
    )
    async with postgres.connect() as conn:
        exists = await conn.scalar(
            text("SELECT 1 FROM pg_database WHERE datname = 'zipbob_gateway'")
        )
        if not exists:
            await conn.execute(text('CREATE DATABASE "zipbob_gateway"'))
    await postgres.dispose()
    mariadb = create_async_engine("mysql+asyncmy://root@127.0.0.1:3306/")
    async with mariadb.connect() as conn:
        await conn.execute(
            text("CREATE DATABASE IF NOT EXISTS zipbob_catalog CHARACTER SET utf8mb4")
        )
    await mariadb.dispose()


def main() -> int:
    target = Path(".env")
    if target.exists() and "--force" not in sys.argv:
        print(".env exists; keeping it (pass --force to write a new one)")
        return 0
    from zipbob_gateway.keys.keyring import SigningKey

    key = SigningKey.generate()
    s3_key, s3_secret = f"zipbob-{secrets.token_hex(4)}", secrets.token_urlsafe(24)
    lines = [
        "# Written by `make dev-env` for `make run PROFILE=dev`. Never commit this file.",
        # Scoped (ZIPBOB_<SERVICE>_...): `make run` gives every service this one environment.
        f"ZIPBOB_GATEWAY_DATABASE__URL={GATEWAY_DB}",
        f"ZIPBOB_CATALOG_DATABASE__URL={CATALOG_DB}",
        "ZIPBOB_RABBITMQ__URL=amqp://guest:guest@127.0.0.1:5672/%2F",
        "ZIPBOB_S3__ENDPOINT_URL=http://127.0.0.1:9000",
        f"ZIPBOB_S3__ACCESS_KEY_ID={s3_key}",
        f"ZIPBOB_S3__SECRET_ACCESS_KEY={s3_secret}",
        f"ZIPBOB_JWT__PRIVATE_KEYS={json.dumps([{'kid': key.kid, 'pem': key.pem()}])}",
    ]
    target.write_text("\n".join(lines) + "\n")
    target.chmod(0o600)
    asyncio.run(create_databases())
    print(
        "wrote .env and created the databases zipbob_gateway (PostgreSQL) and zipbob_catalog "
        "(MariaDB).\nStart an S3 endpoint on 127.0.0.1:9000 with these credentials, e.g.\n"
        f"  docker run -d -p 9000:9000 -e MINIO_ROOT_USER={s3_key} "
        "-e MINIO_ROOT_PASSWORD=<ZIPBOB_S3__SECRET_ACCESS_KEY from .env> "
        "minio/minio server /data\n"
        "and create the buckets original-images and resized-images; then `make run PROFILE=dev`."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
