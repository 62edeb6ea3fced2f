"""Secrets follow features: each service, loaded with the shipped prod configuration,
requires exactly the secrets that docs/deployment.md lists for its Secret and that its
Kubernetes workload mounts; the migrate Jobs need the database URL alone."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from zipbob_catalog.settings import CatalogSettings
from zipbob_gateway.settings import GatewayMigrationSettings, GatewaySettings
from zipbob_platform.settings import (
    ConfigError,
    MigrationSettings,
    ServiceSettings,
    describe_secrets,
    load_settings,
    required_secrets,
)
from zipbob_resizer.settings import ResizerSettings
from zipbob_review.settings import ReviewSettings
from zipbob_web.settings import WebSettings

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG = REPO_ROOT / "config"
MODELS: dict[str, type[ServiceSettings]] = {
    "gateway": GatewaySettings,
    "catalog": CatalogSettings,
    "review": ReviewSettings,
    "resizer": ResizerSettings,
    "web": WebSettings,
}
# Realistic values for every secret any model has (a JWT key must really parse).
SECRET_VALUES = {
    "ZIPBOB_DATABASE__URL": "mysql+asyncmy://svc:pw@mariadb:3306/svc",
    "ZIPBOB_REDIS__URL": "redis://:pw@redis:6379/0",
    "ZIPBOB_RABBITMQ__URL": "amqp://zipbob:pw@rabbitmq:5672/%2F",
    "ZIPBOB_MONGO__URL": "mongodb://zipbob:pw@mongodb:27017/?authSource=admin",
    "ZIPBOB_S3__ACCESS_KEY_ID": "AKIAEXAMPLE",
    "ZIPBOB_S3__SECRET_ACCESS_KEY": "wJalrXUtnFEMIexample",
    "ZIPBOB_JWT__PRIVATE_KEYS": '[{"kid": "k1", "pem": "not parsed by the settings"}]',
    "ZIPBOB_WEB__SECRET_KEY": "a-long-random-csrf-signing-key",
    "ZIPBOB_EDGE__PROXY_TOKEN": "a-long-random-proxy-token",
    "ZIPBOB_WEB__GATEWAY_PROXY_TOKEN": "a-long-random-proxy-token",
    "ZIPBOB_EVENT_AUTH__SIGNING__KEY": "a-long-random-event-signing-key",
}


def secret_key(path: str) -> str:
    """The Kubernetes Secret key of a setting: database.url -> database-url."""
    return path.replace(".", "-").replace("_", "-")


def docs_table() -> dict[str, set[str]]:
    text = (REPO_ROOT / "docs" / "deployment.md").read_text()
    rows = re.findall(r"^\| (\w+)-secrets \| ([^|]+) \|", text, re.MULTILINE)
    return {service: {k.strip() for k in keys.split(",")} for service, keys in rows}


def mounted_secret_keys(service: str) -> set[str]:
    keys = set()
    for path in (REPO_ROOT / "k8s" / "base" / service).glob("*.yaml"):
        text = path.read_text()
        for match in re.finditer(r"secretKeyRef:\s*\n\s*name: (\S+)\s*\n\s*key: (\S+)", text):
            if match.group(1) == f"{service}-secrets":
                keys.add(match.group(2))
    return keys


def prod(service: str, model: type[ServiceSettings], **env: str) -> ServiceSettings:
    return load_settings(
        service,
        model,
        profile="prod",
        env={"ZIPBOB_CONFIG_DIR": str(CONFIG), **SECRET_VALUES, **env},
    )


@pytest.mark.parametrize("service", sorted(MODELS))
def test_the_docs_table_lists_what_the_prod_config_requires(service: str) -> None:
    settings = prod(service, MODELS[service])
    required = {secret_key(path) for path in required_secrets(settings)}
    assert docs_table()[service] == required, describe_secrets(settings)


@pytest.mark.parametrize("service", sorted(MODELS))
def test_the_cluster_mounts_every_required_secret(service: str) -> None:
    settings = prod(service, MODELS[service])
    required = {secret_key(path) for path in required_secrets(settings)}
    assert required <= mounted_secret_keys(service)


@pytest.mark.parametrize("service", sorted(MODELS))
def test_each_required_secret_is_refused_when_missing(service: str) -> None:
    settings = prod(service, MODELS[service])
    for path in required_secrets(settings):
        env_name = "ZIPBOB_" + path.upper().replace(".", "__")
        with pytest.raises(ConfigError, match=re.escape(path)):
            prod(service, MODELS[service], **{env_name: ""})


def test_features_that_are_off_need_no_secret() -> None:
    review = prod("review", ReviewSettings, ZIPBOB_RABBITMQ__URL="")
    assert "rabbitmq.url" not in required_secrets(review)
    assert "rabbitmq.url (review.events.rabbitmq.enabled is off)" in describe_secrets(review)
    resizer = prod("resizer", ResizerSettings, ZIPBOB_RABBITMQ__URL="")
    assert resizer.results.delivery == "reply"
    assert "rabbitmq.url" not in required_secrets(resizer)
    with pytest.raises(ConfigError, match=r"rabbitmq\.url"):
        prod(
            "resizer", ResizerSettings, ZIPBOB_RABBITMQ__URL="", ZIPBOB_RESULTS__DELIVERY="rabbitmq"
        )
    with pytest.raises(ConfigError, match=r"rabbitmq\.url"):  # the dispatcher always needs it
        load_settings(
            "resizer",
            ResizerSettings,
            profile="prod",
            env={"ZIPBOB_CONFIG_DIR": str(CONFIG), **SECRET_VALUES, "ZIPBOB_RABBITMQ__URL": ""},
            require=("rabbitmq",),
        )
    catalog = prod(
        "catalog",
        CatalogSettings,
        ZIPBOB_RABBITMQ__URL="",
        ZIPBOB_OUTBOX__TRANSPORT="http",
        ZIPBOB_RESULTS__CONSUME_RABBITMQ="false",
    )
    assert "rabbitmq.url" not in required_secrets(catalog)


@pytest.mark.parametrize(
    ("service", "model"), [("catalog", MigrationSettings), ("gateway", GatewayMigrationSettings)]
)
def test_the_migrate_jobs_run_with_the_database_url_alone(
    service: str, model: type[MigrationSettings]
) -> None:
    """What the catalog-migrate and gateway-migrate Jobs get: profile, config, one URL."""
    job = yaml.safe_load(
        (REPO_ROOT / "k8s/base/migrations" / f"{service}-migrate.yaml").read_text()
    )
    env = {e["name"] for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env - {"ZIPBOB_PROFILE", "ZIPBOB_CONFIG_DIR"} == {"ZIPBOB_DATABASE__URL"}
    url = SECRET_VALUES["ZIPBOB_DATABASE__URL"]
    settings = load_settings(
        service,
        model,
        profile="prod",
        env={"ZIPBOB_CONFIG_DIR": str(CONFIG), "ZIPBOB_DATABASE__URL": url},
    )
    assert required_secrets(settings) == ["database.url"]
    assert settings.database.url.get_secret_value() == url
    with pytest.raises(ConfigError, match=r"database\.url"):
        load_settings(service, model, profile="prod", env={"ZIPBOB_CONFIG_DIR": str(CONFIG)})
