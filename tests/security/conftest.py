"""Fixtures for the security suite: real processes on loopback, rude clients on raw sockets.

- ``running_platform`` (tests/conftest.py): the whole stack as `make run` starts it.
- ``edge_gateway``: a real ``python -m zipbob_gateway`` process with limits tuned small
  enough to test quickly (1 s timeouts, tiny pools), in front of ``echo_upstream``, a real
  HTTP server in this process that records what reached it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from zipbob_devkit.embedded import free_port
from zipbob_devkit.testing import serve_app, service_env, unique_name

REPO_ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery"


@dataclass
class EchoUpstream:
    """Stands in for catalog/review behind a tuned gateway: records, echoes, can stall."""

    port: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)
    stall_seconds: float = 0.0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(
            {
                "method": request.method,
                "path": request.path_qs,
                "headers": {k.lower(): v for k, v in request.headers.items()},
                "body": body,
            }
        )
        if request.path.endswith("/slow"):
            await asyncio.sleep(self.stall_seconds or 3.0)
        return web.json_response({"ok": True, "bytes": len(body)})


@pytest.fixture(scope="session")
async def echo_upstream() -> AsyncIterator[EchoUpstream]:
    upstream = EchoUpstream()
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", upstream.handle)
    runner, upstream.port = await serve_app(app)
    yield upstream
    await runner.cleanup()


@dataclass
class GatewayProcess:
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    management_port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss_kib(self, field_name: str = "VmRSS") -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
        raise RuntimeError(f"no {field_name} for pid {self.process.pid}")

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


TUNED = {
    "ZIPBOB_EDGE__HEAD_TIMEOUT_SECONDS": "1",
    "ZIPBOB_EDGE__BODY_IDLE_TIMEOUT_SECONDS": "1",
    "ZIPBOB_EDGE__CLIENT_CONCURRENCY": "4",
    "ZIPBOB_UPSTREAMS__CATALOG__POOL_SIZE": "2",
    "ZIPBOB_UPSTREAMS__CATALOG__POOL_WAIT_SECONDS": "0.3",
    "ZIPBOB_UPSTREAMS__CATALOG__RETRIES": "0",
    "ZIPBOB_RATE_LIMITS__CLIENTS__ENABLED": "false",
    # Cheap hashes: these tests are about limits, not argon2's cost (one test sets 64 MiB).
    "ZIPBOB_PASSWORD_HASHING__MEMORY_KIB": "8192",
    "ZIPBOB_PASSWORD_HASHING__TIME_COST": "1",
    "ZIPBOB_PASSWORD_HASHING__PARALLELISM": "1",
}


def start_gateway(
    tmp: Path, *, redis_url: str, upstream_port: int, env: dict[str, str] | None = None
) -> GatewayProcess:
    port = free_port()
    data_dir = tmp / unique_name("gw")
    data_dir.mkdir(parents=True)
    log = data_dir / "gateway.log"
    settings = {
        "ZIPBOB_REDIS__URL": redis_url,
        "ZIPBOB_REDIS__KEY_PREFIX": unique_name("zbtest:sec"),
        "ZIPBOB_CATALOG_PORT": str(upstream_port),
        "ZIPBOB_REVIEW_PORT": str(upstream_port),
        "ZIPBOB_LOGGING__LEVEL": "WARNING",
        **TUNED,
        **(env or {}),  # a test's own settings win
    }
    full_env = service_env("gateway", port=port, data_dir=data_dir, **settings)
    full_env.pop("ZIPBOB_DATABASE__URL", None)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "zipbob_gateway"],
            env=full_env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    gateway = GatewayProcess(
        process, port, log, int(full_env.get("ZIPBOB_GATEWAY_MANAGEMENT_PORT", 0))
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gateway exited: {log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{gateway.url}/healthz/live", timeout=1).status_code == 200:
                return gateway
        except httpx.HTTPError:
            time.sleep(0.1)
    gateway.stop()
    raise RuntimeError(f"gateway did not start: {log.read_text()[-3000:]}")


GatewayStarter = Callable[..., GatewayProcess]


@pytest.fixture(scope="module")
def gateway_starter(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str, echo_upstream: EchoUpstream
) -> Iterator[GatewayStarter]:
    started: list[GatewayProcess] = []
    tmp = tmp_path_factory.mktemp("security")

    def start(**env: str) -> GatewayProcess:
        gateway = start_gateway(tmp, redis_url=redis_url, upstream_port=echo_upstream.port, env=env)
        started.append(gateway)
        return gateway

    yield start
    for gateway in started:
        gateway.stop()


@pytest.fixture(scope="module")
def edge_gateway(gateway_starter: GatewayStarter) -> GatewayProcess:
    return gateway_starter()


@pytest.fixture(autouse=True)
def _clear_upstream(request: pytest.FixtureRequest) -> None:
    if "echo_upstream" in request.fixturenames:
        upstream = request.getfixturevalue("echo_upstream")
        upstream.requests.clear()
        upstream.stall_seconds = 0.0


async def raw_exchange(
    port: int, request: bytes, *, read_timeout: float = 10.0, chunks: int = 1
) -> bytes:
    """Send ``request`` (in ``chunks`` writes) on a fresh socket; return all the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        size = max(1, len(request) // chunks)
        for start in range(0, len(request), size):
            writer.write(request[start : start + size])
            with contextlib.suppress(ConnectionError):
                await writer.drain()
        return await read_answer(reader, read_timeout)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def read_answer(reader: asyncio.StreamReader, read_timeout: float = 10.0) -> bytes:
    data = b""
    with contextlib.suppress(ConnectionError):
        async with asyncio.timeout(read_timeout):
            while chunk := await reader.read(65536):
                data += chunk
                if _complete(data):
                    break
    return data


def _complete(data: bytes) -> bool:
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value.strip())
    return False


def status_of(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1.1 "), answer[:200]
    return int(answer.split(b" ", 2)[1])


# ---- accounts: every test signs up its own users (fresh emails, the one PASSWORD) ---------


def new_email() -> str:
    return f"sec-{uuid.uuid4().hex[:10]}@example.com"


async def new_customer(client: httpx.AsyncClient) -> str:
    """Sign up a customer through ``client`` (a gateway); returns the email."""
    email = new_email()
    created = await client.post(
        "/api/auth/signup",
        json={"email": email, "password": PASSWORD, "display_name": "V", "role": "customer"},
    )
    assert created.status_code == 201, created.text
    return email


def signed_in(gateway: str, role: str) -> dict[str, Any]:
    """A new user of ``role`` at ``gateway``: its bearer ``headers``, ``id`` and ``token``."""
    email = f"{role}-{uuid.uuid4().hex[:8]}@example.com"
    body = {"email": email, "password": PASSWORD, "display_name": role, "role": role}
    assert httpx.post(f"{gateway}/api/auth/signup", json=body, timeout=20).status_code == 201
    login = httpx.post(
        f"{gateway}/api/auth/login", json={"email": email, "password": PASSWORD}, timeout=20
    ).json()
    headers = {"Authorization": f"Bearer {login['access_token']}"}
    me = httpx.get(f"{gateway}/api/auth/me", headers=headers, timeout=10).json()
    return {"headers": headers, "id": me["id"], "token": login["access_token"]}
