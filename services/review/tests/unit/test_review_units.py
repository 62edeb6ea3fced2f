"""Pure pieces: sort keys, summary arithmetic, payload rules, settings. (The circuit breaker
is the platform's; its state machine is tested there on a fake clock.)"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from zipbob_platform.settings import ConfigError, load_settings
from zipbob_review.reviews.models import new_review_id, sort_keys
from zipbob_review.reviews.schemas import RatingSummary, ReviewCreate, ReviewUpdate
from zipbob_review.settings import ReviewSettings


def test_sort_keys_order_like_the_listings():
    ids = [new_review_id() for _ in range(3)]  # increasing: created in this order
    assert ids == sorted(ids)
    rows = [(rating, rid) for rid in ids for rating in (2, 5)]
    by_desc = sorted(rows, key=lambda r: sort_keys(r[1], r[0])["k_rating_desc"], reverse=True)
    assert [r[0] for r in by_desc] == [5, 5, 5, 2, 2, 2]
    assert [r[1] for r in by_desc[:3]] == ids[::-1]  # newest first within a rating
    by_asc = sorted(rows, key=lambda r: sort_keys(r[1], r[0])["k_rating_asc"])
    assert [r[0] for r in by_asc] == [2, 2, 2, 5, 5, 5]
    assert [r[1] for r in by_asc[:3]] == ids[::-1]  # newest first here too


def test_summary_from_counts():
    summary = RatingSummary.from_counts({5: 2, 4: 1, 1: 1})
    assert summary.count == 4 and summary.average == 3.75
    assert summary.histogram == {"1": 1, "2": 0, "3": 0, "4": 1, "5": 2}
    empty = RatingSummary.from_counts({})
    assert empty.count == 0 and empty.average is None
    assert RatingSummary.from_counts({1: 1, 2: 2}).average == 1.67


def test_review_payload_rules():
    assert ReviewCreate(rating=5, title="  ok  ").title == "ok"
    for bad in (
        {"rating": True, "title": "x"},
        {"rating": 3, "title": " "},
        {"rating": "3", "title": "x"},
    ):
        with pytest.raises(ValidationError):
            ReviewCreate.model_validate(bad)
    assert ReviewUpdate(body="new").changes() == {"body": "new"}
    for bad in ({}, {"rating": None}, {"title": ""}, {"rating": 7}):
        with pytest.raises(ValidationError):
            ReviewUpdate.model_validate(bad)


def test_config_files_load_and_prod_needs_secrets():
    settings = load_settings("review", ReviewSettings, profile="local", env={})
    assert settings.server.port == 8082
    assert settings.catalog.url == "http://127.0.0.1:8081"
    moved = load_settings(
        "review", ReviewSettings, profile="local", env={"ZIPBOB_CATALOG_PORT": "9001"}
    )
    assert moved.catalog.url == "http://127.0.0.1:9001"
    with pytest.raises(ConfigError) as refused:
        load_settings("review", ReviewSettings, profile="prod", env={})
    assert "ZIPBOB_MONGO__URL" in str(refused.value)
    # What the Kubernetes Deployment gives it: no RabbitMQ URL, events over the Trigger,
    # signed (prod's event_auth mode) with the key from the event-auth Secret.
    cluster = {"ZIPBOB_MONGO__URL": "mongodb://mongo:27017", "ZIPBOB_REDIS__URL": "redis://redis"}
    with pytest.raises(ConfigError, match=r"event_auth\.signing\.key"):
        load_settings("review", ReviewSettings, profile="prod", env=cluster)
    cluster["ZIPBOB_EVENT_AUTH__SIGNING__KEY"] = "k8s-secret-" + "x" * 32
    prod = load_settings("review", ReviewSettings, profile="prod", env=cluster)
    assert prod.review.events.http_enabled and not prod.review.events.rabbitmq.enabled
    # docker-compose turns the consumer on: then, and only then, the URL is required.
    compose = {**cluster, "ZIPBOB_REVIEW__EVENTS__RABBITMQ__ENABLED": "true"}
    with pytest.raises(ConfigError, match=r"rabbitmq\.url"):
        load_settings("review", ReviewSettings, profile="prod", env=compose)
    compose["ZIPBOB_RABBITMQ__URL"] = "amqp://zipbob:pw@rabbitmq:5672/%2F"
    assert load_settings("review", ReviewSettings, profile="prod", env=compose).rabbitmq.url
