"""Build the gateway's container from settings, inside the app's lifespan: signing keys and
the verifier of its own tokens, the users database (migrated first where the profile says
so), Redis, the auth components, the upstream pools and the proxy over them."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import redis.asyncio as redis
from sqlalchemy.ext.asyncio import AsyncEngine

from zipbob_platform.auth import JwksVerifier, static_jwks_source
from zipbob_platform.health import ReadinessCheck
from zipbob_platform.sql import ping

from .auth.passwords import PasswordHashing
from .auth.refresh_tokens import RefreshTokenStore
from .auth.service import AuthComponents
from .db import create_engine, session_factory, upgrade_to_head
from .keys.issuer import AccessTokenIssuer
from .keys.keyring import load_key_ring
from .management import ManagementServer
from .proxy.control_guard import ControlGuard
from .proxy.edge import TrustedProxies
from .proxy.handler import ProxyApp
from .proxy.routes import RouteTable
from .proxy.upstream import Upstream
from .ratelimit.clients import ClientRateLimiter
from .ratelimit.login import LoginLimiter
from .redis_client import create_redis
from .settings import GatewaySettings

log = logging.getLogger("zipbob.gateway")


@dataclass(frozen=True)
class GatewayContainer:
    engine: AsyncEngine
    redis: redis.Redis
    jwks_document: dict[str, Any]
    verifier: JwksVerifier
    auth: AuthComponents
    proxy: ProxyApp
    guard: ControlGuard


@contextlib.asynccontextmanager
async def bootstrap(settings: GatewaySettings) -> AsyncIterator[GatewayContainer]:
    key_ring = load_key_ring(settings)
    jwks_document = key_ring.jwks()
    verifier = JwksVerifier(settings.auth, static_jwks_source(jwks_document))
    prefix = settings.redis.key_prefix
    engine = create_engine(settings.database_url, pool_size=settings.database.pool_size)
    client = create_redis(settings.redis)
    upstreams = {name: Upstream(name, cfg) for name, cfg in settings.upstreams.items()}
    proxies = TrustedProxies(
        settings.edge.trusted_proxies, settings.edge.proxy_token.get_secret_value()
    )
    management = ManagementServer(settings.management)
    passwords = PasswordHashing(settings.password_hashing)
    try:
        if settings.database.migrate_on_start:
            await upgrade_to_head(engine)
        auth = AuthComponents(
            sessions=session_factory(engine),
            issuer=AccessTokenIssuer(
                key_ring=key_ring, auth=settings.auth, ttl_seconds=settings.jwt.access_ttl_seconds
            ),
            refresh_tokens=RefreshTokenStore(
                client=client, prefix=prefix, ttl_seconds=settings.jwt.refresh_ttl_seconds
            ),
            login_limiter=LoginLimiter(
                client=client, settings=settings.rate_limits.login, prefix=prefix
            ),
            passwords=passwords,
        )
        guard = ControlGuard(
            edge=settings.edge,
            proxies=proxies,
            auth_limits=settings.rate_limits.auth,
            auth_limiter=ClientRateLimiter(
                client=client, settings=settings.rate_limits.auth, prefix=prefix, name="auth"
            ),
            metrics_here=not management.enabled,
        )
        await management.start()
        for upstream in upstreams.values():
            await upstream.start()
        limits = settings.rate_limits.clients
        proxy = ProxyApp(
            table=RouteTable(settings.routes, denied_prefixes=settings.proxy.denied_prefixes),
            upstreams=upstreams,
            verifier=verifier,
            limiter=ClientRateLimiter(client=client, settings=limits, prefix=prefix)
            if limits.enabled
            else None,
            settings=settings.proxy,
            edge=settings.edge,
            proxies=proxies,
        )
        log.info(
            "gateway ready",
            extra={"routes": len(settings.routes), "signing_kid": key_ring.active.kid},
        )
        yield GatewayContainer(
            engine=engine,
            redis=client,
            jwks_document=jwks_document,
            verifier=verifier,
            auth=auth,
            proxy=proxy,
            guard=guard,
        )
    finally:
        await management.close()
        passwords.close()
        for upstream in upstreams.values():
            await upstream.close()
        await client.aclose()
        await engine.dispose()


def readiness(container: GatewayContainer) -> dict[str, ReadinessCheck]:
    return {"database": lambda: ping(container.engine)}
