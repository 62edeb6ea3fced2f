"""Review reads with the Redis cache and without it, in one run (issue #5).

Starts nx-27017 (or uses ZIPBOB_BENCH_MONGO_URL), seeds one product with N reviews, then
serves the review service twice through uvicorn on real sockets — cache on, cache off —
and drives GET summary and GET first page at a fixed concurrency, alternating the two.
Redis: ZIPBOB_BENCH_REDIS_URL or 127.0.0.1:6379 (a unique key prefix; nothing is flushed).
It also times the two ways to get a summary straight from MongoDB (aggregation vs reading
a counter document) to back the choice made in the service.

    .venv/bin/python bench/bench_review.py [--reviews 1000,10000] [--seconds 2] [--rounds 3]
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
from pymongo import AsyncMongoClient

from zipbob_devkit.embedded import free_port, start_mongo, wait_for_port
from zipbob_review.reviews.models import ReviewDocument, new_review_id, utc_now
from zipbob_review.settings import MongoSettings
from zipbob_review.storage import connect, prepare

REDIS_URL = os.environ.get("ZIPBOB_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


async def seed(mongo_url: str, database: str, product_id: str, count: int) -> None:
    client = connect(MongoSettings(url=mongo_url, database=database))
    found = await prepare(client[database])
    now = utc_now()
    documents = [
        ReviewDocument(
            _id=new_review_id(),
            product_id=product_id,
            author_id=f"bench-{i}",
            rating=i % 5 + 1,
            title=f"Review {i}",
            body="A benchmark review body of modest length. " * 4,
            created_at=now,
            updated_at=now,
        ).to_mongo()
        for i in range(count)
    ]
    for start in range(0, count, 500):
        await found.reviews.insert_many(documents[start : start + 500])
    await client.close()


async def summary_strategies(mongo_url: str, database: str, product_id: str) -> dict:
    """ms per call: the aggregation the service runs vs one counter-document read."""
    client = AsyncMongoClient(mongo_url)
    db = client[database]
    await db.bench_counters.update_one(
        {"_id": product_id}, {"$set": {"count": 1, "sum": 3, "h1": 1}}, upsert=True
    )
    pipeline = [
        {"$match": {"product_id": product_id}},
        {"$group": {"_id": "$rating", "n": {"$sum": 1}}},
    ]
    timings: dict[str, float] = {}
    for name, call in (
        ("aggregation", lambda: _aggregate(db, pipeline)),
        ("counter_doc", lambda: db.bench_counters.find_one({"_id": product_id})),
    ):
        rounds = 50
        started = time.perf_counter()
        for _ in range(rounds):
            await call()
        timings[name] = (time.perf_counter() - started) / rounds * 1000
    await db.bench_counters.drop()
    await client.close()
    return timings


async def _aggregate(db, pipeline):
    cursor = await db.reviews.aggregate(pipeline)
    return await cursor.to_list()


def start_service(*, mongo_url: str, database: str, cache: bool, log_dir: Path) -> tuple:
    port = free_port()
    env = {
        **os.environ,
        "ZIPBOB_PROFILE": "test",
        "ZIPBOB_REVIEW_PORT": str(port),
        "ZIPBOB_MONGO__URL": mongo_url,
        "ZIPBOB_MONGO__DATABASE": database,
        "ZIPBOB_REDIS__URL": REDIS_URL,
        "ZIPBOB_REVIEW__CACHE__ENABLED": "true" if cache else "false",
        "ZIPBOB_REVIEW__CACHE__KEY_PREFIX": f"zbbench:review:{uuid.uuid4().hex[:8]}",
        "ZIPBOB_LOGGING__ACCESS_LOG": "false",
        "ZIPBOB_LOGGING__LEVEL": "WARNING",
        "ZIPBOB_TRACING__SAMPLE_RATIO": "0",
    }
    log = (log_dir / f"review-{'cache' if cache else 'nocache'}.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "zipbob_review"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    wait_for_port(port, process=process, name="review")
    return process, f"http://127.0.0.1:{port}", env["ZIPBOB_REVIEW__CACHE__KEY_PREFIX"]


async def wait_ready(base: str) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(200):
            async with session.get(f"{base}/healthz/ready") as response:
                if response.status == 200:
                    return
            await asyncio.sleep(0.05)
    raise RuntimeError("review service never became ready")


async def drive(url: str, *, seconds: float, concurrency: int) -> dict:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                async with session.get(url) as response:
                    await response.read()
                    if response.status != 200:
                        errors += 1
                latencies.append(time.perf_counter() - started)

        async with session.get(url) as warm:  # fills the cache once, outside the clock
            await warm.read()
        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    return {
        "rps": len(latencies) / elapsed,
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "errors": errors,
    }


async def forget_keys(prefix: str) -> None:
    from redis.asyncio import Redis

    redis = Redis.from_url(REDIS_URL)
    keys = [key async for key in redis.scan_iter(f"{prefix}:*")]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()


async def bench_one_size(args, mongo_url: str, reviews: int, log_dir: Path) -> None:
    database, product = f"zb_bench_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    await seed(mongo_url, database, product, reviews)
    strategies = await summary_strategies(mongo_url, database, product)
    services = {
        mode: start_service(mongo_url=mongo_url, database=database, cache=cache, log_dir=log_dir)
        for mode, cache in (("cache", True), ("no cache", False))
    }
    endpoints = {
        "summary": f"/api/products/{product}/reviews/summary",
        "first page": f"/api/products/{product}/reviews?size=20",
    }
    runs: dict[tuple[str, str], list[dict]] = {}
    try:
        for _, base, _ in services.values():
            await wait_ready(base)
        # Rounds alternate the two modes so that load from anything else on the machine
        # falls on both alike; the table shows the median round.
        for _ in range(args.rounds):
            for name, path in endpoints.items():
                for mode, (_, base, _) in services.items():
                    result = await drive(
                        base + path, seconds=args.seconds, concurrency=args.concurrency
                    )
                    runs.setdefault((name, mode), []).append(result)
    finally:
        for process, _, prefix in services.values():
            process.terminate()
            process.wait(10)
            await forget_keys(prefix)
        client = AsyncMongoClient(mongo_url)
        await client.drop_database(database)
        await client.close()
    print(f"\n{reviews} reviews on one product:")
    print(f"{'endpoint':<12} {'mode':<9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    medians = {}
    for (name, mode), results in runs.items():
        r = {k: statistics.median(x[k] for x in results) for k in ("rps", "p50", "p99")}
        errors = sum(x["errors"] for x in results)
        medians[(name, mode)] = r
        print(
            f"{name:<12} {mode:<9} {r['rps']:>8.0f} {r['p50']:>8.1f} {r['p99']:>8.1f} {errors:>7}"
        )
    for name in endpoints:
        speedup = medians[(name, "cache")]["rps"] / medians[(name, "no cache")]["rps"]
        print(f"{name}: with the cache {speedup:.1f}x the requests/s of MongoDB alone")
    print(
        f"summary straight from MongoDB: aggregation {strategies['aggregation']:.2f} ms/call, "
        f"counter document {strategies['counter_doc']:.2f} ms/call"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reviews", default="1000,10000", help="comma-separated sizes")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    log_dir = Path(tempfile.mkdtemp(prefix="bench-review-"))
    mongo = None
    mongo_url = os.environ.get("ZIPBOB_BENCH_MONGO_URL")
    if not mongo_url:
        mongo = start_mongo(log_dir=log_dir)
        mongo_url = mongo.url
    server = "nx-27017" if mongo is not None else "MongoDB at ZIPBOB_BENCH_MONGO_URL"
    print(
        f"bench_review: {server}, Redis {REDIS_URL}, {args.concurrency} connections, "
        f"{args.rounds} alternating rounds of {args.seconds:.0f} s, one uvicorn worker each"
    )
    try:
        for reviews in (int(n) for n in args.reviews.split(",")):
            await bench_one_size(args, mongo_url, reviews, log_dir)
    finally:
        if mongo is not None:
            mongo.stop()


if __name__ == "__main__":
    asyncio.run(main())
