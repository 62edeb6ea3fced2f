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
from ..settings import EdgeSettings, ProxySettings
from .edge import (
    BodyReader,
    BodyTimeout,
    BodyTooLarge,
    ClientGone,
    ConcurrencyLimiter,
    RequestRefused,
    TrustedProxies,
    body_framing,
    one_chunk,
)
from .headers import downstream_response_headers, upstream_request_headers
from .http1 import (
    PoolExhausted,
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


class ProxyApp:
    def __init__(
        self,
        *,
        table: RouteTable,
        upstreams: dict[str, Upstream],
        verifier: JwksVerifier,
        limiter: ClientRateLimiter | None,
        settings: ProxySettings,
        edge: EdgeSettings | None = None,
        proxies: TrustedProxies | None = None,
    ) -> None:
        self.table = table
        self.upstreams = upstreams
        self.verifier = verifier
        self.limiter = limiter
        self.max_body = settings.max_body_bytes
        edge = edge or EdgeSettings()
        self.proxies = proxies or TrustedProxies(
            edge.trusted_proxies, edge.proxy_token.get_secret_value()
        )
        self.bodies = BodyReader(edge)
        self.buffer_body = edge.buffer_body_bytes
        self.in_flight = ConcurrencyLimiter(edge.client_concurrency)
        self.retry_after = str(edge.retry_after_seconds)
        self._clients_limited = rate_limited_total.labels("client")
        self._concurrency_limited = rate_limited_total.labels("concurrency")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        method: str = scope["method"]
        route = self.table.match(path)
        if route is None:
            await send_problem(send, 404, "no route for this path", instance=path, method=method)
            return
        scope["zipbob.route"] = route.template
        if method not in route.methods:
            await send_problem(
                send,
                405,
                f"{method} is not allowed here",
                instance=path,
                method=method,
                headers={"Allow": route.allow_header},
            )
            return
        try:
            content_length, chunked, authorization = body_framing(scope["headers"])
            has_body = chunked or bool(content_length)
            if has_body and method not in route.body_methods:
                raise RequestRefused(f"a {method} request carries no body here")
            principal = await self._authenticate(authorization, method, route)
            if content_length is not None and content_length > self.max_body:
                raise Problem(413, f"the request body exceeds {self.max_body} bytes")
        except RequestRefused as exc:
            await send_problem(send, 400, str(exc), instance=path, method=method)
            return
        except Problem as problem:
            await send_problem_exception(send, problem, instance=path, method=method)
            return
        client_ip, forwarded_for = self.proxies.resolve(scope)
        client = f"user:{principal.user_id}" if principal else f"ip:{client_ip}"
        if self.limiter is not None:
            wait = await self.limiter.check(client)
            if wait:
                self._clients_limited.inc()
                await send_problem(
                    send,
                    429,
                    "too many requests; slow down",
                    instance=path,
                    method=method,
                    headers={"Retry-After": str(wait)},
                )
                return
        if not self.in_flight.acquire(client):
            self._concurrency_limited.inc()
            await send_problem(
                send,
                429,
                "too many requests in flight from this client",
                instance=path,
                method=method,
                headers={"Retry-After": self.retry_after},
            )
            return
        try:
            await self._forward(
                scope, receive, send, route, has_body, content_length, forwarded_for
            )
        finally:
            self.in_flight.release(client)

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
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        route: Route,
        has_body: bool,
        content_length: int | None,
        forwarded_for: str,
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
            forwarded_for=forwarded_for,
            scheme=scope.get("scheme", "http"),
            request_id=scope.get("zipbob.request_id") or "",
            traceparent=current_traceparent(),
        )
        attempts = 1 + upstream.settings.retries if method in IDEMPOTENT and not has_body else 1
        response: UpstreamResponse | None = None
        verdict = False
        try:
            body: AsyncIterator[bytes] | None = None
            if has_body:
                if content_length is not None and content_length <= self.buffer_body:
                    # Read before a pooled connection is taken: a slow client holds none.
                    body = one_chunk(await self.bodies.read(receive, content_length))
                else:
                    body = self.bodies.stream(receive, self.max_body)
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
        except BodyTimeout:
            outcomes["body_timeout"].inc()
            await send_problem(
                send,
                408,
                "the request body stopped arriving",
                instance=path,
                method=scope["method"],
                close=True,
            )
        except ClientGone:
            outcomes["aborted"].inc()
        except PoolExhausted:
            outcomes["pool_exhausted"].inc()
            await send_problem(
                send,
                503,
                f"the {upstream.name} service is busy; retry later",
                instance=path,
                method=scope["method"],
                headers={"Retry-After": self.retry_after},
            )
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
