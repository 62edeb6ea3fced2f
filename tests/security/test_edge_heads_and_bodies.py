"""Issue 12 findings 1-3 and 9 replayed against a real gateway process with raw sockets."""

from __future__ import annotations

import asyncio
import contextlib
import json

import httpx
import pytest

from zipbob_devkit.testing import unique_name

from .conftest import raw_exchange, read_answer, status_of

pytestmark = pytest.mark.integration
MIB = 1024 * 1024


def _problem(answer: bytes, status: int) -> dict:
    assert status_of(answer) == status, answer[:300]
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"content-type: application/problem+json" in head.lower(), head
    document = json.loads(body)
    assert document["status"] == status and document["detail"]
    return document


async def _huge_header(port: int, size: int) -> bytes:
    """Streams an ``X-Big`` header of ``size`` bytes until the gateway answers or hangs up."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"GET /api/products HTTP/1.1\r\nHost: x\r\nX-Big: ")
        piece = b"a" * 65536
        with contextlib.suppress(ConnectionError):
            for _ in range(size // len(piece)):
                writer.write(piece)
                await writer.drain()
        return await read_answer(reader)
    finally:
        writer.close()


async def test_a_64_mib_header_is_431_without_buffering_it(edge_gateway, echo_upstream):
    before = edge_gateway.rss_kib()
    answers = await asyncio.gather(*(_huge_header(edge_gateway.port, 64 * MIB) for _ in range(3)))
    for answer in answers:
        _problem(answer, 431)
    # Three 64 MiB heads cost the gateway next to nothing and never reach an upstream.
    assert edge_gateway.rss_kib() - before < 32 * 1024
    assert echo_upstream.requests == []
    live = httpx.get(f"{edge_gateway.url}/healthz/live", timeout=5)
    assert live.status_code == 200


async def test_a_2_mib_header_block_and_too_many_fields_are_431(edge_gateway):
    block = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 1000) for i in range(2048))
    answer = await raw_exchange(
        edge_gateway.port, b"GET /api/products HTTP/1.1\r\nHost: x\r\n" + block + b"\r\n"
    )
    _problem(answer, 431)
    many = b"".join(b"X-F%d: 1\r\n" % i for i in range(150))
    answer = await raw_exchange(
        edge_gateway.port, b"GET /api/products HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n"
    )
    assert "header fields" in _problem(answer, 431)["detail"]


async def test_a_head_that_trickles_in_is_408(edge_gateway):
    reader, writer = await asyncio.open_connection("127.0.0.1", edge_gateway.port)
    writer.write(b"GET /api/products HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    await writer.drain()
    answer = await read_answer(reader, read_timeout=10)
    writer.close()
    _problem(answer, 408)


@pytest.mark.parametrize("path", ["/api/auth/login", "/api/auth/signup", "/healthz/live"])
async def test_control_paths_refuse_big_bodies_declared_or_streamed(edge_gateway, path):
    before = edge_gateway.rss_kib()
    declared = await raw_exchange(
        edge_gateway.port,
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {60 * MIB}\r\n\r\n".encode()
        + b"x" * 65536,
    )
    assert status_of(declared) in (413, 405)  # /healthz/live: no POST; but never buffered
    if path.startswith("/api/auth/"):
        _problem(declared, 413)

        def chunks():
            for _ in range(64):
                yield b'{"email": "' + b"a" * 65536

        streamed = httpx.post(
            edge_gateway.url + path,
            content=chunks(),
            headers={"Content-Type": "application/json"},
            timeout=20,
        )
        assert streamed.status_code == 413
    assert edge_gateway.rss_kib() - before < 32 * 1024


async def test_a_200_mib_password_costs_no_memory(edge_gateway):
    before = edge_gateway.rss_kib()

    def body():
        yield b'{"email": "a@example.com", "password": "'
        for _ in range(200 * 16):
            yield b"p" * 65536

    response = httpx.post(
        f"{edge_gateway.url}/api/auth/login",
        content=body(),
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("application/problem+json")
    assert edge_gateway.rss_kib() - before < 32 * 1024


@pytest.fixture(scope="module")
def token(edge_gateway) -> str:
    email, password = f"{unique_name('sec')}@example.com", "correct horse battery"
    signup = httpx.post(
        f"{edge_gateway.url}/api/auth/signup",
        json={"email": email, "password": password, "display_name": "S", "role": "seller"},
        timeout=10,
    )
    assert signup.status_code == 201, signup.text
    login = httpx.post(
        f"{edge_gateway.url}/api/auth/login",
        json={"email": email, "password": password},
        timeout=10,
    )
    assert login.status_code == 200, login.text
    return str(login.json()["access_token"])


async def test_a_body_that_stops_arriving_is_408(edge_gateway, echo_upstream, token):
    for path, auth in (
        ("/api/auth/login", ""),
        ("/api/products", f"Authorization: Bearer {token}\r\n"),
    ):
        reader, writer = await asyncio.open_connection("127.0.0.1", edge_gateway.port)
        writer.write(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n{auth}\r\n{{".encode()
        )
        await writer.drain()
        answer = await read_answer(reader)
        writer.close()
        _problem(answer, 408)
    assert echo_upstream.requests == []


async def test_get_head_delete_bodies_are_refused_and_never_forwarded(edge_gateway, echo_upstream):
    for method in ("GET", "HEAD", "DELETE"):
        answer = await raw_exchange(
            edge_gateway.port,
            f"{method} /api/products/p1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer x\r\n"
            "Content-Length: 5\r\n\r\nhello".encode(),
        )
        assert status_of(answer) == 400, answer[:200]
    answer = await raw_exchange(
        edge_gateway.port,
        b"GET /api/auth/me HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
    )
    _problem(answer, 400)
    assert echo_upstream.requests == []


async def test_slow_bodies_do_not_starve_other_clients(edge_gateway, echo_upstream, token):
    """Finding 3: 150 clients announce a body and send one byte; everyone else still gets
    answers (the pool is 2 connections here), and the slow ones end in 408 or 429."""
    writers = []
    for index in range(150):
        reader, writer = await asyncio.open_connection("127.0.0.1", edge_gateway.port)
        path, auth = (
            ("/api/auth/login", b"")
            if index % 2
            else ("/api/products", b"Authorization: Bearer " + token.encode() + b"\r\n")
        )
        writer.write(
            b"POST "
            + path.encode()
            + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n"
            + auth
            + b"\r\n{"
        )
        writers.append((reader, writer))
    await asyncio.gather(*(w.drain() for _, w in writers))
    async with httpx.AsyncClient(base_url=edge_gateway.url, timeout=10) as client:
        for _ in range(3):  # within this address's in-flight share (4)
            normal = await asyncio.gather(*(client.get("/api/products") for _ in range(4)))
            assert [r.status_code for r in normal] == [200] * 4
    answers = await asyncio.gather(*(read_answer(r) for r, _ in writers))
    for _, writer in writers:
        writer.close()
    statuses = [status_of(a) for a in answers]
    assert set(statuses) <= {408, 429}, statuses
    assert statuses.count(408) >= 4  # the ones let in waited for their body, then were cut
    assert not any(r["method"] == "POST" for r in echo_upstream.requests)


async def test_pool_exhaustion_is_503_with_retry_after(gateway_starter, echo_upstream):
    gateway = gateway_starter(ZIPBOB_EDGE__CLIENT_CONCURRENCY="50")
    echo_upstream.stall_seconds = 2.0
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
        answers = await asyncio.gather(*(client.get("/api/products/slow") for _ in range(5)))
    statuses = sorted(r.status_code for r in answers)
    assert statuses.count(200) == 2  # pool_size 2
    busy = [r for r in answers if r.status_code == 503]
    assert len(busy) == 3
    assert all(int(r.headers["retry-after"]) >= 1 for r in busy)
    assert all(r.headers["content-type"] == "application/problem+json" for r in busy)


async def test_one_client_cannot_hold_more_than_its_share(edge_gateway, echo_upstream):
    echo_upstream.stall_seconds = 1.5
    async with httpx.AsyncClient(base_url=edge_gateway.url, timeout=10) as client:
        answers = await asyncio.gather(*(client.get("/api/reviews/slow") for _ in range(6)))
    statuses = [r.status_code for r in answers]
    assert statuses.count(429) == 2, statuses  # client_concurrency 4
    assert all(r.headers.get("retry-after") for r in answers if r.status_code == 429)


async def test_chunked_trailers_are_refused_not_forwarded(edge_gateway, echo_upstream):
    for path in ("/api/auth/login", "/api/reviews/r1"):
        answer = await raw_exchange(
            edge_gateway.port,
            f"PATCH {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
            + b"2\r\n{}\r\n0\r\nAuthorization: Bearer smuggled\r\nX-Role: admin\r\n\r\n",
        )
        assert status_of(answer) in (400, 401, 405), answer[:200]
    answer = await raw_exchange(
        edge_gateway.port,
        b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"2\r\n{}\r\n0\r\nX-Role: admin\r\n\r\n",
    )
    assert "trailers" in _problem(answer, 400)["detail"]
    assert all("x-role" not in r["headers"] for r in echo_upstream.requests)


async def test_duplicate_authorization_is_400(edge_gateway, echo_upstream):
    for path in ("/api/products", "/api/auth/me"):
        answer = await raw_exchange(
            edge_gateway.port,
            f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer a\r\n"
            "Authorization: Bearer b\r\n\r\n".encode(),
        )
        assert "Authorization" in _problem(answer, 400)["detail"]
    assert echo_upstream.requests == []
