"""pika (blocking, one thread) vs aio-pika (asyncio) on the shared RabbitMQ, same run.

Each client publishes N persistent, confirmed CloudEvents (binary mode, `ce-*` headers)
to a fresh topic exchange bound to a fresh durable queue, then consumes and acks them
all (prefetch 32). Figures: wall-clock messages/s and the process CPU per message.
The machine is shared (2 cores, other work running): compare the lines of one run with
each other, not with another run. Rounds alternate clients so drift hits both.

    .venv/bin/python bench/bench_messaging.py [N] [ROUNDS]
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

from zipbob_platform import events

URL = os.environ.get("ZIPBOB_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
PREFETCH = 32
BATCH = 100  # the outbox relay's default batch size


def _events(n: int) -> list[tuple[dict[str, str], bytes, str | None, str]]:
    from zipbob_platform.cloudevents import new_event, to_amqp

    out = []
    for i in range(n):
        event = new_event(
            events.IMAGE_UPLOADED,
            "/catalog",
            {"product_id": f"p{i % 50}", "image_id": str(uuid.uuid4()), "sequence": i},
        )
        headers, body, content_type = to_amqp(event)
        out.append((headers, body, content_type, event.id))
    return out


def _names() -> tuple[str, str]:
    tag = uuid.uuid4().hex[:10]
    return f"bench.messaging.{tag}", f"bench.messaging.{tag}.q"


# ---- pika ------------------------------------------------------------------------------


def pika_publish(n: int, exchange: str, queue: str) -> None:
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(URL))
    channel = connection.channel()
    channel.confirm_delivery()
    channel.exchange_declare(exchange, exchange_type="topic", durable=True)
    channel.queue_declare(queue, durable=True)
    channel.queue_bind(queue, exchange, routing_key="#")
    for headers, body, content_type, message_id in _events(n):
        properties = pika.BasicProperties(
            headers=headers,
            content_type=content_type,
            delivery_mode=pika.DeliveryMode.Persistent,
            message_id=message_id,
        )
        channel.basic_publish(exchange, events.IMAGE_UPLOADED, body, properties)
    connection.close()


async def _handler(body: bytes) -> None:
    """Stands in for a service's handler: reads the event, no I/O."""
    from zipbob_platform.cloudevents import from_amqp

    attributes = {"ce-id": "1", "ce-source": "/b", "ce-type": "t", "ce-specversion": "1.0"}
    from_amqp(attributes, body, None)


def pika_consume(n: int, exchange: str, queue: str, loop: asyncio.AbstractEventLoop) -> None:
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(URL))
    channel = connection.channel()
    channel.basic_qos(prefetch_count=PREFETCH)
    for seen, (method, _properties, body) in enumerate(
        channel.consume(queue, inactivity_timeout=10), start=1
    ):
        if method is None:
            raise RuntimeError(f"pika consumer stalled after {seen - 1} of {n}")
        # The services' bridge: the handler runs on the app's loop, the thread waits.
        asyncio.run_coroutine_threadsafe(_handler(body), loop).result(10)
        channel.basic_ack(method.delivery_tag)
        if seen == n:
            break
    channel.cancel()
    channel.queue_delete(queue)
    channel.exchange_delete(exchange)
    connection.close()


async def run_pika(n: int, exchange: str, queue: str) -> tuple[float, float]:
    # As the services use it: the blocking client on its own thread, awaited from a loop.
    started = time.perf_counter()
    await asyncio.to_thread(pika_publish, n, exchange, queue)
    published = time.perf_counter()
    await asyncio.to_thread(pika_consume, n, exchange, queue, asyncio.get_running_loop())
    return published - started, time.perf_counter() - published


# ---- aio-pika --------------------------------------------------------------------------


async def _aio_setup(exchange_name: str, queue_name: str) -> tuple[Any, Any, Any, Any]:
    import aio_pika

    connection = await aio_pika.connect(URL)
    channel = await connection.channel(publisher_confirms=True)
    exchange = await channel.declare_exchange(
        exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
    )
    queue = await channel.declare_queue(queue_name, durable=True)
    await queue.bind(exchange, routing_key="#")
    return connection, channel, exchange, queue


def _aio_message(headers: dict[str, str], body: bytes, content_type: str | None, mid: str) -> Any:
    import aio_pika

    return aio_pika.Message(
        body,
        headers=headers,  # type: ignore[arg-type]
        content_type=content_type,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=mid,
    )


async def aio_consume(n: int, connection: Any, exchange: Any, queue: Any) -> None:
    channel = await connection.channel()
    await channel.set_qos(prefetch_count=PREFETCH)
    queue = await channel.get_queue(queue.name)
    seen = 0
    async with queue.iterator() as messages:
        async for message in messages:
            await _handler(message.body)
            await message.ack()
            seen += 1
            if seen == n:
                break
    await queue.delete(if_unused=False, if_empty=False)
    await exchange.delete()


async def run_aio(
    n: int, exchange_name: str, queue_name: str, *, pipelined: bool
) -> tuple[float, float]:
    connection, _channel, exchange, queue = await _aio_setup(exchange_name, queue_name)
    batch = _events(n)
    started = time.perf_counter()
    if pipelined:
        # A relay batch at a time: every publish of the batch in flight, confirms awaited
        # together; frames leave in call order on one channel, so per-product order holds.
        for i in range(0, n, BATCH):
            await asyncio.gather(
                *(
                    exchange.publish(_aio_message(*e), events.IMAGE_UPLOADED)
                    for e in batch[i : i + BATCH]
                )
            )
    else:
        for e in batch:
            await exchange.publish(_aio_message(*e), events.IMAGE_UPLOADED)
    published = time.perf_counter()
    await aio_consume(n, connection, exchange, queue)
    consumed = time.perf_counter()
    await connection.close()
    return published - started, consumed - published


# ---- driver ----------------------------------------------------------------------------


async def measure(n: int, rounds: int) -> None:
    clients: dict[str, Callable[[int, str, str], Any]] = {
        "pika (blocking, thread)": run_pika,
        "aio-pika, await each confirm": lambda n, e, q: run_aio(n, e, q, pipelined=False),
        f"aio-pika, confirms per batch of {BATCH}": lambda n, e, q: run_aio(
            n, e, q, pipelined=True
        ),
    }
    results: dict[str, dict[str, list[float]]] = {
        name: {"pub": [], "con": [], "cpu": []} for name in clients
    }
    await run_pika(200, *_names())  # warm the broker and imports
    await run_aio(200, *_names(), pipelined=True)
    for _ in range(rounds):
        for name, client in clients.items():
            cpu0 = time.process_time()
            pub, con = await client(n, *_names())
            results[name]["cpu"].append((time.process_time() - cpu0) / (2 * n) * 1e6)
            results[name]["pub"].append(n / pub)
            results[name]["con"].append(n / con)
    base_pub = statistics.median(results["pika (blocking, thread)"]["pub"])
    base_con = statistics.median(results["pika (blocking, thread)"]["con"])
    print(f"N={n} persistent confirmed messages x {rounds} rounds, medians (shared machine)")
    widths = {"publish/s": 10, "rel": 6, "consume/s": 10, "rel ": 6, "CPU us/msg": 11}
    print(f"{'client':40} " + " ".join(f"{c.strip():>{w}}" for c, w in widths.items()))
    for name, r in results.items():
        pub, con = statistics.median(r["pub"]), statistics.median(r["con"])
        print(
            f"{name:40} {pub:10.0f} {pub / base_pub:5.2f}x {con:10.0f} {con / base_con:5.2f}x"
            f" {statistics.median(r['cpu']):11.1f}"
        )


def main(argv: list[str]) -> int:
    n = int(argv[0]) if argv else 2000
    rounds = int(argv[1]) if len(argv) > 1 else 3
    asyncio.run(measure(n, rounds))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
