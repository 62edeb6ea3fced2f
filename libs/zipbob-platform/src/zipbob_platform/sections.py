"""Settings sections shared by the services, defined once (config keys and env names alike).

A service's settings model names the sections it uses (``database: SqlSettings``) and may
extend one with keys of its own (the gateway's Redis ``key_prefix``). Every value that can
carry a credential is a ``SecretStr``: it never shows in a repr, a log line or an error.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServerSettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    workers: int = Field(1, ge=1)


class LoggingSettings(Section):
    level: str = Field("INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$")
    access_log: bool = True


class TracingSettings(Section):
    enabled: bool = True
    sample_ratio: float = Field(1.0, ge=0.0, le=1.0)


class AuthSettings(Section):
    """How services verify access tokens issued by the gateway."""

    jwks_url: str = "http://127.0.0.1:8080/.well-known/jwks.json"
    issuer: str = "zipbob-gateway"
    audience: str = "zipbob"
    jwks_cache_seconds: int = Field(300, ge=1)
    leeway_seconds: int = Field(10, ge=0, le=120)


class SqlSettings(Section):
    """An SQLAlchemy async URL (it holds the password in dev/prod, hence a secret)."""

    url: SecretStr = SecretStr("")
    # Local and test profiles migrate at start-up; clusters run the migrate Job instead.
    migrate_on_start: bool = False
    pool_size: int = Field(10, ge=1)
    echo: bool = False


class RedisSettings(Section):
    url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    # Short on purpose: a Redis outage must cost a quick fallback, not a hung request.
    timeout_seconds: float = Field(0.5, gt=0)


class RabbitSettings(Section):
    url: SecretStr = SecretStr("")
    exchange: str = "zipbob.events"
    dead_letter_exchange: str = "zipbob.dlx"
    prefetch: int = Field(32, ge=1)
    heartbeat_seconds: int = Field(30, ge=0)


class S3Settings(Section):
    endpoint_url: str | None = None
    # The address clients use for presigned URLs (signatures cover the host).
    public_endpoint_url: str | None = None
    region: str = "us-east-1"
    access_key_id: SecretStr = SecretStr("")
    secret_access_key: SecretStr = SecretStr("")
    original_bucket: str = "original-images"
    resized_bucket: str = "resized-images"
    timeout_seconds: float = Field(10.0, gt=0)
    presign_expiry_seconds: int = Field(3600, ge=60, le=7 * 24 * 3600)
