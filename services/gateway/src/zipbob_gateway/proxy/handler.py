"""The hot path: a plain ASGI callable that authenticates, rate-limits and streams a request
to its upstream and the answer back."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from starlette.types import Receive, Scope, Send

from zipbob_platform.auth import AuthError, JwksVerifier, Principal, bearer_token
from zipbob_platform.problems import Problem
from zipbob_platform.tracing import current_traceparent

from ..ratelimit.clients import ClientRateLimiter
from ..ratelimit.metrics import rate_limited_total
from ..settings import ProxySettings
from .headers import downstream_response_headers, upstream_request_headers
from .http1 import (
    UpstreamConnectError,
    UpstreamDisconnected,
    UpstreamError,
    UpstreamResponse,
)
from .responses import send_problem, send_problem_exception
from .routes import Route, RouteTable
from .upstream import FAILURE_STATUSES, IDEMPOTENT, Upstream

log = logging.getLogger("zipbob.gateway.proxy")
SMALL_BODY = 64 * 1024


class BodyTooLarge(Exception):
    pass


class ClientGone(Exception):
    pass


class ProxyApp:
    def __init__(
        self,
        *,
        table: RouteTable,
        upstreams: dict[str, Upstream],
        verifier: JwksVerifier,
        limiter: ClientRateLimiter | None,
        settings: ProxySettings,
    ) -> None:
        self.table = table
        self.upstreams = upstreams
        self.verifier = verifier
        self.limiter = limiter
        self.max_body = settings.max_body_bytes
        self._clients_limited = rate_limited_total.labels("client")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        route = self.table.match(path)
        if route is None:
            await send_problem(
                send, 404, "no route for this path", instance=path, method=scope["method"]
            )
            return
        scope["zipbob.route"] = route.template
        method: str = scope["method"]
        if method not in route.methods:
            await send_problem(
                send,
                405,
                f"{method} is not allowed here",
                instance=path,
                method=scope["method"],
                headers={"Allow": route.allow_header},
            )
            return
        authorization = content_length = None
        chunked = False
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"content-length":
                content_length = value
            elif name == b"transfer-encoding":
                chunked = True
        try:
            principal = await self._authenticate(authorization, method, route)
            if content_length is not None and int(content_length) > self.max_body:
                raise Problem(413, f"the request body exceeds {self.max_body} bytes")
        except ValueError:
            await send_problem(
                send, 400, "Content-Length is not a number", instance=path, method=scope["method"]
            )
            return
        except Problem as problem:
            await send_problem_exception(send, problem, instance=path, method=scope["method"])
            return
        if self.limiter is not None:
            client = f"user:{principal.user_id}" if principal else f"ip:{_client_ip(scope)}"
            wait = await self.limiter.check(client)
            if wait:
                self._clients_limited.inc()
                await send_problem(
                    send,
                    429,
                    "too many requests; slow down",
                    instance=path,
                    method=scope["method"],
                    headers={"Retry-After": str(wait)},
                )
                return
        has_body = chunked or (content_length is not None and content_length != b"0")
        await self._forward(scope, receive, send, route, has_body)

    async def _authenticate(
        self, authorization: str | None, method: str, route: Route
    ) -> Principal | None:
        if authorization is None:
            if method in route.anonymous_methods:
                return None
            raise AuthError("missing", "this request needs a bearer access token")
        token = bearer_token(authorization)
        # A presented token is always checked, also on anonymous routes: it names the client.
        return self.verifier.cached(token) or await self.verifier.verify(token)

    async def _forward(
        self, scope: Scope, receive: Receive, send: Send, route: Route, has_body: bool
    ) -> None:
        upstream = self.upstreams[route.upstream]
        breaker, outcomes, path = upstream.breaker, upstream.outcomes, scope["path"]
        if not breaker.allow():
            outcomes["breaker_open"].inc()
            await send_problem(
                send,
                503,
                f"the {upstream.name} service is unavailable; retry later",
                instance=path,
                method=scope["method"],
                headers={"Retry-After": str(breaker.retry_after())},
            )
            return
        method: str = scope["method"]
        raw_path: bytes = scope.get("raw_path") or path.encode()
        query: bytes = scope.get("query_string", b"")
        target = raw_path.decode("latin-1")
        if query:
            target += "?" + query.decode("latin-1")
        headers = upstream_request_headers(
            scope["headers"],
            client_ip=_client_ip(scope),
            scheme=scope.get("scheme", "http"),
            request_id=scope.get("zipbob.request_id") or "",
            traceparent=current_traceparent(),
        )
        body = self._request_body(receive) if has_body else None
        attempts = 1 + upstream.settings.retries if method in IDEMPOTENT and not has_body else 1
        response: UpstreamResponse | None = None
        verdict = False
        try:
            for attempt in range(attempts):
                last = attempt == attempts - 1
                try:
                    response = await upstream.pool.request(
                        method, target, headers, body, read_timeout=route.timeout_seconds
                    )
                except (UpstreamConnectError, UpstreamDisconnected) as exc:
                    if not last:
                        outcomes["retried"].inc()
                        await asyncio.sleep(upstream.settings.retry_backoff_seconds * (attempt + 1))
                        continue
                    raise exc
                if response.status == 503 and not last:
                    response.release()
                    outcomes["retried"].inc()
                    await asyncio.sleep(upstream.settings.retry_backoff_seconds * (attempt + 1))
                    continue
                break
            assert response is not None
            if response.status in FAILURE_STATUSES:
                outcomes["bad_status"].inc()
                breaker.record_failure()
            else:
                outcomes["ok"].inc()
                breaker.record_success()
            verdict = True
            await self._relay(response, method, send)
        except BodyTooLarge:
            outcomes["body_too_large"].inc()
            await send_problem(
                send,
                413,
                f"the request body exceeds {self.max_body} bytes",
                instance=path,
                method=scope["method"],
            )
        except ClientGone:
            outcomes["aborted"].inc()
        except (UpstreamConnectError, UpstreamDisconnected) as exc:
            if verdict:
                raise
            outcomes["connect_error"].inc()
            breaker.record_failure()
            verdict = True
            log.warning("upstream %s unreachable: %s", upstream.name, type(exc).__name__)
            await send_problem(
                send,
                502,
                f"the {upstream.name} service could not be reached",
                instance=path,
                method=scope["method"],
            )
        except TimeoutError:
            if verdict:
                outcomes["aborted"].inc()
                return
            outcomes["timeout"].inc()
            breaker.record_failure()
            verdict = True
            await send_problem(
                send,
                504,
                f"the {upstream.name} service did not answer in time",
                instance=path,
                method=scope["method"],
            )
        except UpstreamError as exc:
            # BodyTooLarge and ClientGone arrive as themselves: the hop client streams the
            # body from this task, so nothing wraps them.
            if verdict:
                outcomes["aborted"].inc()
                log.warning("upstream %s broke off a response: %s", upstream.name, exc)
                return
            outcomes["connect_error"].inc()
            breaker.record_failure()
            verdict = True
            await send_problem(
                send,
                502,
                f"the {upstream.name} service failed: {type(exc).__name__}",
                instance=path,
                method=scope["method"],
            )
        finally:
            if not verdict:
                breaker.release()
            if response is not None:
                response.release()

    async def _request_body(self, receive: Receive) -> AsyncIterator[bytes]:
        received = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientGone
            chunk: bytes = message.get("body", b"")
            received += len(chunk)
            if received > self.max_body:
                raise BodyTooLarge
            more = message.get("more_body", False)
            if chunk:
                yield chunk

    @staticmethod
    async def _relay(response: UpstreamResponse, method: str, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": response.status,
                "headers": downstream_response_headers(response.raw_headers),
            }
        )
        if method == "HEAD":
            await send({"type": "http.response.body", "body": b""})
            return
        length = response.content_length
        if length is not None and length <= SMALL_BODY:
            await send({"type": "http.response.body", "body": await response.read()})
            return
        async for chunk in response.iter_chunks():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})


def _client_ip(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else "unknown"
