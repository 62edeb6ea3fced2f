"""summary.changed (#13): every change of a product's reviews reaches the catalog with a
growing version, even when the broker or the service fails between write and publish."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pika
import pytest
from aiohttp import web
from review_factories import auth, review_body, review_settings, running_app

from zipbob_devkit.faults import TcpProxy
from zipbob_devkit.testing import eventually, serve_app, unique_name
from zipbob_platform import events
from zipbob_platform.cloudevents import CloudEvent, from_amqp, from_http
from zipbob_platform.settings import ConfigError
from zipbob_review.events.summaries import SummaryRelay, intents_collection, start_summary_relay
from zipbob_review.reviews.models import ReviewDocument, new_review_id, utc_now
from zipbob_review.settings import SummarySettings

pytestmark = pytest.mark.integration


class Tap:
    """A queue of our own bound to summary.changed on a per-test exchange."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.exchange = unique_name("zbtest.summary.events")
        self.queue = unique_name("zbtest.summary.tap")

    def _channel(self) -> tuple[Any, Any]:
        connection = pika.BlockingConnection(pika.URLParameters(self.url))
        return connection, connection.channel()

    def declare(self) -> None:
        connection, channel = self._channel()
        channel.exchange_declare(self.exchange, exchange_type="topic", durable=True)
        channel.queue_declare(self.queue, durable=True)
        channel.queue_bind(self.queue, self.exchange, routing_key=events.REVIEW_SUMMARY_CHANGED)
        connection.close()

    def drain(self) -> list[tuple[Any, CloudEvent]]:
        connection, channel = self._channel()
        found = []
        while True:
            method, properties, body = channel.basic_get(self.queue, auto_ack=True)
            if method is None:
                break
            found.append((properties, from_amqp(properties.headers, body, properties.content_type)))
        connection.close()
        return found

    def delete(self) -> None:
        connection, channel = self._channel()
        channel.queue_delete(self.queue)
        channel.exchange_delete(self.exchange)
        connection.close()


def _summary_settings(**overrides: Any) -> dict[str, Any]:
    return {"enabled": True, "poll_interval_seconds": 0.05, "max_backoff_seconds": 0.5, **overrides}


async def test_broker_down_between_a_write_and_its_event(
    mongo_url, redis_url, rabbitmq_url, catalog, database
) -> None:
    tap = Tap(rabbitmq_url)
    await asyncio.to_thread(tap.declare)
    proxy = TcpProxy(5672).start()
    settings = review_settings(
        mongo_url=mongo_url,
        redis_url=redis_url,
        catalog_url=catalog.url,
        database=database,
        events={"rabbitmq": {"exchange": tap.exchange}, "summaries": _summary_settings()},
    )
    settings.rabbitmq.url = type(settings.rabbitmq.url)(
        f"amqp://guest:guest@{proxy.url_host_port}/%2F"
    )
    product = catalog.add_product()
    received: list[CloudEvent] = []

    async def arrived(check: Any) -> bool:
        received.extend(event for _, event in await asyncio.to_thread(tap.drain))
        return any(check(e) for e in received)

    try:
        async with running_app(settings) as client:
            relay = client.app.state.container.summaries
            first = await client.post(
                f"/api/products/{product}/reviews", json=review_body(5), headers=auth()
            )
            assert first.status_code == 201
            await eventually(lambda: arrived(lambda e: e.data["count"] == 1))

            proxy.cut()  # the relay's connection dies; reconnects are refused
            second = await client.post(
                f"/api/products/{product}/reviews", json=review_body(2), headers=auth()
            )
            assert second.status_code == 201  # writes never wait for the broker
            review_id = second.json()["id"]
            await eventually(lambda: _true(relay.consecutive_failures > 0))
            assert not await arrived(lambda e: e.data["count"] == 2)

            proxy.restore()
            await eventually(lambda: arrived(lambda e: e.data["count"] == 2), within=30)
            edited = await client.patch(
                f"/api/reviews/{review_id}", json={"rating": 3}, headers=_author(second)
            )
            assert edited.status_code == 200, edited.text
            await eventually(lambda: arrived(lambda e: e.data["histogram"]["3"] == 1))
            version = await client.app.state.container.deps.repository.version(product)
    finally:
        proxy.stop()
        await asyncio.to_thread(tap.delete)
    versions = [e.data["version"] for e in received]
    assert versions == sorted(versions) and len(set(versions)) == len(versions)
    last = received[-1]
    assert last.data == {
        "product_id": product,
        "count": 2,
        "average": 4.0,
        "histogram": {"1": 0, "2": 0, "3": 1, "4": 0, "5": 1},
        "version": version,
    }
    assert last.type == events.REVIEW_SUMMARY_CHANGED
    assert last.source == events.REVIEW_SOURCE
    assert last.traceparent and last.traceparent.startswith("00-")  # the edit's trace


def _author(response: Any) -> dict[str, str]:
    return auth("customer", response.json()["author_id"])


async def _true(value: bool) -> bool:
    return value


class Recorder:
    state = "idle"

    def __init__(self) -> None:
        self.events: list[CloudEvent] = []

    async def publish_batch(self, batch: Any) -> tuple[int, Exception | None]:
        self.events.extend(batch)
        return len(batch), None

    async def close(self) -> None:
        pass


async def test_a_write_interrupted_before_its_bookkeeping_still_gets_its_event(
    mongo_url, redis_url, catalog, database
) -> None:
    """The service dies after the review insert, before the version bump: the intent it
    left behind makes the relay bump and publish once the intent is stale."""
    settings = review_settings(
        mongo_url=mongo_url, redis_url=redis_url, catalog_url=catalog.url, database=database
    )
    product = catalog.add_product()
    async with running_app(settings) as client:
        repository = client.app.state.container.deps.repository
        intents = intents_collection(repository.versions.database)
        relay = SummaryRelay(
            repository=repository,
            intents=intents,
            publisher=Recorder(),
            settings=SummarySettings(enabled=True, stale_write_seconds=30),
        )
        await relay.prepare()
        before = await repository.version(product)
        await intents.insert_one({"_id": unique_name("i"), "product_id": product, "at": utc_now()})
        now = utc_now()
        await repository.insert(
            ReviewDocument(
                _id=new_review_id(),
                product_id=product,
                author_id=unique_name("author"),
                rating=4,
                title="Crashed",
                body="Written, then the process died.",
                created_at=now,
                updated_at=now,
            )
        )
        # A fresh intent is a write still in flight: left alone.
        assert await relay.sweep_once() == 0
        assert await relay.sweep_once(now=now + timedelta(seconds=31)) == 1
        await relay.drain()
        await relay.drain()  # nothing twice
    [event] = relay.publisher.events
    assert event.data["version"] == before + 1
    assert event.data["count"] == 1 and event.data["histogram"]["4"] == 1


async def test_every_change_is_a_newer_version_over_the_local_http_fan_out(
    mongo_url, redis_url, catalog, database
) -> None:
    """The local profile's transport: POSTed to the catalog's /internal/events."""
    seen: list[CloudEvent] = []

    async def sink(request: web.Request) -> web.Response:
        seen.append(from_http(dict(request.headers), await request.read()))
        return web.json_response({"outcome": "applied"})

    app = web.Application()
    app.router.add_post("/internal/events", sink)
    runner, port = await serve_app(app)
    subscriptions = [
        {
            "url": f"http://127.0.0.1:{port}/internal/events",
            "types": [events.REVIEW_SUMMARY_CHANGED],
        }
    ]
    settings = review_settings(
        mongo_url=mongo_url,
        redis_url=redis_url,
        catalog_url=catalog.url,
        database=database,
        events={"summaries": _summary_settings(transport="http", http_subscriptions=subscriptions)},
    )
    product = catalog.add_product()
    try:
        async with running_app(settings) as client:
            created = await client.post(
                f"/api/products/{product}/reviews", json=review_body(4), headers=auth()
            )
            assert created.status_code == 201
            await eventually(lambda: _true(any(e.data["count"] == 1 for e in seen)))
            gone = await client.delete(
                f"/api/reviews/{created.json()['id']}", headers=_author(created)
            )
            assert gone.status_code == 204
            await eventually(lambda: _true(any(e.data["count"] == 0 for e in seen)))
    finally:
        await runner.cleanup()
    versions = [e.data["version"] for e in seen]
    assert versions == sorted(set(versions))
    assert seen[-1].data == {
        "product_id": product,
        "count": 0,
        "average": None,
        "histogram": {"1": 0, "2": 0, "3": 0, "4": 0, "5": 0},
        "version": versions[-1],
    }


def test_the_http_transport_without_a_sink_refuses_to_start(mongo_url, redis_url, database):
    """Kubernetes without the SinkBinding: K_SINK is empty, and the service says so."""
    settings = review_settings(
        mongo_url=mongo_url,
        redis_url=redis_url,
        catalog_url="http://127.0.0.1:1",
        database=database,
        events={"summaries": _summary_settings(transport="http", http_subscriptions=[{"url": ""}])},
    )
    with pytest.raises(ConfigError, match="K_SINK"):
        start_summary_relay(settings, database=None, deps=None)  # type: ignore[arg-type]
