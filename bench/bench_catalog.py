"""Catalog benchmarks: product registration with a 2 MB photo, and the outbox relay.

Runnable alone: ``.venv/bin/python bench/bench_catalog.py [--requests 200] [--events 5000]``.
Starts moto S3, a tiny JWKS server and the catalog (``python -m zipbob_catalog``, test
profile, SQLite and MariaDB when reachable) as a separate process; the relay is measured
against the real RabbitMQ on localhost with a throw-away exchange. Each figure is printed
beside a baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
import pika
from aiohttp import web

from zipbob_devkit.embedded import free_port, start_s3, wait_for_port
from zipbob_devkit.testing import (
    TokenSigner,
    create_sql_database,
    drop_sql_database,
    noisy_jpeg,
    serve_app,
    service_env,
)
from zipbob_platform import events

ROOT = Path(__file__).resolve().parents[1]
RABBIT_URL = os.environ.get("ZIPBOB_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
FIELDS = {"name": "Bench", "price": "10.00", "currency": "EUR", "stock": "1", "category": "b"}


def photo_of(target: int) -> bytes:
    # Grows slowly from 600 px so the photo lands close to the target size.
    return noisy_jpeg(target, side=600, growth=1.04, quality=85)


async def serve_jwks(signer: TokenSigner) -> tuple[web.AppRunner, int]:
    app = web.Application()
    app.router.add_get("/.well-known/jwks.json", lambda _: web.json_response(signer.jwks))
    return await serve_app(app)


def summary(label: str, latencies: list[float], elapsed: float) -> str:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (
        f"  {label:<44} {len(ordered) / elapsed:8.1f} req/s   "
        f"p50 {statistics.median(ordered) * 1000:7.1f} ms   p99 {p99 * 1000:7.1f} ms"
    )


async def load(url: str, make_request, total: int, concurrency: int) -> tuple[list[float], float]:
    latencies: list[float] = []
    counter = iter(range(total))
    async with aiohttp.ClientSession() as session:

        async def worker() -> None:
            for _ in counter:
                started = time.perf_counter()
                async with make_request(session, url) as response:
                    await response.read()
                    assert response.status in (200, 201), response.status
                latencies.append(time.perf_counter() - started)

        for _ in range(min(10, total)):  # warm-up: connections, JWKS fetch, caches
            async with make_request(session, url) as response:
                await response.read()
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return latencies, time.perf_counter() - started


async def bench_registration(backend: str, args, s3, jwks_port: int, signer: TokenSigner) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-catalog-"))
    db_url = await create_sql_database(backend, tmp_dir=tmp)
    port = free_port()
    env = service_env(
        "catalog",
        port=port,
        data_dir=tmp,
        config_dir=ROOT / "config",  # runnable from any folder
        **s3.env,
        ZIPBOB_DATABASE__URL=db_url,
        ZIPBOB_LOGGING__ACCESS_LOG="false",
        ZIPBOB_LOGGING__LEVEL="WARNING",
        ZIPBOB_OUTBOX__RELAY_ENABLED="false",
        ZIPBOB_AUTH__JWKS_URL=f"http://127.0.0.1:{jwks_port}/.well-known/jwks.json",
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "zipbob_catalog"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, process=server, name="catalog", timeout=60)
        base = f"http://127.0.0.1:{port}"
        token = signer.token("bench-seller", "seller", exp=int(time.time()) + 3600)
        headers = {"Authorization": f"Bearer {token}"}
        photo = photo_of(2 * 1024 * 1024)

        def with_photo(session, url):
            form = aiohttp.FormData()
            for name, value in FIELDS.items():
                form.add_field(name, value)
            form.add_field("image", photo, filename="p.jpg", content_type="image/jpeg")
            return session.post(f"{url}/api/products", data=form, headers=headers)

        def json_only(session, url):
            return session.post(f"{url}/api/products", json={**FIELDS, "stock": 1}, headers=headers)

        print(
            f"product registration, catalog on {backend} ({args.concurrency} clients, "
            f"{len(photo) / 1e6:.2f} MB photo):"
        )
        for label, maker, count in (
            ("baseline: JSON product, no photo", json_only, args.requests * 2),
            ("multipart product + 2 MB photo", with_photo, args.requests),
        ):
            latencies, elapsed = await load(base, maker, count, args.concurrency)
            print(summary(label, latencies, elapsed))
        import boto3

        client = boto3.client(
            "s3",
            endpoint_url=s3.url,
            region_name="us-east-1",
            aws_access_key_id=s3.env["ZIPBOB_S3__ACCESS_KEY_ID"],
            aws_secret_access_key=s3.env["ZIPBOB_S3__SECRET_ACCESS_KEY"],
        )
        started, latencies = time.perf_counter(), []
        for index in range(40):
            t0 = time.perf_counter()
            client.put_object(Bucket="original-images", Key=f"bench/{index}", Body=photo)
            latencies.append(time.perf_counter() - t0)
        print(
            summary(
                "baseline: bare boto3 PUT of the photo (1 client)",
                latencies,
                time.perf_counter() - started,
            )
        )
    finally:
        server.terminate()
        server.wait(15)
        await drop_sql_database(backend, db_url)


async def bench_relay(args) -> None:
    from zipbob_catalog.db import make_engine, make_session_factory
    from zipbob_catalog.migrate import upgrade_to_head
    from zipbob_catalog.outbox.models import OutboxEvent
    from zipbob_catalog.outbox.publishers import RabbitPublisher
    from zipbob_catalog.outbox.relay import OutboxRelay
    from zipbob_catalog.settings import OutboxSettings, RabbitSettings
    from zipbob_platform.cloudevents import new_event, to_amqp

    exchange = f"bench.catalog.{uuid.uuid4().hex[:10]}"
    queue = f"{exchange}.tap"
    connection = pika.BlockingConnection(pika.URLParameters(RABBIT_URL))
    channel = connection.channel()
    channel.exchange_declare(exchange, exchange_type="topic", durable=True)
    channel.queue_declare(queue, durable=True)
    channel.queue_bind(queue, exchange, routing_key="#")
    try:
        channel.confirm_delivery()
        batch = [
            new_event(
                events.IMAGE_UPLOADED,
                "/catalog",
                {"product_id": str(uuid.uuid4()), "n": n},
            )
            for n in range(args.events)
        ]
        started = time.perf_counter()
        for event in batch:
            headers, body, content_type = to_amqp(event)
            channel.basic_publish(
                exchange,
                event.type,
                body,
                pika.BasicProperties(headers=headers, content_type=content_type, delivery_mode=2),
            )
        raw = args.events / (time.perf_counter() - started)
        print(f"outbox relay, {args.events} events to RabbitMQ (persistent, publisher confirms):")
        print(f"  {'baseline: bare pika publish + confirm':<44} {raw:8.0f} events/s")
        channel.queue_purge(queue)
        for backend in args.backends:
            tmp = Path(tempfile.mkdtemp(prefix="bench-relay-"))
            db_url = await create_sql_database(backend, tmp_dir=tmp)
            try:
                await asyncio.to_thread(upgrade_to_head, db_url)
                engine = make_engine(db_url)
                sessions = make_session_factory(engine)
                async with sessions() as session, session.begin():
                    for event in batch:
                        session.add(
                            OutboxEvent(
                                event_id=event.id,
                                event_type=event.type,
                                aggregate_id=event.data["product_id"],
                                attributes=event.attributes(),
                                data=event.data,
                                attempts=0,
                            )
                        )
                settings = OutboxSettings(batch_size=200)
                relay = OutboxRelay(
                    engine=engine,
                    sessions=sessions,
                    settings=settings,
                    publisher=RabbitPublisher(RabbitSettings(url=RABBIT_URL, exchange=exchange)),
                )
                started = time.perf_counter()
                await relay.drain(within_seconds=600)
                rate = args.events / (time.perf_counter() - started)
                await relay.publisher.close()
                await engine.dispose()
                print(f"  {'relay (claim, publish, mark) on ' + backend:<44} {rate:8.0f} events/s")
                channel.queue_purge(queue)
            finally:
                await drop_sql_database(backend, db_url)
    finally:
        channel.queue_delete(queue)
        channel.exchange_delete(exchange)
        connection.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=150)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--backends", nargs="+", default=["sqlite", "mariadb"])
    args = parser.parse_args()
    signer = TokenSigner(kid="bench")
    runner, jwks_port = await serve_jwks(signer)
    s3 = start_s3()
    try:
        for backend in args.backends:
            await bench_registration(backend, args, s3, jwks_port, signer)
        await bench_relay(args)
    finally:
        s3.stop()
        await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
