"""Gateway test fixtures: a real upstream (aiohttp.web) and real gateways (uvicorn) on free ports.

Everything runs in the session event loop; the gateway talks to the real Redis and to a
real SQL database (SQLite by default, all three backends where a test takes ``sql_url``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from zipbob_devkit.testing import Served, serve_app, serve_asgi, unique_name
from zipbob_gateway.main import create_app
from zipbob_gateway.settings import GatewaySettings
from zipbob_platform.settings import load_settings

REPO_ROOT = Path(__file__).resolve().parents[3]


@dataclass
class FakeService:
    """A real HTTP server standing in for catalog/review: it echoes what reached it."""

    name: str
    port: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)
    fail_with: int | None = None  # answer every request with this status while set
    fail_times: int = 0  # answer the next N requests with 503
    delay_seconds: float = 0.0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        received = 0
        async for chunk in request.content.iter_any():
            received += len(chunk)
        record = {
            "method": request.method,
            "path": request.path_qs,
            "headers": {k.lower(): v for k, v in request.headers.items()},
            "body_bytes": received,
        }
        self.requests.append(record)
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        if self.fail_with:
            return web.json_response({"service": self.name}, status=self.fail_with)
        if self.fail_times:
            self.fail_times -= 1
            return web.json_response({"service": self.name}, status=503)
        if request.path.endswith("/large"):
            response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
            await response.prepare(request)
            for _ in range(32):
                await response.write(b"x" * 65536)
            await response.write_eof()
            return response
        status = 201 if request.method == "POST" else 200
        return web.json_response(
            {"service": self.name, **{k: v for k, v in record.items() if k != "headers"}},
            status=status,
            headers={"Proxy-Authenticate": "Basic", "X-Upstream": self.name},
        )

    @property
    def last(self) -> dict[str, Any]:
        return self.requests[-1]


async def _start_fake(name: str) -> tuple[FakeService, web.AppRunner]:
    service = FakeService(name)
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", service.handle)
    runner, service.port = await serve_app(app)
    return service, runner


@pytest.fixture(scope="session")
async def upstreams() -> AsyncIterator[dict[str, FakeService]]:
    catalog, catalog_runner = await _start_fake("catalog")
    review, review_runner = await _start_fake("review")
    yield {"catalog": catalog, "review": review}
    await catalog_runner.cleanup()
    await review_runner.cleanup()


@pytest.fixture(autouse=True)
def _reset_upstreams(request: pytest.FixtureRequest) -> None:
    if "upstreams" in request.fixturenames:
        for service in request.getfixturevalue("upstreams").values():
            service.requests.clear()
            service.fail_with, service.fail_times, service.delay_seconds = None, 0, 0.0


@dataclass
class RunningGateway:
    url: str
    settings: GatewaySettings
    client: httpx.AsyncClient

    async def signup_and_login(
        self,
        *,
        role: str = "seller",
        password: str = "correct horse battery",  # noqa: S107
    ) -> dict[str, Any]:
        email = f"{unique_name('user')}@example.com"
        created = await self.client.post(
            "/api/auth/signup",
            json={"email": email, "password": password, "display_name": "T", "role": role},
        )
        assert created.status_code == 201, created.text
        login = await self.client.post(
            "/api/auth/login", json={"email": email, "password": password}
        )
        assert login.status_code == 200, login.text
        return {"email": email, "password": password, "user": created.json(), **login.json()}


GatewayFactory = Callable[..., Awaitable[RunningGateway]]


def gateway_settings(
    *, tmp: Path, env: dict[str, str], customize: Callable[[GatewaySettings], None] | None = None
) -> GatewaySettings:
    settings = load_settings("gateway", GatewaySettings, profile="test", env=env)
    if customize is not None:
        customize(settings)
    return settings


@pytest.fixture
async def gateway_factory(
    tmp_path: Path, redis_url: str, upstreams: dict[str, FakeService], monkeypatch: Any
) -> AsyncIterator[GatewayFactory]:
    monkeypatch.setenv("ZIPBOB_CONFIG_DIR", str(REPO_ROOT / "config"))
    started: list[tuple[Served, httpx.AsyncClient]] = []
    data_dir = tmp_path / "data"

    async def start(
        *,
        sql_url: str | None = None,
        env: dict[str, str] | None = None,
        customize: Callable[[GatewaySettings], None] | None = None,
    ) -> RunningGateway:
        full_env = {
            "ZIPBOB_DATA_DIR": str(data_dir),
            "ZIPBOB_REDIS__URL": redis_url,
            "ZIPBOB_REDIS__KEY_PREFIX": unique_name("zbtest:gw"),
            "ZIPBOB_CATALOG_PORT": str(upstreams["catalog"].port),
            "ZIPBOB_REVIEW_PORT": str(upstreams["review"].port),
            **({"ZIPBOB_DATABASE__URL": sql_url} if sql_url else {}),
            **(env or {}),
        }
        settings = gateway_settings(tmp=tmp_path, env=full_env, customize=customize)
        served = await serve_asgi(
            create_app(settings),
            loop="none",
            http="httptools",
            lifespan="on",
            access_log=False,
            proxy_headers=False,  # the client's X-Forwarded-For is data under test here
        )
        url = f"http://127.0.0.1:{served.port}"
        client = httpx.AsyncClient(base_url=url, timeout=30)
        started.append((served, client))
        return RunningGateway(url=url, settings=settings, client=client)

    yield start
    for served, client in started:
        await client.aclose()
        await served.stop()


def _problem(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    body: dict[str, Any] = json.loads(response.text)
    assert body["status"] == response.status_code
    return body


@pytest.fixture(scope="session")
def problem() -> Callable[[httpx.Response], dict[str, Any]]:
    """Asserts a response is RFC 9457 problem+json matching its status; returns the body."""
    return _problem
