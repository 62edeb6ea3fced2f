"""The web console's configuration (config/web*.yaml, ZIPBOB_WEB__* variables)."""

from __future__ import annotations

import secrets
from pathlib import Path

from pydantic import Field, SecretStr, field_validator

from zipbob_platform.settings import Section, ServiceSettings

MIB = 1024 * 1024
SECRET_FILE = "secret-key"  # noqa: S105 - a file name


class SessionSettings(Section):
    # Secure cookies (and the __Host- name prefix) everywhere but the local profile,
    # where `make run` serves plain http://127.0.0.1. None: decided by the profile.
    secure_cookies: bool | None = None
    # How long the refresh cookie lives; match the gateway's jwt.refresh_ttl_seconds.
    refresh_max_age_seconds: int = Field(2_592_000, ge=60)
    # Refresh a little before the access token expires, so no API call races its expiry.
    refresh_margin_seconds: int = Field(20, ge=0, le=300)


class WebSection(Section):
    # Everything goes through the public API of the gateway: no database, no internal URL.
    gateway_url: str = "http://127.0.0.1:8080"
    request_timeout_seconds: float = Field(30.0, gt=0, le=300)
    # Origins the browser may load photos from (variant URLs are absolute URLs of the
    # object store): they go into the Content-Security-Policy's img-src. Blanks are dropped.
    image_origins: list[str] = []
    # Signs the CSRF tokens. Required in prod (ZIPBOB_WEB__SECRET_KEY: replicas must share
    # it); on a developer's machine (local, test, dev) an empty value means one generated
    # once and kept under data_dir/web.
    secret_key: SecretStr = SecretStr("")
    # Sent in X-ZipBob-Proxy-Token beside each browser's address, so the gateway keeps its
    # per-address limits per browser, not one for the whole console. The gateway's
    # edge.proxy_token, the same value (ZIPBOB_WEB__GATEWAY_PROXY_TOKEN; the launcher makes
    # one per run). Empty: the gateway sees every console user as the console's address.
    gateway_proxy_token: SecretStr = SecretStr("")
    max_upload_bytes: int = Field(20 * MIB, ge=1)
    page_size: int = Field(12, ge=1, le=100)
    poll_interval_ms: int = Field(1000, ge=200, le=60_000)
    session: SessionSettings = SessionSettings()

    @field_validator("gateway_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")

    @field_validator("image_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        origins = []
        for origin in value:
            origin = origin.strip().rstrip("/")
            if not origin:
                continue
            if not origin.startswith(("http://", "https://")) or origin.count("/") > 2:
                raise ValueError(f"{origin!r} is not an origin such as https://images.example")
            origins.append(origin)
        return origins


class WebSettings(ServiceSettings):
    web: WebSection = WebSection()

    def unused_sections(self) -> dict[str, str]:
        unused = dict(super().unused_sections())
        if self.profile == "dev" and not self.web.secret_key.get_secret_value():
            unused["web.secret_key"] = "the dev profile generates one under data_dir/web"
        return unused

    @property
    def secure_cookies(self) -> bool:
        configured = self.web.session.secure_cookies
        return self.profile != "local" if configured is None else configured

    def signing_key(self) -> bytes:
        """The configured secret, or (local, test, dev: prod refuses to start without one)
        one generated once and kept under data_dir/web."""
        configured = self.web.secret_key.get_secret_value()
        if configured:
            return configured.encode()
        path = Path(self.data_dir) / "web" / SECRET_FILE
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(secrets.token_urlsafe(32))
        return path.read_text().strip().encode()
