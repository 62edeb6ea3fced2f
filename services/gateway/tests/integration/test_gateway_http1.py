"""The proxy's own HTTP/1.1 client against raw socket servers that answer in every way an
upstream may: keep-alive reuse, HEAD, chunked, close-delimited, garbage, silence, hang-ups."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from zipbob_devkit.embedded import free_port
from zipbob_gateway.proxy.http1 import (
    ConnectionPool,
    UpstreamConnectError,
    UpstreamDisconnected,
    UpstreamProtocolError,
)

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    body = b""
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            body = await reader.readexactly(int(line.split(b":")[1]))
        if line.lower() == b"transfer-encoding: chunked":
            while True:
                size = int((await reader.readline()).strip(), 16)
                chunk = await reader.readexactly(size + 2)
                if size == 0:
                    break
                body += chunk[:-2]
    return head, body


def answering(raw: bytes, *, then: str = "return") -> Handler:
    """An upstream that reads one request, writes ``raw`` (if any), then ``"close"``s the
    connection, ``"hang"``s on it silently, or ``"return"``s leaving it open."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        if raw:
            writer.write(raw)
            await writer.drain()
        if then == "close":
            writer.close()
        elif then == "hang":
            await asyncio.sleep(5)

    return handler


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[ConnectionPool]]]:
    servers: list[asyncio.Server] = []
    pools: list[ConnectionPool] = []

    async def start(handler: Handler) -> ConnectionPool:
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        servers.append(server)
        port = server.sockets[0].getsockname()[1]
        pool = ConnectionPool(f"http://127.0.0.1:{port}", size=4, connect_timeout=1)
        pools.append(pool)
        return pool

    yield start
    for pool in pools:
        await pool.close()
    for server in servers:
        server.close()


async def test_keep_alive_connection_is_reused_and_headers_and_body_arrive(serve) -> None:
    connections = 0
    seen: list[tuple[bytes, bytes]] = []

    async def handler(reader, writer):
        nonlocal connections
        connections += 1
        while True:
            try:
                seen.append(await read_request(reader))
            except asyncio.IncompleteReadError:
                return
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nx-up: 1\r\n\r\nhello")
            await writer.drain()

    pool = await serve(handler)
    for _ in range(3):
        response = await pool.request(
            "GET", "/a?b=1", [("x-request-id", "r1")], None, read_timeout=2
        )
        assert response.status == 200 and (b"x-up", b"1") in response.raw_headers
        assert await response.read() == b"hello"
        response.release()
    assert connections == 1
    head = seen[0][0]
    assert head.startswith(b"GET /a?b=1 HTTP/1.1\r\n") and b"x-request-id: r1" in head


async def test_bodies_keep_their_framing_both_ways(serve) -> None:
    async def handler(reader, writer):
        while True:
            try:
                _, body = await read_request(reader)
            except asyncio.IncompleteReadError:
                return
            chunks = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (body[:3], body[3:]))
            writer.write(b"HTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\n\r\n" + chunks)
            writer.write(b"0\r\n\r\n")
            await writer.drain()

    async def body() -> AsyncIterator[bytes]:
        yield b"abc"
        yield b"defgh"

    pool = await serve(handler)
    for headers in ([("content-length", "8")], []):  # length-framed, then chunked
        response = await pool.request("POST", "/", headers, body(), read_timeout=2)
        assert response.status == 201
        assert [c async for c in response.iter_chunks()] == [b"abc", b"defgh"]
        response.release()


async def test_head_answers_end_with_their_headers(serve) -> None:
    pool = await serve(answering(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n", then="hang"))
    response = await pool.request("HEAD", "/", [], None, read_timeout=1)
    assert response.status == 200 and await response.read() == b""
    response.release()


async def test_a_body_delimited_by_close_is_read_to_the_end(serve) -> None:
    pool = await serve(answering(b"HTTP/1.0 200 OK\r\n\r\nuntil the end", then="close"))
    response = await pool.request("GET", "/", [], None, read_timeout=2)
    assert await response.read() == b"until the end"
    response.release()


async def test_garbage_is_a_protocol_error(serve) -> None:
    pool = await serve(answering(b"SMTP READY\r\n\r\n"))
    with pytest.raises(UpstreamProtocolError):
        await pool.request("GET", "/", [], None, read_timeout=2)


async def test_hang_up_before_answering_and_mid_body(serve) -> None:
    pool = await serve(answering(b"", then="close"))
    with pytest.raises(UpstreamDisconnected):
        await pool.request("GET", "/", [], None, read_timeout=2)

    midway = b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly part"
    pool = await serve(answering(midway, then="close"))
    response = await pool.request("GET", "/", [], None, read_timeout=2)
    with pytest.raises(UpstreamProtocolError):
        await response.read()
    response.release()


async def test_silence_is_a_timeout_for_the_head_and_for_the_body(serve) -> None:
    pool = await serve(answering(b"", then="hang"))
    with pytest.raises(TimeoutError):
        await pool.request("GET", "/", [], None, read_timeout=0.2)

    stalls = b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc"
    pool = await serve(answering(stalls, then="hang"))
    response = await pool.request("GET", "/", [], None, read_timeout=0.2)
    with pytest.raises(TimeoutError):
        await response.read()
    response.release()


async def test_nobody_listening_is_a_connect_error() -> None:
    pool = ConnectionPool(f"http://127.0.0.1:{free_port()}", size=2, connect_timeout=1)
    with pytest.raises(UpstreamConnectError):
        await pool.request("GET", "/", [], None, read_timeout=1)
    # the slot was given back: the pool is not exhausted by failures
    for _ in range(3):
        with pytest.raises(UpstreamConnectError):
            await pool.request("GET", "/", [], None, read_timeout=1)


async def test_a_connection_the_upstream_closed_while_idle_is_not_reused(serve) -> None:
    # keep-alive advertised, but the server hangs up afterwards
    pool = await serve(answering(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok", then="close"))
    for _ in range(3):
        response = await pool.request("GET", "/", [], None, read_timeout=2)
        assert await response.read() == b"ok"
        response.release()
        await asyncio.sleep(0.05)  # the FIN arrives; the pool must notice
