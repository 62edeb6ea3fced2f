"""Real RabbitMQ (127.0.0.1:5672) and a moto S3 server; every name unique to this run."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import boto3
import httpx
import pika
import pytest

from zipbob_devkit.testing import rabbitmq_url, s3_server, unique_name  # noqa: F401
from zipbob_devkit.testing import upload_original as upload  # noqa: F401 (the suite's name)
from zipbob_platform import events
from zipbob_platform.cloudevents import (
    CloudEvent,
    from_amqp,
    new_event,
    to_http_binary,
    to_http_structured,
)
from zipbob_resizer.main import create_app
from zipbob_resizer.settings import ResizerSettings

UPLOADED = events.IMAGE_UPLOADED
DELETED = events.PRODUCT_DELETED


@pytest.fixture(scope="module")
def names() -> dict[str, str]:
    return {
        "exchange": unique_name("rz-events"),
        "dlx": unique_name("rz-dlx"),
        "queue": unique_name("rz-uploaded"),
        "deleted_queue": unique_name("rz-deleted"),
        "results": unique_name("rz-results"),
    }


# Event receivers refuse unauthenticated senders (zipbob_platform.event_auth); the test
# clients present this shared secret.
TEST_EVENT_SECRET = "test-event-secret"
EVENT_HEADERS = {"X-ZipBob-Event-Token": TEST_EVENT_SECRET}


@pytest.fixture(scope="module")
def settings(s3_server: Any, rabbitmq_url: str, names: dict[str, str]) -> ResizerSettings:  # noqa: F811
    return ResizerSettings.model_validate(
        {
            "service": "resizer",
            "profile": "test",
            "logging": {"level": "WARNING", "access_log": False},
            "s3": {
                "endpoint_url": s3_server.url,
                "access_key_id": s3_server.env["ZIPBOB_S3__ACCESS_KEY_ID"],
                "secret_access_key": s3_server.env["ZIPBOB_S3__SECRET_ACCESS_KEY"],
            },
            "results": {"delivery": "rabbitmq"},
            "rabbitmq": {
                "url": rabbitmq_url,
                "exchange": names["exchange"],
                "dead_letter_exchange": names["dlx"],
            },
            "event_auth": {"shared_secret": TEST_EVENT_SECRET},
        }
    )


@pytest.fixture(scope="module")
def s3(settings: ResizerSettings) -> Any:
    s = settings.s3
    return boto3.client(
        "s3",
        endpoint_url=s.endpoint_url,
        region_name=s.region,
        aws_access_key_id=s.access_key_id.get_secret_value(),
        aws_secret_access_key=s.secret_access_key.get_secret_value(),
    )


class ResultQueue:
    """A private queue bound to the run's exchange, collecting the resizer's result events."""

    def __init__(self, url: str, exchange: str, queue: str) -> None:
        self.connection = pika.BlockingConnection(pika.URLParameters(url))
        self.channel = self.connection.channel()
        self.channel.exchange_declare(exchange, "topic", durable=True)
        self.channel.queue_declare(queue, exclusive=True, auto_delete=True)
        self.channel.queue_bind(queue, exchange, routing_key="com.zipbob.resizer.#")
        self.queue = queue

    def drain(self, *, expect: int, timeout: float = 10.0) -> list[CloudEvent]:
        events: list[CloudEvent] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(events) < expect:
            method, props, body = self.channel.basic_get(self.queue, auto_ack=True)
            if method is None:
                self.connection.sleep(0.05)
                continue
            events.append(from_amqp(props.headers, body, props.content_type))
        return events

    def close(self) -> None:
        self.connection.close()


@pytest.fixture
def results(rabbitmq_url: str, names: dict[str, str]) -> Iterator[ResultQueue]:  # noqa: F811
    queue = ResultQueue(rabbitmq_url, names["exchange"], unique_name("rz-results"))
    yield queue
    queue.close()


@contextlib.asynccontextmanager
async def resizer_client(settings: ResizerSettings) -> AsyncIterator[httpx.AsyncClient]:
    """A resizer on ``settings`` in this process (its lifespan run), and a client of it that
    presents the test event secret."""
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://resizer", headers=EVENT_HEADERS
        ) as http,
    ):
        yield http


@pytest.fixture
async def client(settings: ResizerSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with resizer_client(settings) as http:
        yield http


async def post(
    client: httpx.AsyncClient, event: CloudEvent, *, structured: bool = False
) -> httpx.Response:
    headers, body = (to_http_structured if structured else to_http_binary)(event)
    return await client.post("/", content=body, headers=headers)


def uploaded_event(data: dict[str, Any]) -> CloudEvent:
    event = new_event(UPLOADED, "/catalog", data, subject=data.get("image_id"))
    event.extensions["traceparent"] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    return event


def dumps(event: CloudEvent) -> str:
    return json.dumps({"id": event.id, "type": event.type, "data": event.data})


def deleted_event(product_id: str, image_ids: list[str]) -> CloudEvent:
    return new_event(DELETED, "/catalog", {"product_id": product_id, "image_ids": image_ids})


def object_keys(s3: Any, bucket: str, product_id: str) -> list[str]:
    listing = s3.list_objects_v2(Bucket=bucket, Prefix=f"products/{product_id}/")
    return sorted(obj["Key"] for obj in listing.get("Contents", []))


async def post_with_s3_unreachable(settings: ResizerSettings, event: CloudEvent) -> httpx.Response:
    """POST ``event`` to a resizer whose S3 endpoint is a closed port."""
    broken = settings.model_copy(deep=True)
    broken.s3.endpoint_url = "http://127.0.0.1:9"
    broken.s3.timeout_seconds = 1
    async with resizer_client(broken) as http:
        return await post(http, event)
