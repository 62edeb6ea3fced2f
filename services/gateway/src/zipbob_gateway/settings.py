"""Gateway settings: the platform base plus database, Redis, JWT, rate limits and routes."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator

from zipbob_platform import sections
from zipbob_platform.sections import Section, SqlSettings
from zipbob_platform.settings import MigrationSettings, ServiceSettings, load_settings

__all__ = [
    "BreakerSettings",
    "ClientLimit",
    "ClientLimitSettings",
    "GatewayMigrationSettings",
    "GatewaySettings",
    "JwtSettings",
    "LoginLimitSettings",
    "ProxySettings",
    "RateLimitSettings",
    "RedisSettings",
    "RouteSettings",
    "SqlSettings",
    "UpstreamSettings",
    "load_gateway_settings",
    "load_migration_settings",
]

MIB = 1024 * 1024
HTTP_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"})


class RedisSettings(sections.RedisSettings):
    key_prefix: str = "zipbob:gateway"


class JwtSettings(Section):
    access_ttl_seconds: int = Field(900, ge=30, le=86_400)
    refresh_ttl_seconds: int = Field(30 * 86_400, ge=60)
    # JSON list of {"kid": ..., "pem": ...}; the first one signs, the others stay published
    # until their tokens have expired. Empty in local/test: a key is generated and persisted.
    private_keys: SecretStr = SecretStr("")


class LoginLimitSettings(Section):
    max_failures: int = Field(5, ge=1)
    window_seconds: int = Field(60, ge=1)


class ClientLimit(Section):
    rate_per_second: float = Field(100.0, gt=0)
    burst: int = Field(200, ge=1)


class ClientLimitSettings(ClientLimit):
    enabled: bool = True
    # Tokens taken from Redis per round trip, as a fraction of one second's rate (local lease).
    lease_seconds: float = Field(0.1, gt=0, le=1.0)
    # Per-client overrides: "user:<id>" or "ip:<address>" -> limit (e.g. a load-test user).
    overrides: dict[str, ClientLimit] = {}


class RateLimitSettings(Section):
    login: LoginLimitSettings = LoginLimitSettings()
    clients: ClientLimitSettings = ClientLimitSettings()


class BreakerSettings(Section):
    failure_threshold: int = Field(5, ge=1)
    open_seconds: float = Field(10.0, gt=0)


class UpstreamSettings(Section):
    url: str
    pool_size: int = Field(100, ge=1)
    connect_timeout_seconds: float = Field(2.0, gt=0)
    retries: int = Field(2, ge=0, le=5)
    retry_backoff_seconds: float = Field(0.05, ge=0)
    breaker: BreakerSettings = BreakerSettings()

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")


class RouteSettings(Section):
    id: str
    paths: list[str] = Field(min_length=1)
    upstream: str
    methods: list[str] = ["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"]
    anonymous_methods: list[str] = ["GET", "HEAD", "OPTIONS"]
    timeout_seconds: float = Field(10.0, gt=0)

    @field_validator("methods", "anonymous_methods")
    @classmethod
    def _known_methods(cls, value: list[str]) -> list[str]:
        upper = [m.upper() for m in value]
        unknown = sorted(set(upper) - HTTP_METHODS)
        if unknown:
            raise ValueError(f"unknown HTTP methods {unknown}")
        return upper

    @field_validator("paths")
    @classmethod
    def _absolute_paths(cls, value: list[str]) -> list[str]:
        for path in value:
            if not path.startswith("/"):
                raise ValueError(f"path pattern {path!r} must start with /")
        return value


class ProxySettings(Section):
    # Uploads are up to 20 MiB; multipart framing and form fields get 1 MiB on top.
    max_body_bytes: int = Field(21 * MIB, ge=1)
    # Paths never routed whatever the table says (internal event receivers).
    denied_prefixes: list[str] = ["/internal"]


def _database_url(settings: ServiceSettings, database: SqlSettings) -> str:
    """The configured URL; empty means SQLite under data_dir/gateway (local/test only: in
    dev/prod the empty secret is refused at load)."""
    return database.url.get_secret_value() or (
        f"sqlite+aiosqlite:///{Path(settings.data_dir) / 'gateway' / 'gateway.db'}"
    )


class GatewaySettings(ServiceSettings):
    database: SqlSettings = SqlSettings()
    redis: RedisSettings = RedisSettings()
    jwt: JwtSettings = JwtSettings()
    rate_limits: RateLimitSettings = RateLimitSettings()
    proxy: ProxySettings = ProxySettings()
    upstreams: dict[str, UpstreamSettings] = {}
    routes: list[RouteSettings] = []

    @model_validator(mode="after")
    def _routes_name_known_upstreams(self) -> GatewaySettings:
        for route in self.routes:
            if route.upstream not in self.upstreams:
                raise ValueError(f"route {route.id!r} names unknown upstream {route.upstream!r}")
        return self

    @property
    def gateway_data_dir(self) -> Path:
        return Path(self.data_dir) / "gateway"

    @property
    def database_url(self) -> str:
        return _database_url(self, self.database)


class GatewayMigrationSettings(MigrationSettings):
    """The gateway-migrate Job's settings: the database URL and nothing else."""

    @property
    def database_url(self) -> str:
        return _database_url(self, self.database)


def load_gateway_settings() -> GatewaySettings:
    return load_settings("gateway", GatewaySettings)


def load_migration_settings() -> GatewayMigrationSettings:
    return load_settings("gateway", GatewayMigrationSettings)
