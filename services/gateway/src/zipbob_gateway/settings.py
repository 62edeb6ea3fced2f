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
    max_failures: int = Field(5, ge=1)  # per IP + email, within window_seconds
    window_seconds: int = Field(60, ge=1)
    # Failures per IP over every email (password spraying from one address).
    ip_max_failures: int = Field(30, ge=1)
    ip_window_seconds: int = Field(600, ge=1)
    # Failures per email over every IP. Past this ceiling only addresses that logged in to
    # the account before (remembered known_ip_days) may still try: a botnet guessing one
    # account cannot lock its owner out, and cannot keep guessing either.
    email_max_failures: int = Field(20, ge=1)
    email_window_seconds: int = Field(900, ge=1)
    known_ips_per_email: int = Field(10, ge=1, le=100)
    known_ip_days: int = Field(30, ge=1)


class ClientLimit(Section):
    rate_per_second: float = Field(100.0, gt=0)
    burst: int = Field(200, ge=1)


class ClientLimitSettings(ClientLimit):
    enabled: bool = True
    # Tokens taken from Redis per round trip, as a fraction of one second's rate (local lease).
    lease_seconds: float = Field(0.1, gt=0, le=1.0)
    # Per-client overrides: "user:<id>" or "ip:<address>" -> limit (e.g. a load-test user).
    overrides: dict[str, ClientLimit] = {}


class AuthClientLimitSettings(ClientLimitSettings):
    """Every /api/auth/* request, per client address: a token bucket (as for clients) and
    a cap on requests in flight."""

    rate_per_second: float = Field(5.0, gt=0)
    burst: int = Field(30, ge=1)
    concurrency: int = Field(8, ge=1)


class RateLimitSettings(Section):
    login: LoginLimitSettings = LoginLimitSettings()
    clients: ClientLimitSettings = ClientLimitSettings()
    auth: AuthClientLimitSettings = AuthClientLimitSettings()


class BreakerSettings(Section):
    failure_threshold: int = Field(5, ge=1)
    open_seconds: float = Field(10.0, gt=0)


class UpstreamSettings(Section):
    url: str
    pool_size: int = Field(100, ge=1)
    connect_timeout_seconds: float = Field(2.0, gt=0)
    retries: int = Field(2, ge=0, le=5)
    retry_backoff_seconds: float = Field(0.05, ge=0)
    # Longest wait for a pooled connection when all pool_size are busy -> 503 + Retry-After.
    pool_wait_seconds: float = Field(1.0, gt=0)
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
    # Methods whose requests may carry a body; a body on any other is refused (400).
    body_methods: list[str] = ["POST", "PUT", "PATCH", "OPTIONS"]

    @field_validator("methods", "anonymous_methods", "body_methods")
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


class PasswordHashingSettings(Section):
    """argon2id parameters and how many hashes may run at once.

    Concurrent hashes = min(CPU quota of the container, memory_budget_mib / memory_mib);
    requests beyond that wait at most ``max_wait_seconds`` (at most ``max_waiting`` of them),
    then get 503 + Retry-After."""

    time_cost: int = Field(3, ge=1, le=10)
    memory_kib: int = Field(65536, ge=8192, le=1048576)
    parallelism: int = Field(4, ge=1, le=16)
    memory_budget_mib: int = Field(160, ge=8)
    max_concurrent: int = Field(0, ge=0)  # 0: from the CPU quota and memory budget
    max_waiting: int = Field(32, ge=0)
    max_wait_seconds: float = Field(3.0, gt=0)


class EdgeSettings(Section):
    """What a client may send before the gateway refuses it (SPEC 3, issue 12)."""

    max_header_bytes: int = Field(32 * 1024, ge=1024)  # request line + fields -> 431
    max_headers: int = Field(100, ge=8)  # -> 431
    head_timeout_seconds: float = Field(10.0, gt=0)  # -> 408
    body_idle_timeout_seconds: float = Field(10.0, gt=0)  # no body bytes for this long -> 408
    control_max_body_bytes: int = Field(64 * 1024, ge=1)  # /api/auth/* and the rest -> 413
    # Bodies up to this size are read in full before an upstream connection is taken, so a
    # slow client holds no pooled connection; larger ones (uploads) stream.
    buffer_body_bytes: int = Field(64 * 1024, ge=0)
    client_concurrency: int = Field(32, ge=1)  # in-flight requests per client -> 429
    max_connections: int = Field(4096, ge=16)  # per process, then uvicorn answers 503
    # Peers whose X-Forwarded-For is believed (CIDRs): none locally, the ingress in k8s.
    trusted_proxies: list[str] = []
    # A peer presenting this in X-ZipBob-Proxy-Token is trusted as the CIDRs above are,
    # whatever its address: the web console (web.gateway_proxy_token, the same value), so
    # each browser behind it keeps its own limits. Empty: no peer is trusted by credential.
    proxy_token: SecretStr = SecretStr("")
    retry_after_seconds: int = Field(1, ge=1)

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        # ZIPBOB_EDGE__TRUSTED_PROXIES=10.0.0.0/8,192.168.0.0/16 (env values are strings)
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        import ipaddress

        for item in value:
            ipaddress.ip_network(item, strict=False)
        return value


class ManagementSettings(Section):
    """/metrics on its own port (prod): the edge port is public. 0 keeps it on the edge port."""

    port: int = Field(0, ge=0, le=65535)
    host: str = "0.0.0.0"  # a pod port; the NetworkPolicy admits Prometheus


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
    edge: EdgeSettings = EdgeSettings()
    password_hashing: PasswordHashingSettings = PasswordHashingSettings()
    management: ManagementSettings = ManagementSettings()

    @model_validator(mode="after")
    def _routes_name_known_upstreams(self) -> GatewaySettings:
        for route in self.routes:
            if route.upstream not in self.upstreams:
                raise ValueError(f"route {route.id!r} names unknown upstream {route.upstream!r}")
        return self

    def unused_sections(self) -> dict[str, str]:
        unused = dict(super().unused_sections())
        if not any(route.upstream == "web" for route in self.routes):
            reason = "no route forwards to the web console (upstream web)"
            unused["edge.proxy_token"] = reason
        return unused

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
