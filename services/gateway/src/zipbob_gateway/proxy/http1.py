"""A keep-alive HTTP/1.1 client for the proxy's upstream hop, on httptools' C parser.

The gateway only ever forwards one request at a time per connection to services it
knows, so it needs much less than a general client: no redirects, cookies, decompression
or proxies. aiohttp spent about 125 µs of the gateway's CPU per request doing those
things; this does the hop in a fraction of it. Bodies stream both ways with flow control.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httptools

READ_BUFFER_HIGH = 1024 * 1024  # pause the upstream socket past this much unread body
# Idle connections are dropped before the upstream's own keep-alive timeout (uvicorn: 5 s)
# can close one just as a request goes out on it.
IDLE_SECONDS = 4.0
# The hop sets its own Host; Expect: 100-continue would make the upstream answer twice.
_NOT_FORWARDED = frozenset({"host", "expect", "transfer-encoding"})


class UpstreamError(Exception):
    """The upstream could not be used for this exchange."""


class UpstreamConnectError(UpstreamError):
    pass


class UpstreamDisconnected(UpstreamError):
    pass


class PoolExhausted(UpstreamError):
    """Every pooled connection stayed busy for the whole wait: answer 503 + Retry-After."""


class UpstreamProtocolError(UpstreamError):
    """The upstream answered something that is not HTTP/1.1, or broke off mid-body."""


class _Connection(asyncio.Protocol):
    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.idle_since = 0.0
        self.response: UpstreamResponse | None = None
        self._can_write = asyncio.Event()
        self._can_write.set()
        self._head_waiter: asyncio.Future[UpstreamResponse] | None = None
        self._header_name = b""

    # --- asyncio.Protocol ---------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(UpstreamProtocolError(f"bad response from upstream: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._can_write.set()
        response = self.response
        if response is None or response.complete:
            return
        if not response.headers_done:
            self._fail(UpstreamDisconnected("upstream closed the connection"))
        elif response.delimited_by_close:
            response.finish()  # no length, not chunked: the end of the stream ends the body
        else:
            self._fail(UpstreamProtocolError("upstream broke off the response"))

    def pause_writing(self) -> None:
        self._can_write.clear()

    def resume_writing(self) -> None:
        self._can_write.set()

    # --- httptools callbacks ------------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        assert self.response is not None
        self.response.raw_headers.append((name, value))

    def on_headers_complete(self) -> None:
        response = self.response
        assert response is not None
        response.status = self.parser.get_status_code()
        response.keep_alive = self.parser.should_keep_alive()
        response.headers_done = True
        if response.no_body:
            # A HEAD answer (or 204/304) carries no body whatever its headers say; the
            # parser cannot know the request method, so this connection is not reused.
            response.keep_alive = False
            response.complete = True
        if self._head_waiter is not None and not self._head_waiter.done():
            self._head_waiter.set_result(response)

    def on_body(self, body: bytes) -> None:
        assert self.response is not None
        self.response.feed(body)

    def on_message_complete(self) -> None:
        assert self.response is not None
        self.response.finish()

    # --- used by the pool and the proxy -------------------------------------------------
    def _fail(self, error: UpstreamError) -> None:
        self.closed = True
        if self._head_waiter is not None and not self._head_waiter.done():
            self._head_waiter.set_exception(error)
        if self.response is not None:
            self.response.fail(error)
        if self.transport is not None:
            self.transport.abort()

    async def write(self, data: bytes) -> None:
        if self.closed or self.transport is None:
            raise UpstreamDisconnected("upstream connection is closed")
        self.transport.write(data)
        if not self._can_write.is_set():
            await self._can_write.wait()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def begin(self, response: UpstreamResponse) -> asyncio.Future[UpstreamResponse]:
        self.response = response
        self._head_waiter = asyncio.get_running_loop().create_future()
        return self._head_waiter


class UpstreamResponse:
    def __init__(self, connection: _Connection, read_timeout: float, *, method: str) -> None:
        self._connection = connection
        self._read_timeout = read_timeout
        self._method = method
        self.status = 0
        self.raw_headers: list[tuple[bytes, bytes]] = []
        self.keep_alive = False
        self.headers_done = False
        self.complete = False
        self._chunks: collections.deque[bytes] = collections.deque()
        self._buffered = 0
        self._waiter: asyncio.Future[None] | None = None
        self._error: UpstreamError | None = None
        self._released = False

    @property
    def no_body(self) -> bool:
        return self._method == "HEAD" or self.status in (204, 304) or 100 <= self.status < 200

    @property
    def delimited_by_close(self) -> bool:
        names = {name.lower() for name, _ in self.raw_headers}
        return b"content-length" not in names and b"transfer-encoding" not in names

    @property
    def content_length(self) -> int | None:
        for name, value in self.raw_headers:
            if name.lower() == b"content-length":
                try:
                    return int(value)
                except ValueError:
                    return None
        return None

    def feed(self, chunk: bytes) -> None:
        self._chunks.append(chunk)
        self._buffered += len(chunk)
        if self._buffered > READ_BUFFER_HIGH and self._connection.transport is not None:
            self._connection.transport.pause_reading()
        self._wake()

    def finish(self) -> None:
        self.complete = True
        self._wake()

    def fail(self, error: UpstreamError) -> None:
        self._error = error
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def _next(self) -> bytes | None:
        while not self._chunks:
            if self._error is not None:
                raise self._error
            if self.complete:
                return None
            loop = asyncio.get_running_loop()
            self._waiter = loop.create_future()
            timer = loop.call_later(self._read_timeout, self._expire, self._waiter)
            try:
                await self._waiter
            finally:
                timer.cancel()
                self._waiter = None
        chunk = self._chunks.popleft()
        self._buffered -= len(chunk)
        transport = self._connection.transport
        if self._buffered <= READ_BUFFER_HIGH // 2 and transport is not None:
            transport.resume_reading()
        return chunk

    @staticmethod
    def _expire(waiter: asyncio.Future[None]) -> None:
        if not waiter.done():
            waiter.set_exception(TimeoutError("the upstream stopped sending"))

    async def read(self) -> bytes:
        parts = [chunk async for chunk in self.iter_chunks()]
        return b"".join(parts)

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        while (chunk := await self._next()) is not None:
            yield chunk

    def release(self) -> None:
        """Back to the pool when the exchange finished cleanly; otherwise closed."""
        if self._released:
            return
        self._released = True
        self._connection.pool.give_back(
            self._connection, reusable=self.complete and self.keep_alive
        )


class ConnectionPool:
    """Idle keep-alive connections to one upstream, at most ``size`` in use at once."""

    def __init__(
        self, base_url: str, *, size: int, connect_timeout: float, wait_timeout: float = 1.0
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"upstream URL must be http://host[:port], not {base_url!r}")
        self.host = parts.hostname
        self.port = parts.port or 80
        self.host_header = parts.netloc.encode("latin-1")
        self.prefix = parts.path.rstrip("/")
        self.connect_timeout = connect_timeout
        self.wait_timeout = wait_timeout
        self._idle: collections.deque[_Connection] = collections.deque()
        self._slots = asyncio.Semaphore(size)

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, protocol = await loop.create_connection(
                    lambda: _Connection(self), self.host, self.port
                )
        except (OSError, TimeoutError) as exc:
            raise UpstreamConnectError(
                f"cannot connect to {self.host}:{self.port}: {exc}"
            ) from None
        return protocol

    async def request(
        self,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        body: AsyncIterator[bytes] | None,
        *,
        read_timeout: float,
    ) -> UpstreamResponse:
        """Send the request (streaming ``body``) and return once the response head is in.

        A body keeps the client's framing: with its Content-Length it streams as is,
        without one it is sent chunked."""
        chunked = body is not None and not any(n == "content-length" for n, _ in headers)
        if self._slots.locked():
            try:
                async with asyncio.timeout(self.wait_timeout):
                    await self._slots.acquire()
            except TimeoutError:
                raise PoolExhausted(f"no free connection to {self.host}:{self.port}") from None
        else:
            await self._slots.acquire()  # free slot: no timer on the hot path
        connection: _Connection | None = None
        try:
            now = asyncio.get_running_loop().time()
            while self._idle:
                candidate = self._idle.pop()
                if not candidate.closed and now - candidate.idle_since < IDLE_SECONDS:
                    connection = candidate
                    break
                candidate.close()
            if connection is None:
                connection = await self._connect()
            response = UpstreamResponse(connection, read_timeout, method=method)
            head_waiter = connection.begin(response)
            await connection.write(self._head(method, target, headers, chunked=chunked))
            if body is not None:
                async for chunk in body:
                    if chunked:
                        await connection.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    else:
                        await connection.write(chunk)
                if chunked:
                    await connection.write(b"0\r\n\r\n")
            async with asyncio.timeout(read_timeout):
                return await head_waiter
        except BaseException:
            if connection is not None:
                connection.closed = True
                if connection.transport is not None:
                    connection.transport.abort()
            self._slots.release()
            raise

    def _head(
        self, method: str, target: str, headers: list[tuple[str, str]], *, chunked: bool
    ) -> bytes:
        lines = [f"{method} {self.prefix}{target} HTTP/1.1".encode("latin-1")]
        lines.append(b"host: " + self.host_header)
        lines.extend(
            f"{name}: {value}".encode("latin-1")
            for name, value in headers
            if name not in _NOT_FORWARDED
        )
        if chunked:
            lines.append(b"transfer-encoding: chunked")
        lines.append(b"")
        lines.append(b"")
        return b"\r\n".join(lines)

    def give_back(self, connection: _Connection, *, reusable: bool) -> None:
        connection.response = None
        if reusable and not connection.closed:
            connection.idle_since = asyncio.get_running_loop().time()
            self._idle.append(connection)
        else:
            connection.close()
        self._slots.release()

    async def close(self) -> None:
        while self._idle:
            self._idle.pop().close()
