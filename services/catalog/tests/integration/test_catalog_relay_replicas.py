"""Several relays on one database (PostgreSQL, MariaDB: SKIP LOCKED) and the broker
itself stopped (rabbitmqctl stop_app): nothing lost, nothing reordered per product."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import uuid

import pytest
from sqlalchemy import func, select

from zipbob_catalog.db import make_engine, make_session_factory
from zipbob_catalog.migrate import upgrade_to_head
from zipbob_catalog.outbox.models import OutboxEvent
from zipbob_catalog.outbox.publishers import RabbitPublisher
from zipbob_catalog.outbox.relay import OutboxRelay
from zipbob_catalog.outbox.writer import enqueue_event
from zipbob_catalog.settings import OutboxSettings, RabbitSettings
from zipbob_platform import events
from zipbob_platform.cloudevents import from_amqp

pytestmark = [
    pytest.mark.integration,
    pytest.mark.parametrize("sql_url", ["postgresql", "mariadb"], indirect=True),
]


async def _enqueue_interleaved(sessions, *, products: int, per_product: int) -> dict[str, list]:
    """Events of many products interleaved, one transaction each, like real traffic."""
    product_ids = [str(uuid.uuid4()) for _ in range(products)]
    expected: dict[str, list[str]] = {pid: [] for pid in product_ids}
    for sequence in range(per_product):
        for product_id in product_ids:
            async with sessions() as session, session.begin():
                row = enqueue_event(
                    session,
                    event_type=events.IMAGE_UPLOADED,
                    product_id=product_id,
                    data={"product_id": product_id, "sequence": sequence},
                )
            expected[product_id].append(row.event_id)
    return expected


def _received_in_order(messages, expected) -> dict[str, list[str]]:
    seen, received = set(), {pid: [] for pid in expected}
    for properties, body in messages:
        event = from_amqp(properties.headers, body, properties.content_type)
        if event.id not in seen and event.data["product_id"] in received:
            seen.add(event.id)
            received[event.data["product_id"]].append(event.id)
    return received


async def _pending(sessions) -> int:
    async with sessions() as session:
        return (
            await session.execute(select(func.count()).where(OutboxEvent.published_at.is_(None)))
        ).scalar_one()


async def _run_relays(engine, sessions, rabbit, count: int, until_empty_within: float):
    settings = OutboxSettings(batch_size=20, poll_interval_seconds=0.05, max_backoff_seconds=0.5)
    relays = [
        OutboxRelay(
            engine=engine, sessions=sessions, publisher=RabbitPublisher(rabbit), settings=settings
        )
        for _ in range(count)
    ]
    tasks = [asyncio.create_task(relay.run_forever()) for relay in relays]
    try:
        async with asyncio.timeout(until_empty_within):
            while await _pending(sessions):
                await asyncio.sleep(0.1)
    finally:
        for relay in relays:
            relay.stop()
        await asyncio.gather(*tasks)
        for relay in relays:
            await relay.publisher.close()
    return relays


@pytest.fixture
async def outbox_db(sql_url):
    await asyncio.to_thread(upgrade_to_head, sql_url)
    engine = make_engine(sql_url, pool_size=5)
    sessions = make_session_factory(engine)
    async with sessions() as session, session.begin():
        await session.execute(OutboxEvent.__table__.delete())
    yield engine, sessions
    await engine.dispose()


async def test_competing_relays_keep_per_product_order(outbox_db, rabbit_names) -> None:
    engine, sessions = outbox_db
    await asyncio.to_thread(rabbit_names.declare_tap)
    expected = await _enqueue_interleaved(sessions, products=12, per_product=8)
    rabbit = RabbitSettings(url=rabbit_names.url, exchange=rabbit_names.exchange)
    await _run_relays(engine, sessions, rabbit, count=3, until_empty_within=60)
    messages = await asyncio.to_thread(rabbit_names.drain_tap)
    assert _received_in_order(messages, expected) == expected
    assert len(messages) == 96  # no event published twice by two relays


def _rabbitmqctl(command: str) -> None:
    # On this machine RabbitMQ runs locally; on a laptop `make test` runs it in Docker
    # (docker-compose.test.yml), where rabbitmqctl lives inside the container.
    if shutil.which("rabbitmqctl"):
        args = ["rabbitmqctl", command]
    else:
        args = ["docker", "compose", "-f", "docker-compose.test.yml", "exec", "-T", "rabbitmq",
                "rabbitmqctl", command]  # fmt: skip
    subprocess.run(args, check=True, capture_output=True, timeout=60)


@pytest.mark.slow
async def test_broker_stopped_and_restarted(outbox_db, rabbit_names) -> None:
    """stop_app on the shared broker for a few seconds: events wait in the outbox."""
    engine, sessions = outbox_db
    await asyncio.to_thread(rabbit_names.declare_tap)
    first = await _enqueue_interleaved(sessions, products=3, per_product=2)
    rabbit = RabbitSettings(url=rabbit_names.url, exchange=rabbit_names.exchange)
    settings = OutboxSettings(batch_size=20, poll_interval_seconds=0.05, max_backoff_seconds=0.5)
    relay = OutboxRelay(
        engine=engine, sessions=sessions, publisher=RabbitPublisher(rabbit), settings=settings
    )
    task = asyncio.create_task(relay.run_forever())
    try:
        async with asyncio.timeout(20):
            while await _pending(sessions):
                await asyncio.sleep(0.05)
        await asyncio.to_thread(_rabbitmqctl, "stop_app")
        try:
            during = await _enqueue_interleaved(sessions, products=4, per_product=3)
            async with asyncio.timeout(30):  # the relay tries, fails and counts it
                while relay.consecutive_failures == 0:
                    await asyncio.sleep(0.05)
            assert await _pending(sessions) == 12
        finally:
            await asyncio.to_thread(_rabbitmqctl, "start_app")
        async with asyncio.timeout(60):
            while await _pending(sessions):
                await asyncio.sleep(0.1)
    finally:
        relay.stop()
        await task
        await relay.publisher.close()
    messages = await asyncio.to_thread(rabbit_names.drain_tap)
    expected = {**first, **during}
    assert _received_in_order(messages, expected) == expected


async def test_standalone_relay_process_starts_drains_and_stops(
    outbox_db, rabbit_names, sql_url, tmp_path
) -> None:
    """``python -m zipbob_catalog.relay`` builds its container through bootstrap and, on
    the real database and broker, publishes what is pending, in order; SIGTERM stops it."""
    _engine, sessions = outbox_db
    await asyncio.to_thread(rabbit_names.declare_tap)
    expected = await _enqueue_interleaved(sessions, products=3, per_product=4)
    env = {
        **os.environ,
        "ZIPBOB_PROFILE": "test",
        "ZIPBOB_DATA_DIR": str(tmp_path),
        "ZIPBOB_ENV_FILE": str(tmp_path / "no.env"),
        "ZIPBOB_CATALOG_DATABASE__URL": sql_url,
        "ZIPBOB_OUTBOX__TRANSPORT": "rabbitmq",
        "ZIPBOB_OUTBOX__POLL_INTERVAL_SECONDS": "0.05",
        "ZIPBOB_RABBITMQ__URL": rabbit_names.url,
        "ZIPBOB_RABBITMQ__EXCHANGE": rabbit_names.exchange,
        "ZIPBOB_LOGGING__LEVEL": "WARNING",
    }
    env.pop("ZIPBOB_DATABASE__URL", None)
    relay = [sys.executable, "-m", "zipbob_catalog.relay"]
    process = subprocess.Popen(relay, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        async with asyncio.timeout(60):
            while await _pending(sessions):
                assert process.poll() is None, process.communicate()[0].decode()[-2000:]
                await asyncio.sleep(0.1)
        assert process.poll() is None  # it keeps relaying until told to stop
        process.send_signal(signal.SIGTERM)
        output, _ = await asyncio.to_thread(process.communicate, timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, output.decode()[-2000:]
    messages = await asyncio.to_thread(rabbit_names.drain_tap)
    assert _received_in_order(messages, expected) == expected
    assert len(messages) == 12
