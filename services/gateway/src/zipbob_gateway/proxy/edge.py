"""What the gateway refuses before any work is done for a request (issue 12).

- the client address: the peer, or from ``X-Forwarded-For`` only when the peer is a
  configured trusted proxy (uvicorn's own handling is off, see zipbob_platform.server) or
  presents the proxy credential (``X-ZipBob-Proxy-Token``: the web console, whose address
  proves nothing in `make run`, where every process is 127.0.0.1);
- request bodies: counted as they stream, with an idle timeout, refused on methods that
  carry none; small ones read in full before an upstream connection is taken;
- in-flight requests per client;
- duplicate credentials.
Head size and count are the HTTP server's job (zipbob_platform.http_limits).
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
from collections.abc import AsyncIterator

from prometheus_client import Counter
from starlette.types import Message, Receive, Scope

from zipbob_platform.forwarded import forwarded_hops
from zipbob_platform.metrics import get_or_create

from ..settings import EdgeSettings

NO_BODY_METHODS = frozenset({"GET", "HEAD", "DELETE"})
_MAX_CACHED_PEERS = 4096
# The credential of a trusted first hop (the web console); never forwarded (headers.py).
PROXY_TOKEN_HEADER = b"x-zipbob-proxy-token"

proxy_token_ignored_total = get_or_create(
    Counter,
    "zipbob_proxy_token_ignored_total",
    "Requests whose X-ZipBob-Proxy-Token was ignored (X-Forwarded-For not believed), by reason",
    ("reason",),
)


class BodyTooLarge(Exception):
    pass


class BodyTimeout(Exception):
    pass


class ClientGone(Exception):
    pass


class RequestRefused(Exception):
    """A 400 for a request head the gateway will not pass on."""


class TrustedProxies:
    """Which peers may tell the gateway who the client is: those in ``cidrs``, and any that
    presents ``token`` in X-ZipBob-Proxy-Token (empty: no peer is trusted by credential)."""

    def __init__(self, cidrs: list[str], token: str = "") -> None:
        self.networks = tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)
        self._verdicts: dict[str, bool] = {}
        self._token = token.encode() if token else None
        self._mismatch = proxy_token_ignored_total.labels("mismatch")
        self._repeated = proxy_token_ignored_total.labels("repeated")

    def vouched_by_token(self, headers: list[tuple[bytes, bytes]]) -> bool:
        """True when the head carries the configured token exactly once. Only a request that
        carries the header pays for the (constant-time) compare; a wrong one is counted and
        otherwise ignored, as if absent: the request goes on with the peer as its client."""
        if self._token is None:
            return False
        presented = [value for name, value in headers if name == PROXY_TOKEN_HEADER]
        if not presented:
            return False
        if len(presented) > 1:
            self._repeated.inc()
            return False
        if hmac.compare_digest(presented[0], self._token):
            return True
        self._mismatch.inc()
        return False

    def trusts(self, address: str) -> bool:
        verdict = self._verdicts.get(address)
        if verdict is None:
            try:
                ip = ipaddress.ip_address(address)
                verdict = any(ip in network for network in self.networks)
            except ValueError:
                verdict = False
            if len(self._verdicts) >= _MAX_CACHED_PEERS:
                self._verdicts.clear()
            self._verdicts[address] = verdict
        return verdict

    def resolve(self, scope: Scope) -> tuple[str, str]:
        """(client address, X-Forwarded-For to send upstream); stored on the scope."""
        cached = scope.get("zipbob.client")
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        client = scope.get("client")
        peer = client[0] if client else "unknown"
        result = (peer, peer)
        trusted = bool(self.networks) and self.trusts(peer)
        if trusted or self.vouched_by_token(scope["headers"]):
            hops = forwarded_hops(scope["headers"])
            if hops:
                # Walk back from the nearest hop: the first address no trusted proxy vouches
                # for is the client (anything left of it was written by the client itself).
                origin = hops[0]
                for hop in reversed(hops):
                    if not self.trusts(hop):
                        origin = hop
                        break
                result = (origin, ", ".join([*hops, peer]))
        scope["zipbob.client"] = result
        return result


class ConcurrencyLimiter:
    """In-flight requests per client key; a slot is always given back by the caller."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._in_flight: dict[str, int] = {}

    def acquire(self, key: str) -> bool:
        count = self._in_flight.get(key, 0)
        if count >= self.limit:
            return False
        self._in_flight[key] = count + 1
        return True

    def release(self, key: str) -> None:
        count = self._in_flight.get(key, 1) - 1
        if count <= 0:
            self._in_flight.pop(key, None)
        else:
            self._in_flight[key] = count

    def in_flight(self, key: str) -> int:
        return self._in_flight.get(key, 0)


class BodyReader:
    """Request bodies from ASGI ``receive``: size counted on the bytes that arrive (not the
    declared length), at most ``idle`` seconds between two chunks."""

    def __init__(self, settings: EdgeSettings) -> None:
        self.idle = settings.body_idle_timeout_seconds

    async def _next(self, receive: Receive) -> Message:
        try:
            async with asyncio.timeout(self.idle):
                message = await receive()
        except TimeoutError:
            raise BodyTimeout from None
        if message["type"] == "http.disconnect":
            raise ClientGone
        return message

    async def stream(self, receive: Receive, limit: int) -> AsyncIterator[bytes]:
        received = 0
        more = True
        while more:
            message = await self._next(receive)
            chunk: bytes = message.get("body", b"")
            received += len(chunk)
            if received > limit:
                raise BodyTooLarge
            more = message.get("more_body", False)
            if chunk:
                yield chunk

    async def read(self, receive: Receive, limit: int) -> bytes:
        return b"".join([chunk async for chunk in self.stream(receive, limit)])


def replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands out an already read body, then waits for the disconnect."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


async def one_chunk(body: bytes) -> AsyncIterator[bytes]:
    if body:
        yield body


def body_framing(headers: list[tuple[bytes, bytes]]) -> tuple[int | None, bool, str | None]:
    """(Content-Length, chunked, authorization) of a request head; RequestRefused when the
    head repeats a credential or a length (the gateway and the upstream could each read a
    different one) or the length is not a number."""
    authorization = None
    content_length = None
    chunked = seen_auth = False
    for name, value in headers:
        if name == b"authorization":
            if seen_auth:
                raise RequestRefused("more than one Authorization header")
            seen_auth = True
            authorization = value.decode("latin-1")
        elif name == b"content-length":
            if content_length is not None:
                raise RequestRefused("more than one Content-Length header")
            if not value.isdigit():
                raise RequestRefused("Content-Length is not a number")
            content_length = int(value)
        elif name == b"transfer-encoding":
            chunked = True
    return content_length, chunked, authorization
