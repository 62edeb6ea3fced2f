from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, SecretStr

from zipbob_platform.settings import (
    ConfigError,
    MigrationSettings,
    ServiceSettings,
    describe_secrets,
    load_settings,
    required_secrets,
)


class StoreSection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = "sqlite://"
    password: SecretStr = SecretStr("")
    pool: int = 5


class DemoSettings(ServiceSettings):
    store: StoreSection = StoreSection()


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    (tmp_path / "application.yaml").write_text(
        "server:\n  port: 9000\nauth:\n  issuer: shared-issuer\n"
    )
    (tmp_path / "demo.yaml").write_text(
        "server:\n  port: 9001\nstore:\n  url: ${DEMO_DB_HOST:localhost}/db\n  pool: 3\n"
    )
    (tmp_path / "demo-dev.yaml").write_text("store:\n  pool: 7\n")
    return tmp_path


def load(config_dir: Path, **env: str) -> DemoSettings:
    return load_settings("demo", DemoSettings, env={"ZIPBOB_CONFIG_DIR": str(config_dir), **env})


def test_service_file_overrides_shared_file_and_profile_file_overrides_both(
    config_dir: Path,
) -> None:
    settings = load(config_dir, ZIPBOB_PROFILE="dev", ZIPBOB_STORE__PASSWORD="s3cr3t-value")
    assert settings.server.port == 9001
    assert settings.auth.issuer == "shared-issuer"
    assert settings.store.pool == 7
    assert settings.profile == "dev"


def test_environment_overrides_files_and_placeholders_resolve(config_dir: Path) -> None:
    settings = load(
        config_dir, ZIPBOB_DEMO_PORT="9100", ZIPBOB_STORE__POOL="11", DEMO_DB_HOST="db.internal"
    )
    assert settings.server.port == 9100
    assert settings.store.pool == 11
    assert settings.store.url == "db.internal/db"


def test_placeholder_default_used_when_variable_missing(config_dir: Path) -> None:
    assert load(config_dir).store.url == "localhost/db"


def test_variables_for_keys_the_service_lacks_are_ignored(config_dir: Path) -> None:
    settings = load(
        config_dir,
        ZIPBOB_S3__ENDPOINT_URL="http://s3",
        ZIPBOB_STORE__EXCHANGE="another service's key",
        ZIPBOB_STORE__POOL__DEPTH="a scalar has no sub-keys",
        ZIPBOB_STORE__POOL="4",
    )
    assert not hasattr(settings, "s3")
    assert settings.store.pool == 4


def test_invalid_value_is_refused_with_the_key_named(config_dir: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(config_dir, ZIPBOB_STORE__POOL="many")
    assert "store.pool" in str(caught.value.code)


def test_unknown_key_in_a_file_is_refused(config_dir: Path) -> None:
    (config_dir / "demo-test.yaml").write_text("store:\n  poool: 3\n")
    with pytest.raises(ConfigError) as caught:
        load(config_dir, ZIPBOB_PROFILE="test")
    assert "store.poool" in str(caught.value.code)


@pytest.mark.parametrize("profile", ["dev", "prod"])
def test_missing_secret_refuses_start_outside_local_and_test(
    config_dir: Path, profile: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load(config_dir, ZIPBOB_PROFILE=profile)
    assert "ZIPBOB_STORE__PASSWORD" in str(caught.value.code)


@pytest.mark.parametrize("placeholder", ["changeme", "password", "minioadmin"])
def test_placeholder_secret_refused_in_prod(config_dir: Path, placeholder: str) -> None:
    with pytest.raises(ConfigError):
        load(config_dir, ZIPBOB_PROFILE="prod", ZIPBOB_STORE__PASSWORD=placeholder)


def test_missing_secret_is_fine_locally(config_dir: Path) -> None:
    assert load(config_dir, ZIPBOB_PROFILE="local").store.password.get_secret_value() == ""


def test_unknown_profile_is_refused(config_dir: Path) -> None:
    with pytest.raises(ConfigError):
        load(config_dir, ZIPBOB_PROFILE="staging")


def test_broken_yaml_is_refused_with_the_file_named(config_dir: Path) -> None:
    (config_dir / "demo.yaml").write_text("server: [unclosed\n")
    with pytest.raises(ConfigError) as caught:
        load(config_dir)
    assert "demo.yaml" in str(caught.value.code)


def test_repository_config_loads_for_every_profile() -> None:
    repo_config = Path(__file__).resolve().parents[4] / "config"
    for profile in ("local", "test", "dev"):
        settings = load_settings(
            "anything",
            ServiceSettings,
            env={"ZIPBOB_CONFIG_DIR": str(repo_config), "ZIPBOB_PROFILE": profile},
        )
        assert settings.auth.audience == "zipbob"


class FeatureSettings(DemoSettings):
    broker: StoreSection = StoreSection()

    def unused_sections(self) -> dict[str, str]:
        return {} if self.store.pool > 5 else {"broker": "store.pool is small"}


def test_a_service_scoped_variable_wins_and_reaches_that_service_only(config_dir: Path) -> None:
    env = {
        "ZIPBOB_STORE__POOL": "4",
        "ZIPBOB_DEMO_STORE__POOL": "9",
        "ZIPBOB_OTHER_STORE__POOL": "13",
    }
    assert load(config_dir, **env).store.pool == 9
    other = load_settings("other", DemoSettings, env={"ZIPBOB_CONFIG_DIR": str(config_dir), **env})
    assert other.store.pool == 13
    third = load_settings("third", DemoSettings, env={"ZIPBOB_CONFIG_DIR": str(config_dir), **env})
    assert third.store.pool == 4  # unscoped: a container that serves one service


def test_a_section_named_like_a_service_is_not_mistaken_for_a_scope(config_dir: Path) -> None:
    class WithDemoSection(ServiceSettings):
        demo: StoreSection = StoreSection()

    settings = load_settings(
        "other",
        WithDemoSection,
        env={"ZIPBOB_CONFIG_DIR": str(config_dir), "ZIPBOB_DEMO__POOL": "8"},
    )
    assert settings.demo.pool == 8


def test_secrets_of_sections_turned_off_are_not_required(config_dir: Path) -> None:
    env = {"ZIPBOB_CONFIG_DIR": str(config_dir), "ZIPBOB_PROFILE": "prod"}
    env["ZIPBOB_STORE__PASSWORD"] = "s3cr3t-value"
    small = load_settings("demo", FeatureSettings, env={**env, "ZIPBOB_STORE__POOL": "2"})
    assert required_secrets(small) == ["store.password"]
    assert "broker.password (store.pool is small)" in describe_secrets(small)
    with pytest.raises(ConfigError) as caught:
        load_settings("demo", FeatureSettings, env={**env, "ZIPBOB_STORE__POOL": "6"})
    assert "ZIPBOB_BROKER__PASSWORD or ZIPBOB_DEMO_BROKER__PASSWORD" in str(caught.value.code)
    with pytest.raises(ConfigError, match=r"broker\.password"):
        load_settings(
            "demo", FeatureSettings, env={**env, "ZIPBOB_STORE__POOL": "2"}, require=("broker",)
        )


def test_migration_settings_ignore_the_other_sections(config_dir: Path) -> None:
    (config_dir / "demo-prod.yaml").write_text("store:\n  pool: 2\ndatabase:\n  pool_size: 3\n")
    env = {"ZIPBOB_CONFIG_DIR": str(config_dir), "ZIPBOB_PROFILE": "prod"}
    with pytest.raises(ConfigError, match=r"database\.url"):
        load_settings("demo", MigrationSettings, env=env)
    url = "postgresql+asyncpg://u:pw@db/demo"
    settings = load_settings("demo", MigrationSettings, env={**env, "ZIPBOB_DATABASE__URL": url})
    assert settings.database.url.get_secret_value() == url
    assert settings.database.pool_size == 3
    assert required_secrets(settings) == ["database.url"]
