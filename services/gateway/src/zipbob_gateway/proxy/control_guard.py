"""The edge limits for the paths the gateway answers itself (/api/auth/*, JWKS, health).

FastAPI reads a whole body before any ``max_length`` applies, so the body is read here
first: counted as it arrives, with an idle timeout, and handed to FastAPI already read.
Every /api/auth/* request also passes a per-address token bucket and an in-flight cap.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from ..ratelimit.clients import ClientRateLimiter
from ..ratelimit.metrics import rate_limited_total
from ..settings import AuthClientLimitSettings, EdgeSettings
from .edge import (
    NO_BODY_METHODS,
    BodyReader,
    BodyTimeout,
    BodyTooLarge,
    ClientGone,
    ConcurrencyLimiter,
    RequestRefused,
    TrustedProxies,
    body_framing,
    replay,
)
from .responses import send_problem

AUTH_PREFIX = "/api/auth/"


class ControlGuard:
    def __init__(
        self,
        *,
        edge: EdgeSettings,
        proxies: TrustedProxies,
        auth_limits: AuthClientLimitSettings,
        auth_limiter: ClientRateLimiter | None,
        metrics_here: bool,
    ) -> None:
        self.max_body = edge.control_max_body_bytes
        self.proxies = proxies
        self.bodies = BodyReader(edge)
        self.auth_limiter = auth_limiter if auth_limits.enabled else None
        self.in_flight = ConcurrencyLimiter(auth_limits.concurrency)
        self.metrics_here = metrics_here
        self.retry_after = str(edge.retry_after_seconds)
        self._auth_limited = rate_limited_total.labels("auth")

    async def __call__(self, scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
        path, method = scope["path"], scope["method"]
        if path == "/metrics" and not self.metrics_here:
            await send_problem(send, 404, "no route for this path", instance=path, method=method)
            return
        try:
            content_length, chunked, _ = body_framing(scope["headers"])
            has_body = chunked or bool(content_length)
            if has_body and method in NO_BODY_METHODS:
                raise RequestRefused(f"a {method} request carries no body here")
        except RequestRefused as exc:
            await send_problem(send, 400, str(exc), instance=path, method=method)
            return
        if content_length is not None and content_length > self.max_body:
            await self._too_large(send, path, method)
            return
        client_ip, _ = self.proxies.resolve(scope)
        key = None
        if path.startswith(AUTH_PREFIX):
            wait = await self.auth_limiter.check(f"auth:ip:{client_ip}") if self.auth_limiter else 0
            if wait or not self.in_flight.acquire(client_ip):
                self._auth_limited.inc()
                await send_problem(
                    send,
                    429,
                    "too many sign-in requests from your address; slow down",
                    instance=path,
                    method=method,
                    headers={"Retry-After": str(wait) if wait else self.retry_after},
                )
                return
            key = client_ip
        try:
            if has_body:
                try:
                    body = await self.bodies.read(receive, self.max_body)
                except BodyTooLarge:
                    await self._too_large(send, path, method)
                    return
                except BodyTimeout:
                    await send_problem(
                        send,
                        408,
                        "the request body stopped arriving",
                        instance=path,
                        method=method,
                        close=True,
                    )
                    return
                except ClientGone:
                    return
                receive = replay(body, receive)
            await app(scope, receive, send)
        finally:
            if key is not None:
                self.in_flight.release(key)

    async def _too_large(self, send: Send, path: str, method: str) -> None:
        await send_problem(
            send,
            413,
            f"the request body exceeds {self.max_body} bytes",
            instance=path,
            method=method,
        )
