"""The dispatcher against a real RabbitMQ, feeding a real resizer process (killed midway)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from typing import Any

import pika
import pytest
from resizer_factories import jpeg_bytes, photo_like

from zipbob_devkit.embedded import free_port, port_open
from zipbob_platform.cloudevents import to_amqp, to_http_binary
from zipbob_resizer.dispatcher.consumer import Dispatcher
from zipbob_resizer.service import result_event_id

from .conftest import DELETED, UPLOADED, deleted_event, object_keys, upload, uploaded_event

pytestmark = [pytest.mark.integration, pytest.mark.slow]
COLD_START_BUDGET_SECONDS = 1.5


def start_resizer(settings: Any, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PORT": str(port),
        "ZIPBOB_PROFILE": "test",
        "ZIPBOB_S3__ENDPOINT_URL": settings.s3.endpoint_url,
        "ZIPBOB_S3__ACCESS_KEY_ID": settings.s3.access_key_id.get_secret_value(),
        "ZIPBOB_S3__SECRET_ACCESS_KEY": settings.s3.secret_access_key.get_secret_value(),
        "ZIPBOB_RABBITMQ__URL": settings.rabbitmq.url.get_secret_value(),
        "ZIPBOB_RABBITMQ__EXCHANGE": settings.rabbitmq.exchange,
        "ZIPBOB_RESULTS__DELIVERY": "rabbitmq",
        "ZIPBOB_LOGGING__LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "zipbob_resizer"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def publish(
    settings: Any,
    headers: dict[str, Any],
    body: bytes,
    content_type: str | None,
    *,
    routing_key: str = UPLOADED,
) -> None:
    connection = pika.BlockingConnection(
        pika.URLParameters(settings.rabbitmq.url.get_secret_value())
    )
    channel = connection.channel()
    channel.confirm_delivery()
    props = pika.BasicProperties(headers=headers, content_type=content_type, delivery_mode=2)
    channel.basic_publish(settings.rabbitmq.exchange, routing_key, body, props)
    connection.close()


def queue_depth(settings: Any, queue: str) -> int:
    connection = pika.BlockingConnection(
        pika.URLParameters(settings.rabbitmq.url.get_secret_value())
    )
    depth = connection.channel().queue_declare(queue, passive=True).method.message_count
    connection.close()
    return depth


def queue_names(config: Any) -> list[str]:
    return [name for q in config.queues for name in (q.name, f"{q.name}.dlq")]


@pytest.fixture
def dispatcher(settings: Any):
    port = free_port()
    config = settings.dispatcher.model_copy(update={"target_url": f"http://127.0.0.1:{port}/"})
    running = Dispatcher(settings.rabbitmq, config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # wait for the topology to exist
        try:
            queue_depth(settings, config.queues[-1].name)
            break
        except pika.exceptions.ChannelClosedByBroker:
            time.sleep(0.1)
    yield running, port
    running.stop()
    thread.join(10)
    connection = pika.BlockingConnection(
        pika.URLParameters(settings.rabbitmq.url.get_secret_value())
    )
    channel = connection.channel()
    for name in queue_names(config):
        channel.queue_delete(name)  # this run's own queues only
    connection.close()


def test_cold_start_to_first_event_handled(settings, s3):
    event = uploaded_event(upload(s3, jpeg_bytes(photo_like(1200, 800))))
    headers, body = to_http_binary(event)
    port = free_port()
    started = time.monotonic()
    process = start_resizer(settings, port)
    try:
        status = None
        while time.monotonic() - started < 15:
            try:
                request = urllib.request.Request(f"http://127.0.0.1:{port}/", body, headers)
                with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                    status = response.status
                break
            except OSError:
                time.sleep(0.01)
        elapsed = time.monotonic() - started
    finally:
        process.terminate()
        process.wait(10)
    assert status == 204
    print(
        f"\ncold start to first event handled: {elapsed:.2f} s "
        f"(budget {COLD_START_BUDGET_SECONDS} s; about 0.9 s on an idle 2-core machine)"
    )
    # Shared CI machines run slower; the budget proper is asserted with 2x headroom.
    assert elapsed < COLD_START_BUDGET_SECONDS * 2


def test_delivers_retries_through_a_killed_resizer_and_acks(settings, s3, results, dispatcher):
    _, port = dispatcher
    data = upload(s3, jpeg_bytes(photo_like(3000, 2000)))
    event = uploaded_event(data)
    publish(settings, *to_amqp(event))
    time.sleep(0.5)  # the dispatcher is now retrying against a closed port
    process = start_resizer(settings, port)
    deadline = time.monotonic() + 15
    while not port_open(port) and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)
    process.send_signal(signal.SIGKILL)  # mid-event, or just before it
    process.wait(5)
    process = start_resizer(settings, port)
    try:
        events = results.drain(expect=1, timeout=20)
        assert [e.id for e in events] == [result_event_id(event.id)]
        assert events[0].data["variants"]["large"]["width"] == 1600
        # The same dispatcher carries product.deleted from its second queue.
        publish(
            settings,
            *to_amqp(deleted_event(data["product_id"], [data["image_id"]])),
            routing_key=DELETED,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (
            object_keys(s3, "resized-images", data["product_id"])
            or object_keys(s3, "original-images", data["product_id"])
        ):
            time.sleep(0.1)
        assert object_keys(s3, "resized-images", data["product_id"]) == []
        assert object_keys(s3, "original-images", data["product_id"]) == []
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(
            queue_depth(settings, name) for name in queue_names(settings.dispatcher)
        ):
            time.sleep(0.1)
        assert {name: queue_depth(settings, name) for name in queue_names(settings.dispatcher)} == {
            name: 0 for name in queue_names(settings.dispatcher)
        }
    finally:
        process.terminate()
        process.wait(10)


def test_unreadable_messages_are_dead_lettered(settings, dispatcher):
    uploaded_queue = settings.dispatcher.queues[0].name
    publish(settings, {"x-not-a-cloudevent": "1"}, b"garbage", "application/json")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if queue_depth(settings, f"{uploaded_queue}.dlq") == 1:
            break
        time.sleep(0.1)
    assert queue_depth(settings, f"{uploaded_queue}.dlq") == 1
