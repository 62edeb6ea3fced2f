"""Builders for the review suite: tokens, a stand-in catalog, settings and a running app."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from aiohttp import web

from zipbob_devkit.embedded import free_port
from zipbob_devkit.testing import TokenSigner, unique_name
from zipbob_platform.auth import static_jwks_source
from zipbob_review.main import create_app
from zipbob_review.settings import ReviewSettings

SIGNER = TokenSigner(kid="review-test-key")  # the shared test signer (zipbob_devkit.testing)
JWKS = SIGNER.jwks


def token(role: str = "customer", user_id: str | None = None, **claims: Any) -> str:
    return SIGNER.token(user_id or unique_name("user"), role, **claims)


def auth(role: str = "customer", user_id: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(role, user_id)}"}


@dataclass
class CatalogStub:
    """A real HTTP server standing in for the catalog; tests decide what it answers."""

    products: set[str] = field(default_factory=set)
    status_override: int | None = None
    delay_seconds: float = 0.0
    calls: int = 0
    port: int = 0
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add_product(self) -> str:
        product_id = uuid.uuid4().hex
        self.products.add(product_id)
        return product_id

    async def _product(self, request: web.Request) -> web.Response:
        self.calls += 1
        if self.delay_seconds:
            await _sleep(self.delay_seconds)
        if self.status_override is not None:
            return web.json_response({"detail": "stub failure"}, status=self.status_override)
        product_id = request.match_info["product_id"]
        if product_id in self.products:
            return web.json_response({"id": product_id})
        return web.json_response({"status": 404}, status=404)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/api/products/{product_id}", self._product)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        self.port = self.port or free_port()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


# Event receivers refuse unauthenticated senders (zipbob_platform.event_auth); the test
# clients present this shared secret.
TEST_EVENT_SECRET = "test-event-secret"
EVENT_HEADERS = {"X-ZipBob-Event-Token": TEST_EVENT_SECRET}


def review_settings(
    *, mongo_url: str, redis_url: str, catalog_url: str, database: str, **review: Any
) -> ReviewSettings:
    """Test settings; ``review`` overrides parts of the ``review`` section (nested dicts)."""
    section: dict[str, Any] = {
        "cache": {"key_prefix": unique_name("zbtest:review"), "ttl_seconds": 30},
        "pagination": {"max_offset": 1000},
    }
    for name, value in review.items():
        section[name] = {**section.get(name, {}), **value}
    return ReviewSettings.model_validate(
        {
            "service": "review",
            "profile": "test",
            "logging": {"access_log": False, "level": "WARNING"},
            "mongo": {"url": mongo_url, "database": database, "server_selection_timeout_ms": 800},
            "redis": {"url": redis_url, "retry_after_failure_seconds": 0.2},
            "catalog": {"url": catalog_url, "timeout_seconds": 0.5, "breaker_open_seconds": 1},
            "review": section,
            "event_auth": {"shared_secret": TEST_EVENT_SECRET},
        }
    )


@contextlib.asynccontextmanager
async def running_app(
    settings: ReviewSettings, *, wait_for_storage: bool = True
) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan, behind an in-process httpx client; waits for indexes."""
    app = create_app(settings, jwks_source=static_jwks_source(JWKS))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://review", headers=EVENT_HEADERS
        ) as client:
            client.app = app  # type: ignore[attr-defined]
            deadline = time.monotonic() + 10
            while wait_for_storage and not app.state.container.deps.repository.schema_ready:
                if time.monotonic() > deadline:
                    raise RuntimeError("review storage not prepared within 10s")
                await _sleep(0.02)
            yield client


async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)


def review_body(rating: int = 4, **overrides: Any) -> dict[str, Any]:
    return {"rating": rating, "title": "Solid", "body": "Does what it says.", **overrides}


def metric_value(name: str, **labels: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name, labels) or 0.0


async def drop_database(mongo_url: str, name: str) -> None:
    """Tidy up after a module (matters when ZIPBOB_TEST_MONGO_URL is a real, lasting MongoDB)."""
    from pymongo import AsyncMongoClient

    client = AsyncMongoClient(mongo_url, serverSelectionTimeoutMS=2000)
    try:
        await client.drop_database(name)
    finally:
        await client.close()
