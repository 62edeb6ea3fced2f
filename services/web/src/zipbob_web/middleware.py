"""Per request: the browser session (cookies in, Set-Cookie out) and the security headers."""

from __future__ import annotations

import contextlib
from http.cookies import CookieError, SimpleCookie

import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .api import ApiError, browser_forwarded_for, forwarded_chain
from .session import CookiePolicy, RefreshCoordinator, WebSession
from .settings import WebSettings

STATIC_PREFIX = "/static/"
# Platform paths the gateway never routes here; no session for them either.
BARE_PATHS = ("/healthz/", "/metrics")


def content_security_policy(image_origins: list[str]) -> str:
    """Strict: only our own scripts and styles (no inline code at all), photos also from the
    object store that variant URLs point at, no framing, forms only to us."""
    images = " ".join(["'self'", "data:", *image_origins])
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src {images}",
            "connect-src 'self'",
            "font-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def security_headers(settings: WebSettings) -> list[tuple[bytes, bytes]]:
    headers = {
        "content-security-policy": content_security_policy(settings.web.image_origins),
        "x-content-type-options": "nosniff",
        "referrer-policy": "same-origin",
        "x-frame-options": "DENY",
        "permissions-policy": "camera=(), microphone=(), geolocation=()",
        "cross-origin-opener-policy": "same-origin",
    }
    if settings.secure_cookies:
        headers["strict-transport-security"] = "max-age=31536000; includeSubDomains"
    return [(k.encode(), v.encode()) for k, v in headers.items()]


def _cookies(scope: Scope) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    for name, value in scope["headers"]:
        if name == b"cookie":
            try:
                jar.load(value.decode("latin-1"))
            except CookieError:
                continue
    return {key: morsel.value for key, morsel in jar.items()}


class WebSessionMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        settings: WebSettings,
        coordinator: RefreshCoordinator,
        key: bytes,
    ) -> None:
        self.app = app
        self.settings = settings
        self.coordinator = coordinator
        self.key = key
        self.policy = CookiePolicy(
            secure=settings.secure_cookies,
            refresh_max_age=settings.web.session.refresh_max_age_seconds,
        )
        self.headers = security_headers(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path.startswith(BARE_PATHS):
            await self.app(scope, receive, send)
            return
        # Every API call made while serving this request names the browser to the gateway.
        forwarded = browser_forwarded_for.set(forwarded_chain(scope))
        try:
            await self._with_session(scope, receive, send, path)
        finally:
            browser_forwarded_for.reset(forwarded)

    async def _with_session(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        session: WebSession | None = None
        if not path.startswith(STATIC_PREFIX):
            session = WebSession.from_cookies(
                _cookies(scope),
                policy=self.policy,
                coordinator=self.coordinator,
                key=self.key,
                margin_seconds=self.settings.web.session.refresh_margin_seconds,
            )
            # The API unreachable: the page itself will say so when it calls it.
            with contextlib.suppress(ApiError, httpx.HTTPError):
                await session.ensure_fresh()
            scope.setdefault("state", {})["web_session"] = session

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.extend(self.headers)
                if session is not None:
                    headers.append((b"cache-control", b"no-store"))
                    headers.extend((b"set-cookie", c.encode()) for c in session.set_cookies)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
