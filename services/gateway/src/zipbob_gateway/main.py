"""Build the gateway: plain ASGI dispatcher + FastAPI control app + proxy, with a lifespan."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import text
from starlette.types import ASGIApp, Receive, Scope, Send

from zipbob_platform.app import wrap_plain_asgi
from zipbob_platform.auth import JwksVerifier, static_jwks_source
from zipbob_platform.settings import ConfigError, load_settings

from .apidocs.aggregate import Aggregator
from .apidocs.source import UpstreamDocuments, documented_upstreams
from .apidocs.views import ApiDocument
from .auth.refresh_tokens import RefreshTokenStore
from .auth.service import AuthComponents
from .control import build_control_app, is_control_path
from .db import create_engine, session_factory, upgrade_to_head
from .keys.issuer import AccessTokenIssuer
from .keys.keyring import load_key_ring
from .proxy.handler import ProxyApp
from .proxy.routes import RouteTable
from .proxy.upstream import Upstream
from .ratelimit.clients import ClientRateLimiter
from .ratelimit.login import LoginLimiter
from .redis_client import create_redis
from .settings import GatewaySettings

log = logging.getLogger("zipbob.gateway")


class Gateway:
    """Owns the connections; sends auth/ops paths to FastAPI and everything else to the proxy."""

    def __init__(self, settings: GatewaySettings) -> None:
        if not settings.relaxed and not settings.database.url:
            raise ConfigError(settings.service, ["database.url: set ZIPBOB_DATABASE__URL"])
        self.settings = settings
        self.key_ring = load_key_ring(settings)
        self.jwks_document = self.key_ring.jwks()
        self.verifier = JwksVerifier(settings.auth, static_jwks_source(self.jwks_document))
        self.table = RouteTable(settings.routes, denied_prefixes=settings.proxy.denied_prefixes)
        self.upstreams = {name: Upstream(name, cfg) for name, cfg in settings.upstreams.items()}
        self.readiness: dict[str, Any] = {"database": self._check_database}
        self.control = build_control_app(self.readiness)
        self.control.state.jwks_verifier = self.verifier
        self.control.state.jwks_document = self.jwks_document
        self.control.state.api_document = ApiDocument(
            self.control,
            Aggregator(self.table),
            UpstreamDocuments(documented_upstreams(settings)),
        )
        self.engine = create_engine(settings.database_url, pool_size=settings.database.pool_size)
        self.redis = create_redis(settings.redis)
        self.proxy: ProxyApp | None = None

    async def _check_database(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def startup(self) -> None:
        settings, prefix = self.settings, self.settings.redis.key_prefix
        if settings.database.migrate_on_startup:
            await upgrade_to_head(self.engine)
        self.control.state.auth_components = AuthComponents(
            sessions=session_factory(self.engine),
            issuer=AccessTokenIssuer(
                key_ring=self.key_ring,
                auth=settings.auth,
                ttl_seconds=settings.jwt.access_ttl_seconds,
            ),
            refresh_tokens=RefreshTokenStore(
                client=self.redis, prefix=prefix, ttl_seconds=settings.jwt.refresh_ttl_seconds
            ),
            login_limiter=LoginLimiter(
                client=self.redis, settings=settings.rate_limits.login, prefix=prefix
            ),
        )
        for upstream in self.upstreams.values():
            await upstream.start()
        limits = settings.rate_limits.clients
        self.proxy = ProxyApp(
            table=self.table,
            upstreams=self.upstreams,
            verifier=self.verifier,
            limiter=ClientRateLimiter(client=self.redis, settings=limits, prefix=prefix)
            if limits.enabled
            else None,
            settings=settings.proxy,
        )
        log.info(
            "gateway ready",
            extra={"routes": len(settings.routes), "signing_kid": self.key_ring.active.kid},
        )

    async def shutdown(self) -> None:
        for upstream in self.upstreams.values():
            await upstream.close()
        await self.redis.aclose()
        await self.engine.dispose()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if is_control_path(scope["path"]) or self.proxy is None:
                await self._control_logged(scope, receive, send)
            else:
                await self.proxy(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _control_logged(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Auth and JWKS requests always get an access line, even with the per-request access
        log off for the proxied hot path (gateway.yaml)."""
        scope["zipbob.log_access"] = True
        await self.control(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    log.exception("gateway failed to start")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return


def create_app(settings: GatewaySettings | None = None) -> ASGIApp:
    settings = settings or load_settings("gateway", GatewaySettings)
    return wrap_plain_asgi(Gateway(settings), settings)
