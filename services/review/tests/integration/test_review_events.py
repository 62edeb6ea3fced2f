"""product.deleted over HTTP (local profile) and RabbitMQ (dev/prod): reviews go, idempotently."""

from __future__ import annotations

import asyncio

import pika
import pytest
from review_factories import (
    auth,
    review_body,
    review_settings,
    running_app,
)

from zipbob_devkit.testing import unique_name
from zipbob_platform import events
from zipbob_platform.cloudevents import new_event, to_amqp, to_http_binary, to_http_structured

pytestmark = pytest.mark.integration
DELETED = events.PRODUCT_DELETED


async def _seed(client, product: str, authors: int) -> None:
    for i in range(authors):
        response = await client.post(
            f"/api/products/{product}/reviews",
            json=review_body(i % 5 + 1),
            headers=auth("customer", f"seed{i}"),
        )
        assert response.status_code == 201, response.text


async def _counts(client, product: str) -> tuple[int, int]:
    summary = (await client.get(f"/api/products/{product}/reviews/summary")).json()
    listing = (await client.get(f"/api/products/{product}/reviews")).json()
    return summary["count"], listing["total"]


async def test_http_event_removes_reviews_idempotently(mongo_url, redis_url, catalog, database):
    settings = review_settings(
        mongo_url=mongo_url, redis_url=redis_url, catalog_url=catalog.url, database=database
    )
    product, other = catalog.add_product(), catalog.add_product()
    async with running_app(settings) as client:
        await _seed(client, product, 3)
        await _seed(client, other, 2)
        assert await _counts(client, product) == (3, 3)  # cached now
        event = new_event(DELETED, "/catalog", {"product_id": product, "image_ids": []})
        headers, body = to_http_binary(event)
        response = await client.post("/internal/events", headers=headers, content=body)
        assert response.status_code == 200, response.text
        assert response.json()["reviews_deleted"] == 3
        assert await _counts(client, product) == (0, 0)
        assert await _counts(client, other) == (2, 2)
        # the same event again (at-least-once), structured mode this time: a no-op
        headers, body = to_http_structured(event)
        again = await client.post("/internal/events", headers=headers, content=body)
        assert again.json()["outcome"] == "already_deleted"
        # the catalog may still answer 200 from a stale replica: the tombstone wins
        late = await client.post(
            f"/api/products/{product}/reviews", json=review_body(), headers=auth()
        )
        assert late.status_code == 404


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({"content-type": "application/json"}, b"{}"),
        (
            {
                "ce-id": "1",
                "ce-source": "/catalog",
                "ce-type": DELETED,
                "ce-specversion": "1.0",
                "content-type": "application/json",
            },
            b'{"image_ids": []}',
        ),
        ({"content-type": "application/cloudevents+json"}, b"not json"),
    ],
)
async def test_unreadable_events_are_400(mongo_url, redis_url, catalog, database, headers, body):
    settings = review_settings(
        mongo_url=mongo_url, redis_url=redis_url, catalog_url=catalog.url, database=database
    )
    async with running_app(settings) as client:
        response = await client.post("/internal/events", headers=headers, content=body)
        assert response.status_code == 400
        assert response.headers["content-type"].startswith("application/problem+json")


async def test_other_event_types_are_ignored(mongo_url, redis_url, catalog, database):
    settings = review_settings(
        mongo_url=mongo_url, redis_url=redis_url, catalog_url=catalog.url, database=database
    )
    async with running_app(settings) as client:
        event = new_event(events.IMAGE_UPLOADED, "/catalog", {"product_id": "x"})
        headers, body = to_http_binary(event)
        response = await client.post("/internal/events", headers=headers, content=body)
        assert response.json()["outcome"] == "ignored"


@pytest.mark.slow
async def test_rabbitmq_event_removes_reviews(
    mongo_url, redis_url, rabbitmq_url, catalog, database
):
    exchange, queue = unique_name("zbtest.events"), unique_name("zbtest.review-deleted")
    dead_letters = unique_name("zbtest.dlx")
    settings = review_settings(
        mongo_url=mongo_url,
        redis_url=redis_url,
        catalog_url=catalog.url,
        database=database,
        events={"rabbitmq": {"enabled": True, "queue": queue, "reconnect_seconds": 0.5}},
    )
    # One exchange setting: the shared section's, for the consumer as for the publisher.
    settings.rabbitmq = settings.rabbitmq.model_copy(
        update={
            "url": type(settings.rabbitmq.url)(rabbitmq_url),
            "exchange": exchange,
            "dead_letter_exchange": dead_letters,
        }
    )
    product = catalog.add_product()
    try:
        async with running_app(settings) as client:
            consumer = client.app.state.container.consumer
            await asyncio.wait_for(consumer.connected.wait(), 10)
            await _seed(client, product, 4)
            event = new_event(DELETED, "/catalog", {"product_id": product, "image_ids": []})
            await asyncio.to_thread(_publish, rabbitmq_url, exchange, [event, event], b"junk")
            for _ in range(100):
                if await _counts(client, product) == (0, 0):
                    break
                await asyncio.sleep(0.05)
            assert await _counts(client, product) == (0, 0)
            # the unreadable message went to the dead-letter queue, not back to ours
            dead = await asyncio.to_thread(_wait_for_message, rabbitmq_url, f"{queue}.dlq")
            assert dead == b"junk"
            assert (await client.get("/healthz/ready")).json()["checks"]["rabbitmq"] == "ok"
    finally:
        await asyncio.to_thread(_cleanup, rabbitmq_url, exchange, dead_letters, queue)


def _publish(url: str, exchange: str, events: list, junk: bytes) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    channel.confirm_delivery()
    for event in events:
        headers, body, content_type = to_amqp(event)
        channel.basic_publish(
            exchange,
            DELETED,
            body,
            pika.BasicProperties(headers=headers, content_type=content_type, delivery_mode=2),
        )
    channel.basic_publish(exchange, DELETED, junk, pika.BasicProperties(headers={"x": "1"}))
    connection.close()


def _wait_for_message(url: str, queue: str) -> bytes | None:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    try:
        for _ in range(100):
            method, _properties, body = channel.basic_get(queue, auto_ack=True)
            if method is not None:
                return body
            connection.sleep(0.05)
        return None
    finally:
        connection.close()


def _cleanup(url: str, exchange: str, dead_letters: str, queue: str) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    for name in (queue, f"{queue}.dlq"):
        channel.queue_delete(name)
    for name in (exchange, dead_letters):
        channel.exchange_delete(name)
    connection.close()
