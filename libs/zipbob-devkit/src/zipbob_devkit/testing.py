"""Pytest plugin shared by every test suite: real servers, never mocks.

The root conftest loads it. Real PostgreSQL, MariaDB, Redis and RabbitMQ are expected on
localhost (``scripts/check_test_services.py`` makes sure before the run); moto's S3 server
and nx-27017 are started here. ``ZIPBOB_TEST_MONGO_URL`` points the Mongo fixture at a
real MongoDB instead.

Fixtures:
- ``s3_server``: moto S3 on a free port with both buckets (``.url``, ``.env``)
- ``mongo_url``: nx-27017 in memory, or ``ZIPBOB_TEST_MONGO_URL``
- ``redis_url``, ``rabbitmq_url``: the real servers (never flush them: use unique prefixes)
- ``sql_url``: parametrized over sqlite, postgresql, mariadb; a fresh database per module
- ``clock``: a ``FakeClock`` (monotonic seconds that move only when a test says so)
- ``signer``: a ``TokenSigner``, signing access tokens the way the gateway does, with its JWKS
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple, TypeVar
from urllib.parse import quote

import pytest

from . import embedded

SQL_BACKENDS = ("sqlite", "postgresql", "mariadb")
POSTGRES_ADMIN_URL = os.environ.get(
    "ZIPBOB_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
MARIADB_ADMIN_URL = os.environ.get(
    "ZIPBOB_TEST_MARIADB_URL", "mysql+asyncmy://root@127.0.0.1:3306/"
)
REDIS_URL = os.environ.get("ZIPBOB_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
RABBITMQ_URL = os.environ.get("ZIPBOB_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")

T = TypeVar("T")


class FakeClock:
    """Monotonic seconds that move only by ``advance()``: inject it where code takes a clock
    (``CircuitBreaker(clock=...)``) so a test never sleeps or asserts on wall time."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


class TokenSigner:
    """Signs ES256 access tokens the way the gateway does (tests and benchmarks only).

    ``jwks`` is the document a service verifies them against
    (``zipbob_platform.auth.static_jwks_source(signer.jwks)``).
    """

    def __init__(self, kid: str | None = None) -> None:
        import jwt
        from cryptography.hazmat.primitives.asymmetric import ec

        self.key = ec.generate_private_key(ec.SECP256R1())
        self.kid = kid or uuid.uuid4().hex[:12]
        public = jwt.algorithms.ECAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        self.jwk: dict[str, Any] = {**public, "kid": self.kid, "alg": "ES256", "use": "sig"}
        self.jwks: dict[str, Any] = {"keys": [self.jwk]}

    @staticmethod
    def claims(user_id: str, role: str = "seller", **claims: Any) -> dict[str, Any]:
        """The gateway's access-token claims; a claim given as None is left out."""
        now = int(time.time())
        payload = {
            "sub": user_id,
            "role": role,
            "iss": "zipbob-gateway",
            "aud": "zipbob",
            "iat": now,
            "exp": now + 600,
            "jti": uuid.uuid4().hex,
            **claims,
        }
        return {name: value for name, value in payload.items() if value is not None}

    def encode(self, payload: dict[str, Any]) -> str:
        """Sign exactly ``payload`` (for tests that forge or omit claims)."""
        import jwt

        return jwt.encode(payload, self.key, algorithm="ES256", headers={"kid": self.kid})

    def token(self, user_id: str, role: str = "seller", **claims: Any) -> str:
        return self.encode(self.claims(user_id, role, **claims))

    def headers(self, user_id: str, role: str = "seller") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(user_id, role)}"}


@pytest.fixture(scope="session")
def signer() -> TokenSigner:
    return TokenSigner()


def unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def rabbitmqctl(*args: str) -> str:
    """Run ``rabbitmqctl -q`` on the local broker (here RabbitMQ runs locally); its output."""
    command = shutil.which("rabbitmqctl")
    if command is None:
        raise RuntimeError("rabbitmqctl is needed to give this run its own RabbitMQ vhost")
    done = subprocess.run(
        [command, "-q", *args], check=True, capture_output=True, text=True, timeout=60
    )
    return done.stdout


def add_rabbitmq_vhost(vhost: str, *, host: str = "127.0.0.1", port: int = 5672) -> str:
    """A RabbitMQ vhost of this run only, so the configuration's fixed queue and exchange
    names cannot meet another run's; guest gets every permission there. Returns its AMQP
    URL; ``delete_rabbitmq_vhost`` removes it with all its queues."""
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    return rabbitmq_vhost_url(vhost, host=host, port=port)


def rabbitmq_vhost_url(vhost: str, *, host: str = "127.0.0.1", port: int = 5672) -> str:
    return f"amqp://guest:guest@{host}:{port}/{quote(vhost, safe='')}"


def delete_rabbitmq_vhost(vhost: str) -> None:
    rabbitmqctl("delete_vhost", vhost)


async def eventually(
    probe: Callable[[], Awaitable[T]], *, within: float = 20.0, interval: float = 0.05
) -> T:
    """Await ``probe()`` until it gives something truthy and return that; TimeoutError
    after ``within`` seconds. For what a test's workers do in the background."""
    async with asyncio.timeout(within):
        while True:
            value = await probe()
            if value:
                return value
            await asyncio.sleep(interval)


class Served(NamedTuple):
    """An ASGI app served by uvicorn inside this event loop (see ``serve_asgi``)."""

    server: Any
    task: asyncio.Task[None]
    port: int

    async def stop(self, within: float = 15.0) -> None:
        self.server.should_exit = True
        await asyncio.wait_for(self.task, within)


async def serve_asgi(app: Any, *, within: float = 30.0, **options: Any) -> Served:
    """Serve ``app`` with uvicorn in this event loop on a free loopback port, once it
    listens. ``options`` go to ``uvicorn.Config`` (``lifespan``, ``loop``, ``http``...);
    uvicorn neither configures logging nor takes the process's signals."""
    import uvicorn

    port = embedded.free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, **options)
    server = uvicorn.Server(config)
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(within):
        while not server.started:
            if task.done():
                task.result()  # raises what stopped it
                raise RuntimeError("uvicorn stopped before it started")
            await asyncio.sleep(0.02)
    return Served(server, task, port)


def service_env(
    service: str,
    *,
    port: int,
    data_dir: Path,
    config_dir: Path | None = None,
    profile: str = "test",
    **env: str,
) -> dict[str, str]:
    """The environment of a ``python -m zipbob_<service>`` child in a test or benchmark:
    this process's own, then the profile, the config folder (the repository's, found as
    the services find it, unless given), a data dir and the service's port, then ``env``
    (settings such as ``ZIPBOB_DATABASE__URL=...``), which win."""
    from zipbob_platform.settings import find_config_dir

    return {
        **os.environ,
        "ZIPBOB_PROFILE": profile,
        "ZIPBOB_CONFIG_DIR": str(config_dir or find_config_dir()),
        "ZIPBOB_DATA_DIR": str(data_dir),
        f"ZIPBOB_{service.upper()}_PORT": str(port),
        **env,
    }


async def serve_app(app: Any) -> tuple[Any, int]:
    """Serve an aiohttp ``web.Application`` on a free loopback port: the stand-in upstreams,
    JWKS documents and event sinks of tests and benchmarks. Returns the runner (``await
    runner.cleanup()`` stops it) and the port."""
    from aiohttp import web

    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = embedded.free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, port


def noisy_jpeg(at_least: int, *, side: int = 256, growth: float = 1.3, quality: int = 90) -> bytes:
    """A photo-like JPEG of at least ``at_least`` bytes: random noise compresses badly, so
    the square grows by ``growth`` from ``side`` pixels until the file is large enough."""
    import io

    from PIL import Image

    while True:
        image = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=quality)
        if buffer.tell() >= at_least:
            return buffer.getvalue()
        side = int(side * growth)


def upload_original(s3: Any, data: bytes) -> dict[str, Any]:
    """Put ``data`` in the originals bucket the way the catalog does, for a new product and
    image; returns the ``image.uploaded`` event data (the resizer tests and cold-start bench)."""
    product_id, image_id = unique_name("p"), unique_name("i")
    key = f"products/{product_id}/{image_id}/original"
    s3.put_object(Bucket="original-images", Key=key, Body=data)
    return {
        "product_id": product_id,
        "image_id": image_id,
        "seller_id": "seller-1",
        "bucket": "original-images",
        "key": key,
        "content_type": "image/jpeg",
        "bytes": len(data),
    }


async def create_sql_database(backend: str, *, tmp_dir: Path) -> str:
    """A brand-new empty database on ``backend``; returns its SQLAlchemy async URL."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_dir / unique_name('zipbob')}.db"
    name = unique_name("zipbob_test")
    if backend == "postgresql":
        engine = create_async_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        await engine.dispose()
        return POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    if backend == "mariadb":
        engine = create_async_engine(MARIADB_ADMIN_URL)
        async with engine.connect() as conn:
            await conn.execute(text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
        await engine.dispose()
        return MARIADB_ADMIN_URL.rstrip("/") + f"/{name}?charset=utf8mb4"
    raise ValueError(f"unknown SQL backend {backend!r}")


async def drop_sql_database(backend: str, url: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    if backend == "sqlite":
        with contextlib.suppress(FileNotFoundError):
            os.unlink(url.split("///", 1)[1])
        return
    name = url.rsplit("/", 1)[1].split("?", 1)[0]
    if backend == "postgresql":
        engine = create_async_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    else:
        engine = create_async_engine(MARIADB_ADMIN_URL)
        async with engine.connect() as conn:
            await conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
    await engine.dispose()


def s3_client(server: embedded.EmbeddedServer) -> Any:
    """A boto3 S3 client on the test S3 server, for tests that look at the stored objects."""
    import boto3

    env = server.env
    return boto3.client(
        "s3",
        endpoint_url=env["ZIPBOB_S3__ENDPOINT_URL"],
        aws_access_key_id=env["ZIPBOB_S3__ACCESS_KEY_ID"],
        aws_secret_access_key=env["ZIPBOB_S3__SECRET_ACCESS_KEY"],
        region_name=embedded.S3_REGION,
    )


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[embedded.EmbeddedServer]:
    server = embedded.start_s3(log_dir=tmp_path_factory.mktemp("s3-logs"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mongo_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    real = os.environ.get("ZIPBOB_TEST_MONGO_URL")
    if real:
        yield real
        return
    server = embedded.start_mongo(log_dir=tmp_path_factory.mktemp("mongo-logs"))
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def redis_url() -> str:
    return REDIS_URL


@pytest.fixture(scope="session")
def rabbitmq_url() -> str:
    return RABBITMQ_URL


@pytest.fixture(scope="module", params=SQL_BACKENDS)
async def sql_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    backend = request.param
    url = await create_sql_database(backend, tmp_dir=tmp_path_factory.mktemp("sqlite"))
    yield url
    await drop_sql_database(backend, url)
