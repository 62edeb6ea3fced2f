"""Fault injection for tests: a real TCP proxy in front of a server that can be cut.

Put it between a service and its broker, database, cache or object store; ``cut()``
severs every open connection and refuses new ones (the server looks down to the
client), ``blackhole()`` accepts and never answers (the server looks hung), and
``restore()`` lets traffic through again. The server behind it keeps its state, which
stopping a real server would lose for the in-memory ones (moto, fakeredis).

``S3ErrorServer`` is an HTTP endpoint that answers every request with one S3 error
document (SlowDown, InternalError, ...): the answers of a throttled or failing S3, which
moto cannot give.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import threading
from concurrent.futures import Future
from typing import Any

from .embedded import free_port

_CHUNK = 64 * 1024


class TcpProxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.mode = "open"  # open | cut | blackhole
        self.accepted = 0  # client connections taken so far (tests poll it: "is it in?")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url_host_port(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _call(self, coro: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(10)

    def start(self) -> TcpProxy:
        self._thread.start()
        self._call(self._listen())
        return self

    async def _listen(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def _close_all(self, *, stop_listening: bool) -> None:
        if stop_listening and self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            transport = writer.transport
            if transport is not None:
                transport.abort()
        self._writers.clear()

    def cut(self) -> None:
        """Connections reset, new ones refused."""
        self.mode = "cut"
        self._call(self._close_all(stop_listening=True))

    def blackhole(self) -> None:
        """Open connections dropped; new ones accepted but never answered."""
        self.mode = "blackhole"
        self._call(self._close_all(stop_listening=False))
        self._call(self._listen())

    def restore(self) -> None:
        self.mode = "open"
        self._call(self._listen())

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._call(self._close_all(stop_listening=True))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    async def _handle(
        self, client_reader: asyncio.StreamReader, client: asyncio.StreamWriter
    ) -> None:
        self._writers.add(client)
        self.accepted += 1
        if self.mode == "blackhole":
            return  # held open until cut/restore/stop aborts it
        try:
            upstream_reader, upstream = await asyncio.open_connection(*self.target)
        except OSError:
            client.transport.abort()
            self._writers.discard(client)
            return
        self._writers.add(upstream)
        await asyncio.gather(
            self._pipe(client_reader, upstream), self._pipe(upstream_reader, client)
        )
        self._writers.discard(client)
        self._writers.discard(upstream)

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(_CHUNK):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()


class _S3ErrorHandler(http.server.BaseHTTPRequestHandler):
    server: _S3ErrorHTTPServer
    protocol_version = "HTTP/1.1"  # answers botocore's "Expect: 100-continue" at once

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        owner = self.server.owner
        owner.requests += 1
        body = (
            f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{owner.code}</Code>"
            "<Message>injected by zipbob_devkit.faults</Message><RequestId>1</RequestId></Error>"
        ).encode()
        self.send_response(owner.status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _S3ErrorHTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    owner: S3ErrorServer


class S3ErrorServer:
    """An S3 endpoint that answers every request with ``status`` and error ``code``
    (change both at any time). ``url`` goes where an S3 endpoint URL goes."""

    def __init__(self, status: int = 503, code: str = "SlowDown") -> None:
        self.status = status
        self.code = code
        self.requests = 0
        self._server = _S3ErrorHTTPServer(("127.0.0.1", 0), _S3ErrorHandler)
        self._server.owner = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> S3ErrorServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
