"""Issue 12 findings 4 and 5: spraying, lock-outs, argon2 exhaustion, X-Forwarded-For."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from zipbob_gateway.auth.passwords import concurrent_hashes, container_cpus
from zipbob_gateway.settings import PasswordHashingSettings

from .conftest import PASSWORD, new_customer, new_email

pytestmark = pytest.mark.integration


async def _login(
    client: httpx.AsyncClient, email: str, password: str, ip: str | None = None
) -> httpx.Response:
    headers = {"X-Forwarded-For": ip} if ip else {}
    return await client.post(
        "/api/auth/login", json={"email": email, "password": password}, headers=headers
    )


@pytest.fixture(scope="module")
def trusting_gateway(gateway_starter):
    """Behind a proxy on 127.0.0.1 (as the ingress would be), with a low per-email ceiling."""
    return gateway_starter(
        ZIPBOB_EDGE__TRUSTED_PROXIES="127.0.0.1/32",
        ZIPBOB_RATE_LIMITS__LOGIN__EMAIL_MAX_FAILURES="8",
    )


async def test_untrusted_peer_cannot_choose_its_address(edge_gateway):
    async with httpx.AsyncClient(base_url=edge_gateway.url, timeout=20) as client:
        email = await new_customer(client)
        for _ in range(5):
            assert (await _login(client, email, "wrong guess!")).status_code == 401
        assert (await _login(client, email, "wrong guess!")).status_code == 429
        for index in range(10):
            spoofed = await _login(client, email, "wrong guess!", ip=f"203.0.113.{index}")
            assert spoofed.status_code == 429, spoofed.text


async def test_trusted_proxy_hops_name_the_client(trusting_gateway, echo_upstream):
    async with httpx.AsyncClient(base_url=trusting_gateway.url, timeout=20) as client:
        email = await new_customer(client)
        for _ in range(5):
            assert (await _login(client, email, "wrong!", ip="203.0.113.7")).status_code == 401
        assert (await _login(client, email, "wrong!", ip="203.0.113.7")).status_code == 429
        # Another client behind the same proxy is not locked out by the first one.
        assert (await _login(client, email, "wrong!", ip="203.0.113.8")).status_code == 401
        assert (await _login(client, email, PASSWORD, ip="203.0.113.8")).status_code == 200
        # A client-written prefix is kept for the record but the client is the nearest
        # address no trusted proxy vouches for.
        await client.get("/api/products", headers={"X-Forwarded-For": "10.9.9.9, 198.51.100.4"})
    assert echo_upstream.requests[-1]["headers"]["x-forwarded-for"] == (
        "10.9.9.9, 198.51.100.4, 127.0.0.1"
    )


async def test_spraying_many_emails_from_one_address_meets_429(edge_gateway):
    async with httpx.AsyncClient(base_url=edge_gateway.url, timeout=30) as client:
        statuses = [
            (await _login(client, new_email(), "Spring2026!")).status_code for _ in range(45)
        ]
        assert 429 in statuses, statuses
        assert set(statuses) <= {401, 429}
        refreshes = [
            (await client.post("/api/auth/refresh", json={"refresh_token": "a.b"})).status_code
            for _ in range(40)
        ]
        assert 429 in refreshes and set(refreshes) <= {401, 429}
        limited = await client.post("/api/auth/refresh", json={"refresh_token": "a.b"})
        assert int(limited.headers["retry-after"]) >= 1


async def test_many_addresses_cannot_lock_the_owner_out(trusting_gateway):
    async with httpx.AsyncClient(base_url=trusting_gateway.url, timeout=30) as client:
        victim = await new_customer(client)
        home = "192.0.2.10"
        assert (await _login(client, victim, PASSWORD, ip=home)).status_code == 200
        # A botnet: each address guesses a little, together they pass the email ceiling.
        for index in range(8):
            guess = await _login(client, victim, "hunter2hunter2", ip=f"198.51.100.{index}")
            assert guess.status_code == 401
        fresh = await _login(client, victim, "hunter2hunter2", ip="198.51.100.200")
        assert fresh.status_code == 429
        assert "signed in from before" in fresh.json()["detail"]
        # The owner, from an address that signed in before, still gets in.
        assert (await _login(client, victim, PASSWORD, ip=home)).status_code == 200


async def test_concurrent_password_hashes_are_bounded(gateway_starter):
    gateway = gateway_starter(
        ZIPBOB_PASSWORD_HASHING__MAX_CONCURRENT="1",
        ZIPBOB_PASSWORD_HASHING__MAX_WAITING="2",
        ZIPBOB_PASSWORD_HASHING__MAX_WAIT_SECONDS="0.2",
        ZIPBOB_RATE_LIMITS__AUTH__ENABLED="false",
        ZIPBOB_RATE_LIMITS__AUTH__CONCURRENCY="100",
        ZIPBOB_RATE_LIMITS__LOGIN__IP_MAX_FAILURES="1000",
        ZIPBOB_PASSWORD_HASHING__MEMORY_KIB="65536",
        ZIPBOB_PASSWORD_HASHING__TIME_COST="3",
    )
    baseline = gateway.rss_kib("VmRSS")
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as client:
        answers = await asyncio.gather(
            *(_login(client, new_email(), "whatever-123") for _ in range(40))
        )
    statuses = [r.status_code for r in answers]
    assert set(statuses) <= {401, 503}
    busy = [r for r in answers if r.status_code == 503]
    assert busy, statuses
    assert all(int(r.headers["retry-after"]) >= 1 for r in busy)
    # One 64 MiB hash at a time: the peak stays far below 40 of them.
    assert gateway.rss_kib("VmHWM") - baseline < 160 * 1024


def test_hash_slots_follow_the_container_quota(tmp_path: Path):
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert container_cpus(tmp_path) == 1.5
    (tmp_path / "cpu.max").write_text("max 100000\n")
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("300000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert container_cpus(tmp_path) == 3.0
    settings = PasswordHashingSettings(memory_kib=65536, memory_budget_mib=128)
    assert concurrent_hashes(settings, cpus=4) == 2  # the memory budget binds
    assert concurrent_hashes(settings, cpus=0.5) == 1
    assert concurrent_hashes(PasswordHashingSettings(max_concurrent=3), cpus=8) == 3
