"""The gateway's management port (prod): /metrics for Prometheus, off the public edge port.

The edge port faces the internet; auth failure reasons, signups by role and upstream
outcomes are not for everyone. A tiny HTTP/1.1 server on the same event loop answers GET
/metrics and /healthz/live and nothing else (one request per connection, head ≤ 8 KiB).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from prometheus_client import CONTENT_TYPE_LATEST

from zipbob_platform.metrics import render_metrics

from .settings import ManagementSettings

log = logging.getLogger("zipbob.gateway.management")
MAX_HEAD = 8 * 1024
HEAD_TIMEOUT_SECONDS = 5.0


def _answer(status: str, content_type: str, body: bytes) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        async with asyncio.timeout(HEAD_TIMEOUT_SECONDS):
            head = await reader.readuntil(b"\r\n\r\n")
        if len(head) > MAX_HEAD:
            raise ValueError("head too large")
        method, target, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
        path = target.split("?", 1)[0]
        if method == "GET" and path == "/metrics":
            reply = _answer("200 OK", CONTENT_TYPE_LATEST, render_metrics())
        elif method == "GET" and path == "/healthz/live":
            reply = _answer("200 OK", "application/json", b'{"status":"ok"}')
        else:
            reply = _answer("404 Not Found", "text/plain", b"not found\n")
        writer.write(reply)
        await writer.drain()
    except (TimeoutError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        pass
    except OSError:
        pass
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


class ManagementServer:
    def __init__(self, settings: ManagementSettings) -> None:
        self.settings = settings
        self._server: asyncio.Server | None = None

    @property
    def enabled(self) -> bool:
        return self.settings.port != 0

    async def start(self) -> None:
        if not self.enabled:
            return
        self._server = await asyncio.start_server(
            _handle, self.settings.host, self.settings.port, limit=MAX_HEAD
        )
        log.info("metrics on the management port", extra={"port": self.settings.port})

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None
