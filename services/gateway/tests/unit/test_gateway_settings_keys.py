"""Configuration: keys only from the environment outside local/test; routes name upstreams."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from zipbob_gateway.keys.keyring import (
    KEY_FILE_NAME,
    SigningKey,
    dump_private_keys,
    load_key_ring,
)
from zipbob_gateway.settings import GatewaySettings
from zipbob_platform.settings import ConfigError, load_settings

CONFIG = Path(__file__).resolve().parents[4] / "config"


@pytest.fixture(autouse=True)
def _config_dir(monkeypatch):
    monkeypatch.setenv("ZIPBOB_CONFIG_DIR", str(CONFIG))


def test_shipped_config_loads_for_every_profile(tmp_path):
    for profile in ("local", "test"):
        settings = load_settings(
            "gateway", GatewaySettings, profile=profile, env={"ZIPBOB_DATA_DIR": str(tmp_path)}
        )
        routes = {r.id for r in settings.routes}
        assert routes == {"products", "reviews-of-product", "reviews", "web"}
        assert settings.rate_limits.login.max_failures == 5
        assert settings.rate_limits.clients.rate_per_second == 100
        assert settings.rate_limits.clients.burst == 200
        assert settings.jwt.access_ttl_seconds == 900
    prod_env = {
        "ZIPBOB_JWT__PRIVATE_KEYS": dump_private_keys([SigningKey.generate()]),
        "ZIPBOB_DATABASE__URL": "postgresql+asyncpg://gw:pw@db/gateway",
        "ZIPBOB_EDGE__PROXY_TOKEN": "the-web-consoles-credential",
    }
    prod = load_settings("gateway", GatewaySettings, profile="prod", env=prod_env)
    assert prod.upstreams["catalog"].url == "http://catalog"
    assert prod.upstreams["catalog"].pool_size == 100  # merged with the base file
    assert len(load_key_ring(prod).keys) == 1


def test_prod_refuses_to_start_without_keys_or_database():
    with pytest.raises(ConfigError, match="private_keys"):
        load_settings("gateway", GatewaySettings, profile="prod", env={})
    keys_only = {"ZIPBOB_JWT__PRIVATE_KEYS": dump_private_keys([SigningKey.generate()])}
    with pytest.raises(ConfigError, match=r"database\.url"):
        load_settings("gateway", GatewaySettings, profile="prod", env=keys_only)


def test_bad_keys_and_unknown_upstreams_are_refused():
    with pytest.raises(ConfigError, match="private_keys"):
        load_key_ring(
            load_settings(
                "gateway",
                GatewaySettings,
                profile="prod",
                env={
                    "ZIPBOB_JWT__PRIVATE_KEYS": '[{"kid": "k", "pem": "nope"}]',
                    "ZIPBOB_DATABASE__URL": "postgresql+asyncpg://gw:pw@db/gateway",
                    "ZIPBOB_EDGE__PROXY_TOKEN": "the-web-consoles-credential",
                },
            )
        )
    with pytest.raises(ValidationError, match="unknown upstream"):
        GatewaySettings.model_validate(
            {"service": "gateway", "routes": [{"id": "x", "paths": ["/x"], "upstream": "nope"}]}
        )


def test_local_key_is_generated_once_and_kept_private(tmp_path):
    env = {"ZIPBOB_DATA_DIR": str(tmp_path)}
    settings = load_settings("gateway", GatewaySettings, profile="local", env=env)
    first = load_key_ring(settings)
    second = load_key_ring(settings)
    assert first.active.kid == second.active.kid
    key_file = tmp_path / "gateway" / KEY_FILE_NAME
    assert key_file.stat().st_mode & 0o077 == 0
    jwk = first.jwks()["keys"][0]
    assert jwk["alg"] == "ES256" and jwk["crv"] == "P-256" and "d" not in jwk
