"""Catalog test fixtures: settings and a live catalog server (the token signer, ``signer``,
comes from the shared pytest plugin, zipbob_devkit.testing).

Real servers only: the SQL backends, moto's S3 server and RabbitMQ come from the
platform plugin's fixtures; the catalog runs in uvicorn on a loopback port.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from zipbob_catalog.main import create_app
from zipbob_catalog.settings import CatalogSettings
from zipbob_devkit.testing import Served, TokenSigner, noisy_jpeg, serve_asgi
from zipbob_platform.auth import static_jwks_source

# Event receivers refuse unauthenticated senders (zipbob_platform.event_auth); the test
# clients present this shared secret.
TEST_EVENT_SECRET = "test-event-secret"
EVENT_HEADERS = {"X-ZipBob-Event-Token": TEST_EVENT_SECRET}


def catalog_settings(sql_url: str, s3_env: dict[str, str], **sections: Any) -> CatalogSettings:
    """Settings for a test catalog; ``sections`` override whole sections (dicts)."""
    raw: dict[str, Any] = {
        "service": "catalog",
        "profile": "test",
        "logging": {"level": "WARNING", "access_log": False},
        "database": {"url": sql_url, "migrate_on_start": True, "pool_size": 5},
        "s3": {
            "endpoint_url": s3_env["ZIPBOB_S3__ENDPOINT_URL"],
            "access_key_id": s3_env["ZIPBOB_S3__ACCESS_KEY_ID"],
            "secret_access_key": s3_env["ZIPBOB_S3__SECRET_ACCESS_KEY"],
        },
        "outbox": {"relay_enabled": False},
        "results": {"consume_rabbitmq": False},
        "sweeper": {"enabled": False},
        "event_auth": {"shared_secret": TEST_EVENT_SECRET},
    }
    for name, value in sections.items():
        raw[name] = {**raw.get(name, {}), **value}
    return CatalogSettings.model_validate(raw)


@dataclass
class RunningCatalog:
    app: Any
    url: str
    client: httpx.AsyncClient

    @property
    def runtime(self) -> Any:
        return self.app.state.container.runtime

    @staticmethod
    def product_body(**overrides: Any) -> dict[str, Any]:
        """A valid body for POST /api/products, in plain words no search test looks for."""
        return {
            "name": "Plain thing",
            "description": "nothing to see",
            "price": "10.00",
            "currency": "EUR",
            "stock": 1,
            "category": "misc",
            **overrides,
        }

    async def create_product(
        self, signer: TokenSigner, seller: str, **overrides: Any
    ) -> dict[str, Any]:
        """Create ``product_body(**overrides)`` as ``seller``; the 201's product."""
        response = await self.client.post(
            "/api/products", json=self.product_body(**overrides), headers=signer.headers(seller)
        )
        assert response.status_code == 201, response.text
        return dict(response.json())


async def start_catalog(settings: CatalogSettings, signer: TokenSigner) -> tuple[Any, Served]:
    """The app and its ``Served`` handle (``handle[2]`` is the port)."""
    app = create_app(settings, jwks_source=static_jwks_source(signer.jwks))
    return app, await serve_asgi(app, lifespan="on", loop="asyncio")


async def stop_catalog(handle: Served) -> None:
    await handle.stop()


@pytest.fixture(scope="module")
async def catalog(
    sql_url: str, s3_server: Any, signer: TokenSigner
) -> AsyncIterator[RunningCatalog]:
    """A catalog on this module's database, background workers off (tests drive them)."""
    settings = catalog_settings(sql_url, s3_server.env)
    app, handle = await start_catalog(settings, signer)
    url = f"http://127.0.0.1:{handle[2]}"
    async with httpx.AsyncClient(base_url=url, timeout=30, headers=EVENT_HEADERS) as client:
        yield RunningCatalog(app=app, url=url, client=client)
    await stop_catalog(handle)


class ImageFactory:
    """Small real images, plus files that only claim to be images."""

    @staticmethod
    def encoded(fmt: str, width: int = 64, height: int = 48) -> bytes:
        import io

        from PIL import Image

        buffer = io.BytesIO()
        Image.new("RGB", (width, height), (200, 60, 30)).save(buffer, format=fmt)
        return buffer.getvalue()

    def jpeg(self, width: int = 64, height: int = 48) -> bytes:
        return self.encoded("JPEG", width, height)

    def png(self, width: int = 64, height: int = 48) -> bytes:
        return self.encoded("PNG", width, height)

    def webp(self, width: int = 64, height: int = 48) -> bytes:
        return self.encoded("WEBP", width, height)

    def gif(self) -> bytes:
        return self.encoded("GIF")

    @staticmethod
    def png_claiming(width: int, height: int) -> bytes:
        """A valid PNG header announcing width x height pixels, with no pixel data."""
        import struct
        import zlib

        def chunk(kind: bytes, data: bytes) -> bytes:
            crc = zlib.crc32(kind + data) & 0xFFFFFFFF
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

        header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
        return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")

    def noisy_jpeg(self, target_bytes: int) -> bytes:
        """A photo-like JPEG of about ``target_bytes`` (random noise compresses badly)."""
        return noisy_jpeg(target_bytes)


@pytest.fixture(scope="session")
def images() -> ImageFactory:
    return ImageFactory()


@dataclass
class RabbitNames:
    """Per-run exchange and queue names, deleted afterwards (never anyone else's)."""

    url: str
    exchange: str
    dead_letter_exchange: str
    results_queue: str
    tap_queue: str

    def channel(self) -> Any:
        import pika

        connection = pika.BlockingConnection(pika.URLParameters(self.url))
        return connection, connection.channel()

    def declare_tap(self) -> None:
        """A queue receiving every event published to our exchange."""
        connection, channel = self.channel()
        channel.exchange_declare(self.exchange, exchange_type="topic", durable=True)
        channel.queue_declare(self.tap_queue, durable=True)
        channel.queue_bind(self.tap_queue, self.exchange, routing_key="#")
        connection.close()

    def drain_tap(self) -> list[tuple[Any, bytes]]:
        """Every message in the tap queue as (properties, body), in queue order."""
        connection, channel = self.channel()
        messages = []
        while True:
            method, properties, body = channel.basic_get(self.tap_queue, auto_ack=True)
            if method is None:
                break
            messages.append((properties, body))
        connection.close()
        return messages

    def cleanup(self) -> None:
        connection, channel = self.channel()
        for queue in (self.tap_queue, self.results_queue, f"{self.results_queue}.dlq"):
            channel.queue_delete(queue)
        for exchange in (self.exchange, self.dead_letter_exchange):
            channel.exchange_delete(exchange)
        connection.close()


@pytest.fixture
def rabbit_names(rabbitmq_url: str) -> Any:
    from zipbob_devkit.testing import unique_name

    names = RabbitNames(
        url=rabbitmq_url,
        exchange=unique_name("test.catalog.events"),
        dead_letter_exchange=unique_name("test.catalog.dlx"),
        results_queue=unique_name("test.catalog.image-results"),
        tap_queue=unique_name("test.catalog.tap"),
    )
    yield names
    names.cleanup()


@pytest.fixture(scope="session")
def catalog_kit() -> Any:
    """Helpers for tests that start their own catalog (test modules cannot import conftest)."""
    from types import SimpleNamespace

    return SimpleNamespace(settings=catalog_settings, start=start_catalog, stop=stop_catalog)
