"""Fault injection for tests: a real TCP proxy in front of a server that can be cut.

Put it between a service and its broker, database, cache or object store; ``cut()``
severs every open connection and refuses new ones (the server looks down to the
client), ``blackhole()`` accepts and never answers (the server looks hung), and
``restore()`` lets traffic through again. The server behind it keeps its state, which
stopping a real server would lose for the in-memory ones (moto, fakeredis).
"""

from __future__ import annotations

import asyncio
import contextlib
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
