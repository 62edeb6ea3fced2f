"""Rate limits on the real Redis, and what still works when Redis is down."""

from __future__ import annotations

import asyncio
import logging

import pytest
from prometheus_client import REGISTRY

from zipbob_devkit.embedded import free_port
from zipbob_platform.logging import JsonFormatter

pytestmark = pytest.mark.integration


def _limited(limit: str) -> float:
    return REGISTRY.get_sample_value("zipbob_rate_limited_total", {"limit": limit}) or 0


async def test_login_brute_force_gets_429_with_retry_after(gateway_factory, problem):
    gateway = await gateway_factory()
    session = await gateway.signup_and_login()
    before = _limited("login")
    for _ in range(5):
        wrong = await gateway.client.post(
            "/api/auth/login", json={"email": session["email"], "password": "guess guess"}
        )
        assert problem(wrong)["status"] == 401
    blocked = await gateway.client.post(
        "/api/auth/login", json={"email": session["email"], "password": session["password"]}
    )
    assert problem(blocked)["status"] == 429
    assert 1 <= int(blocked.headers["retry-after"]) <= 60
    assert _limited("login") == before + 1


async def test_successful_logins_do_not_count_as_failures(gateway_factory):
    gateway = await gateway_factory()
    session = await gateway.signup_and_login()
    for _ in range(7):
        ok = await gateway.client.post(
            "/api/auth/login", json={"email": session["email"], "password": session["password"]}
        )
        assert ok.status_code == 200


async def test_global_client_limit_gives_429(gateway_factory, upstreams, problem):
    gateway = await gateway_factory(
        env={
            "ZIPBOB_RATE_LIMITS__CLIENTS__RATE_PER_SECOND": "2",
            "ZIPBOB_RATE_LIMITS__CLIENTS__BURST": "4",
        }
    )
    before = _limited("client")
    statuses = [(await gateway.client.get("/api/products")).status_code for _ in range(10)]
    assert statuses[:4] == [200] * 4
    assert 429 in statuses
    refused = await gateway.client.get("/api/products")
    assert problem(refused)["status"] == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert _limited("client") > before
    async with asyncio.timeout(10):  # the bucket refills at 2/s: poll, never guess a sleep
        while (again := await gateway.client.get("/api/products")).status_code == 429:
            await asyncio.sleep(0.05)
    assert again.status_code == 200


async def test_limit_is_per_user_when_authenticated(gateway_factory):
    gateway = await gateway_factory(
        env={
            "ZIPBOB_RATE_LIMITS__CLIENTS__RATE_PER_SECOND": "1",
            "ZIPBOB_RATE_LIMITS__CLIENTS__BURST": "3",
        }
    )
    alice = await gateway.signup_and_login()
    bob = await gateway.signup_and_login()

    async def burst(token: str) -> list[int]:
        headers = {"Authorization": f"Bearer {token}"}
        return [
            (await gateway.client.get("/api/products", headers=headers)).status_code
            for _ in range(5)
        ]

    assert (await burst(alice["access_token"])).count(200) == 3
    assert (await burst(bob["access_token"])).count(200) == 3  # own bucket, not Alice's


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter("gateway"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


async def test_redis_down_limits_fail_open_login_works_refresh_fails_closed(
    gateway_factory, problem
):
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    healthy = await gateway_factory()
    session = await healthy.signup_and_login()

    degraded = await gateway_factory(env={"ZIPBOB_REDIS__URL": dead_redis})
    capture = _Lines()
    logging.getLogger().addHandler(capture)
    try:
        login = await degraded.client.post(
            "/api/auth/login", json={"email": session["email"], "password": session["password"]}
        )
        assert login.status_code == 200
        assert login.json()["access_token"]
        assert login.json()["refresh_token"] is None
        refresh = await degraded.client.post(
            "/api/auth/refresh", json={"refresh_token": session["refresh_token"]}
        )
        assert problem(refresh)["status"] == 503
        for _ in range(3):
            proxied = await degraded.client.get(
                "/api/products", headers={"Authorization": f"Bearer {login.json()['access_token']}"}
            )
            assert proxied.status_code == 200
    finally:
        logging.getLogger().removeHandler(capture)
    warnings = [line for line in capture.lines if "Redis unavailable" in line]
    assert any("client rate limit" in line for line in warnings)
    assert any("login rate limit" in line for line in warnings)
    # Rate-limited: three proxied requests, one warning line about the client limit.
    assert sum("client rate limit" in line for line in warnings) == 1


async def test_no_tokens_or_passwords_in_logs(gateway_factory):
    gateway = await gateway_factory()
    capture = _Lines()
    logging.getLogger().addHandler(capture)
    try:
        session = await gateway.signup_and_login(password="hunter2-but-longer")
        bearer = {"Authorization": f"Bearer {session['access_token']}"}
        await gateway.client.get("/api/auth/me", headers=bearer)
        await gateway.client.get("/api/products", headers=bearer)
        await gateway.client.post(
            "/api/auth/refresh", json={"refresh_token": session["refresh_token"]}
        )
        await gateway.client.post(
            "/api/auth/login", json={"email": session["email"], "password": "wrong-but-secret"}
        )
        await gateway.client.post("/api/products", headers={"Authorization": "Bearer forged"})
    finally:
        logging.getLogger().removeHandler(capture)
    text = "\n".join(capture.lines)
    # Auth requests and the gateway's own answers are logged; proxied successes are logged by
    # the upstream service instead.
    assert '"msg":"POST /api/auth/login 401"' in text
    assert '"msg":"POST /api/products 401 (answered by the gateway)"' in text
    assert '"msg":"GET /api/products 200' not in text
    for secret in (
        "hunter2-but-longer",
        "wrong-but-secret",
        session["access_token"],
        session["refresh_token"],
        session["refresh_token"].split(".")[1],
    ):
        assert secret not in text


async def test_scripts_run_on_the_embedded_redis_of_the_local_profile(gateway_factory, problem):
    from zipbob_devkit.embedded import start_redis

    embedded = start_redis()
    try:
        gateway = await gateway_factory(
            env={
                "ZIPBOB_REDIS__URL": embedded.url,
                "ZIPBOB_RATE_LIMITS__CLIENTS__RATE_PER_SECOND": "1",
                "ZIPBOB_RATE_LIMITS__CLIENTS__BURST": "2",
            }
        )
        session = await gateway.signup_and_login()
        token = {"refresh_token": session["refresh_token"]}
        assert (await gateway.client.post("/api/auth/refresh", json=token)).status_code == 200
        assert problem(await gateway.client.post("/api/auth/refresh", json=token))["status"] == 401
        statuses = [(await gateway.client.get("/api/products")).status_code for _ in range(4)]
        assert statuses[:2] == [200, 200] and 429 in statuses
    finally:
        embedded.stop()
