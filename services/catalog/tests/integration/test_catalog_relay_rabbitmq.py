"""The outbox relay against the real RabbitMQ, through a TCP proxy the test can cut.

Products are registered while the connection is severed; after it is restored every
event arrives exactly once (after de-duplication by CloudEvent id), in order per product.
"""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
import pika
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select

from zipbob_catalog.outbox.models import OutboxEvent
from zipbob_devkit.faults import TcpProxy
from zipbob_platform import events
from zipbob_platform.cloudevents import from_amqp, new_event, to_amqp

pytestmark = pytest.mark.integration

FIELDS = {"name": "Mug", "price": "7.50", "currency": "GBP", "stock": "9", "category": "kitchen"}


def relay_settings(names, rabbit_url: str) -> dict:
    return {
        "outbox": {
            "relay_enabled": True,
            "transport": "rabbitmq",
            "poll_interval_seconds": 0.05,
            "max_backoff_seconds": 0.5,
            "batch_size": 50,
        },
        "rabbitmq": {
            "url": rabbit_url,
            "exchange": names.exchange,
            "dead_letter_exchange": names.dead_letter_exchange,
            "results_queue": names.results_queue,
            "heartbeat_seconds": 5,
        },
    }


async def register_with_photo(client, signer, images, seller: str) -> str:
    response = await client.post(
        "/api/products",
        data=FIELDS,
        files={"image": ("m.png", images.png(32, 32), "image/png")},
        headers=signer.headers(seller),
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def expected_events(runtime, product_ids: set[str]) -> dict[str, list[str]]:
    """Event ids per product in outbox (= creation) order."""
    async with runtime.sessions() as session:
        rows = (
            await session.execute(
                select(OutboxEvent.aggregate_id, OutboxEvent.event_id)
                .where(OutboxEvent.aggregate_id.in_(product_ids))
                .order_by(OutboxEvent.id)
            )
        ).all()
    expected: dict[str, list[str]] = {pid: [] for pid in product_ids}
    for aggregate_id, event_id in rows:
        expected[aggregate_id].append(event_id)
    return expected


async def wait_until_published(runtime, product_ids: set[str], timeout: float = 60.0) -> None:
    async with asyncio.timeout(timeout):
        while True:
            async with runtime.sessions() as session:
                pending = (
                    await session.execute(
                        select(OutboxEvent.id).where(
                            OutboxEvent.aggregate_id.in_(product_ids),
                            OutboxEvent.published_at.is_(None),
                        )
                    )
                ).all()
            if not pending:
                return
            await asyncio.sleep(0.1)


def assert_exactly_once_in_order(messages, expected: dict[str, list[str]]) -> None:
    seen: set[str] = set()
    received: dict[str, list[str]] = {pid: [] for pid in expected}
    for properties, body in messages:
        event = from_amqp(properties.headers, body, properties.content_type)
        if event.id in seen:
            continue  # at-least-once delivery: consumers de-duplicate by id
        seen.add(event.id)
        product_id = event.data["product_id"]
        if product_id in received:
            received[product_id].append(event.id)
    assert received == expected


def failures_total() -> float:
    return REGISTRY.get_sample_value("zipbob_outbox_publish_failures_total") or 0.0


async def test_events_survive_a_cut_connection(
    sql_url, s3_server, signer, images, rabbit_names, catalog_kit
) -> None:

    await asyncio.to_thread(rabbit_names.declare_tap)
    proxy = TcpProxy(5672).start()
    proxied_url = f"amqp://guest:guest@127.0.0.1:{proxy.port}/%2F"
    settings = catalog_kit.settings(
        sql_url, s3_server.env, **relay_settings(rabbit_names, proxied_url)
    )
    app, handle = await catalog_kit.start(settings, signer)
    runtime = app.state.container.runtime
    product_ids: set[str] = set()
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{handle[2]}", timeout=30
        ) as client:
            for _ in range(3):
                product_ids.add(await register_with_photo(client, signer, images, "cut"))
            await wait_until_published(runtime, set(product_ids))
            failures_before = failures_total()
            proxy.cut()  # the relay's live connection dies; reconnects are refused
            during = [await register_with_photo(client, signer, images, "cut") for _ in range(4)]
            product_ids |= set(during)
            extra = await client.post(
                f"/api/products/{during[0]}/images",
                files={"image": ("b.png", images.png(16, 16))},
                headers=signer.headers("cut"),
            )
            assert extra.status_code == 202
            gone = await client.delete(f"/api/products/{during[1]}", headers=signer.headers("cut"))
            assert gone.status_code == 204
            async with asyncio.timeout(30):  # the relay notices the outage and counts it
                while failures_total() <= failures_before:
                    await asyncio.sleep(0.05)
            ready = await client.get("/healthz/ready")
            assert ready.status_code == 200  # a broker outage never makes the catalog unready
            proxy.restore()
            for _ in range(2):
                product_ids.add(await register_with_photo(client, signer, images, "cut"))
            await wait_until_published(runtime, product_ids)
            expected = await expected_events(runtime, product_ids)
    finally:
        await catalog_kit.stop(handle)
        proxy.stop()
    messages = await asyncio.to_thread(rabbit_names.drain_tap)
    assert sum(len(ids) for ids in expected.values()) == 9 + 1 + 1
    assert expected[during[1]][-1] and len(expected[during[0]]) == 2
    assert_exactly_once_in_order(messages, expected)
    properties, body = messages[0]
    assert properties.delivery_mode == 2  # persistent
    assert properties.headers["ce-specversion"] == "1.0"
    assert properties.headers["ce-source"] == "/catalog"
    assert properties.content_type == "application/json"
    assert json.loads(body)["bucket"] == "original-images"
    deleted = [from_amqp(p.headers, b, p.content_type) for p, b in messages]
    deleted = [e for e in deleted if e.type == events.PRODUCT_DELETED]
    assert deleted[0].data["product_id"] == during[1]
    assert len(deleted[0].data["image_ids"]) == 1


async def test_results_are_consumed_from_rabbitmq_once(
    sql_url, s3_server, signer, images, rabbit_names, rabbitmq_url, catalog_kit
) -> None:

    sections = relay_settings(rabbit_names, rabbitmq_url)
    sections["outbox"]["relay_enabled"] = False
    sections["results"] = {"consume_rabbitmq": True}
    settings = catalog_kit.settings(sql_url, s3_server.env, **sections)
    app, handle = await catalog_kit.start(settings, signer)
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{handle[2]}", timeout=30
        ) as client:
            product_id = await register_with_photo(client, signer, images, "amqp")
            image_id = (await client.get(f"/api/products/{product_id}")).json()["images"][0]["id"]
            variant = {
                "bucket": "resized-images",
                "key": f"products/{product_id}/{image_id}/thumbnail.jpg",
                "width": 200,
                "height": 200,
                "bytes": 10,
                "content_type": "image/jpeg",
            }
            event = new_event(
                events.IMAGE_RESIZED,
                "/resizer",
                {
                    "product_id": product_id,
                    "image_id": image_id,
                    "variants": {"thumbnail": variant},
                },
            )
            consumer = app.state.container.workers.consumer
            async with asyncio.timeout(20):
                while consumer.state != "connected":
                    await asyncio.sleep(0.05)

            def publish() -> None:
                connection, channel = rabbit_names.channel()
                headers, body, content_type = to_amqp(event)
                properties = pika.BasicProperties(
                    headers=headers, content_type=content_type, delivery_mode=2
                )
                for _ in range(2):  # a redelivered duplicate
                    channel.basic_publish(rabbit_names.exchange, event.type, body, properties)
                channel.basic_publish(
                    rabbit_names.exchange,
                    events.IMAGE_FAILED,
                    b"not json",
                    pika.BasicProperties(
                        headers={
                            "ce-id": str(uuid.uuid4()),
                            "ce-source": "/resizer",
                            "ce-type": events.IMAGE_FAILED,
                            "ce-specversion": "1.0",
                        },
                        content_type="application/json",
                    ),
                )
                connection.close()

            await asyncio.to_thread(publish)
            async with asyncio.timeout(20):
                while True:
                    image = (await client.get(f"/api/products/{product_id}")).json()["images"][0]
                    if image["status"] == "ready":
                        break
                    await asyncio.sleep(0.05)

            def dead_letters() -> int:
                connection, channel = rabbit_names.channel()
                queue = channel.queue_declare(f"{rabbit_names.results_queue}.dlq", passive=True)
                connection.close()
                return queue.method.message_count

            async with asyncio.timeout(20):
                while await asyncio.to_thread(dead_letters) < 1:
                    await asyncio.sleep(0.1)
    finally:
        await catalog_kit.stop(handle)
    assert image["variants"]["thumbnail"]["width"] == 200
    applied = REGISTRY.get_sample_value(
        "zipbob_events_consumed_total",
        {"type": events.IMAGE_RESIZED, "outcome": "duplicate"},
    )
    assert applied and applied >= 1
