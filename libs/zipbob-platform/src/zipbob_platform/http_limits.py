"""Limits on the request head, enforced by the HTTP server before a head is buffered.

uvicorn's httptools protocol has no limit on the size or number of header fields (only
its h11 protocol has ``h11_max_incomplete_event_size``), and httptools glues a header
value together from every read (``value += chunk``), so one 64 MiB header costs
quadratic copying and the whole value in memory. This protocol counts the bytes of each
head as they arrive (the head ends at the first blank line) and answers 431 as soon as a
head is larger than allowed, before the parser sees the rest; it also caps the number of
fields (431), refuses chunked trailers (400: httptools would append them to the request's
headers while the app runs) and gives a client a bounded time to send a head (408).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .context import new_request_id
from .problems import PROBLEM_BASE, PROBLEM_JSON

HEAD_END = b"\r\n\r\n"
LINGER_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class HeadLimits:
    max_header_bytes: int = 32 * 1024  # request line + every field, as on the wire
    max_headers: int = 100
    head_timeout_seconds: float = 10.0  # from the first byte of a head (or connect) to its end


class _Refused(Exception):
    pass


def problem_bytes(status: int, detail: str) -> bytes:
    """A complete HTTP/1.1 problem+json answer that closes the connection."""
    phrase = HTTPStatus(status).phrase
    request_id = new_request_id()
    body = json.dumps(
        {
            "type": PROBLEM_BASE + phrase.lower().replace(" ", "-"),
            "title": phrase,
            "status": status,
            "detail": detail,
            "trace_id": None,
            "request_id": request_id,
        }
    ).encode()
    head = (
        f"HTTP/1.1 {status} {phrase}\r\ncontent-type: {PROBLEM_JSON}\r\n"
        f"content-length: {len(body)}\r\nx-request-id: {request_id}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with :class:`HeadLimits` (set by :func:`protocol_with`)."""

    limits = HeadLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True
        self._head_bytes = 0
        self._header_count = 0
        self._tail = b""
        self._refusal: tuple[int, str] | None = None
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refusal is not None or self.parser is None:
            return
        if self._in_head:
            if self._head_timer is None:
                self._arm_head_timer()
            window = self._tail + data if self._tail else data
            end = window.find(HEAD_END)
            self._head_bytes += len(data) if end < 0 else max(0, end + 4 - len(self._tail))
            if self._head_bytes > self.limits.max_header_bytes:
                self._refuse(431, f"the request head exceeds {self.limits.max_header_bytes} bytes")
                return
            self._tail = window[-3:]
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._unsupported_upgrade_warning()
        except httptools.HttpParserError:
            if self._refusal is not None:
                self._refuse(*self._refusal)
                return
            self.logger.warning("Invalid HTTP request received.")
            self._refuse(400, "the request is not valid HTTP/1.1")

    # --- parser callbacks ---------------------------------------------------------------
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_count = 0

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self._in_head:
            self._refusal = (400, "chunked trailers are not accepted")
            raise _Refused
        self._header_count += 1
        if self._header_count > self.limits.max_headers:
            self._refusal = (431, f"more than {self.limits.max_headers} header fields")
            raise _Refused
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._tail = b""
        self._cancel_head_timer()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head, self._head_bytes, self._tail = True, 0, b""

    # --- refusing -------------------------------------------------------------------------
    def _refuse(self, status: int, detail: str) -> None:
        self._refusal = (status, detail)
        self._cancel_head_timer()
        cycle = self.cycle
        answered = cycle is not None and not cycle.response_complete and cycle.response_started
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True  # the app sees http.disconnect; its answer goes nowhere
            cycle.message_event.set()
        if answered or self.transport.is_closing():
            self.transport.close()
            return
        self.transport.write(problem_bytes(status, detail))
        # Lingering close: closing with unread bytes makes the kernel send RST, which can
        # destroy the answer before the client reads it. Stop writing, throw away whatever
        # still arrives for a moment, then close.
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)

    def _arm_head_timer(self) -> None:
        self._head_timer = self.loop.call_later(
            self.limits.head_timeout_seconds, self._head_timed_out
        )

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or self._refusal is not None:
            return
        if self._head_bytes == 0:
            self.transport.close()  # never sent anything: nobody to answer
            return
        self._refuse(408, "the request head did not arrive in time")


def protocol_with(limits: HeadLimits) -> type[LimitedHttpToolsProtocol]:
    return type("LimitedHttpToolsProtocol", (LimitedHttpToolsProtocol,), {"limits": limits})
