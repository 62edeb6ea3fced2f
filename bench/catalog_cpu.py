"""CPU per request of the catalog's public reads, with no HTTP client in the way.

``.venv/bin/python bench/catalog_cpu.py [--backend sqlite] [--rows 1000000] [--profile]``
drives the ASGI app directly (a hand-made scope, receive and send) against the seeded
bench database and reports process CPU time per request (all threads: the database
driver's work in this process counts, the database server's does not), for GET
/api/products/{id} and a list page. With ``--profile id|list`` it prints a cProfile of
that read. Wall time is not the figure here: it depends on what else the machine runs.

A list page is measured as a miss of the page cache in two ways: with the cache off
(``list_cache.seconds: 0``, which also forgets that a listing is past the exact total's
bound, so every request counts 10,001 rows), and as production misses it: the page
expired (kept a microsecond) while the "past the bound" fact is kept (``walk_seconds``),
so the page's statement runs without its count. Each line is timed one request after
another, and again with ``--workers`` requests in flight at once (a loaded replica).

On a VM whose hypervisor charges a blocking wait as CPU (seen on Firecracker: an idle
``asyncio.sleep(0.01)`` showed 0.25 ms of process CPU), a request that waits longer on the
database looks dearer: the sequential figures then swing with the database's latency, the
concurrent ones (the waits overlap) much less. ``--calibrate`` prints that charge. The
"database replayed" lines answer each statement from memory after its first run
(``Replay``): what the catalog's own code costs, without the round trip; "after an idle
1 ms" adds a wait as long as the round trip, with no database in it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import os
import pstats
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import catalog_seed
from bench_catalog_scale import settings_for

from zipbob_catalog.db import utcnow
from zipbob_catalog.main import create_app
from zipbob_catalog.products import rawread
from zipbob_catalog.products.fastpath import PublicReadFastPath
from zipbob_catalog.products.schemas import ProductQuery


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f} on {os.cpu_count()} CPUs"


async def call(app: Any, path: str, query: str = "") -> tuple[int, bytes]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"catalog")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 8081),
    }
    sent: dict[str, Any] = {"body": b""}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            sent["status"] = message["status"]
        else:
            sent["body"] += message.get("body", b"")

    await app(scope, receive, send)
    return sent["status"], sent["body"]


def bare_starlette() -> Any:
    """The machine's yardstick: a bare Starlette app answering a constant JSON body."""
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    body = json.dumps({"id": "x" * 36, "name": "constant"}).encode()

    async def constant(_: Any) -> Response:
        return Response(body, media_type="application/json")

    return Starlette(routes=[Route("/api/products/{product_id}", constant)])


# One request of a line; the argument is the worker's number (0 when one at a time).
Work = Callable[[int], Awaitable[Any]]


async def cpu_ms(work: Work, n: int, rounds: int) -> float:
    """CPU ms per call: the least of ``rounds`` rounds of ``n`` calls (the least disturbed
    by whatever else shares the machine's caches)."""
    for _ in range(20):
        await work(0)
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(n):
            await work(0)
        best = min(best, (time.process_time() - started) / n * 1000)
    return best


async def cpu_ms_concurrent(work: Work, n: int, rounds: int, workers: int) -> float:
    """CPU ms per call with ``workers`` calls in flight at once (``n`` calls a round)."""

    async def worker(number: int, count: int) -> None:
        for _ in range(count):
            await work(number)

    shares = [n // workers + (1 if i < n % workers else 0) for i in range(workers)]
    await asyncio.gather(*(worker(i, 20) for i in range(workers)))
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        await asyncio.gather(*(worker(i, share) for i, share in enumerate(shares)))
        best = min(best, (time.process_time() - started) / n * 1000)
    return best


async def wait_charge_ms(rounds: int = 5) -> float:
    """Process CPU charged for an idle 10 ms wait (0 on a machine that charges none)."""
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(20):
            await asyncio.sleep(0.01)
        best = min(best, (time.process_time() - started) / 20 * 1000)
    return best


class Replay:
    """The drivers' answers replayed from memory while ``on``: each distinct statement and
    parameters is run on the database once, then answered without the socket. A line run
    so costs what the catalog's own code does (pool checkout, statement, rows, JSON,
    middleware), not the round trip nor what this machine charges for waiting on it. A
    bench-only stand-in for the database; the lines around it use the real one."""

    on = False
    answers: dict[tuple[str, tuple[Any, ...]], Any] = {}

    @classmethod
    def install(cls) -> None:
        for name, run in list(rawread._RUNNERS.items()):
            rawread._RUNNERS[name] = cls._wrap(run)

    @classmethod
    def _wrap(cls, run: Callable[..., Any]) -> Callable[..., Any]:
        async def replaying(driver: Any, sql: str, args: Any) -> Any:
            if not cls.on:
                return await run(driver, sql, args)
            key = (sql, tuple(args))
            if key not in cls.answers:
                cls.answers[key] = await run(driver, sql, args)
            return cls.answers[key]

        return replaying


def replayed(work: Work) -> Work:
    """The line ``work`` with the database's answers replayed (``Replay``)."""
    work.replay = True  # type: ignore[attr-defined]
    return work


def after_idle(work: Work, seconds: float = 0.001) -> Work:
    """``work`` after an idle wait as long as a list page's round trip, with no database
    in it: what this machine charges a request for going idle (on 2026-12-08's VM,
    0.29 ms of CPU became 0.40)."""

    async def idle_then(number: int) -> None:
        await asyncio.sleep(seconds)
        await work(number)

    return idle_then


def get(app: Any, path: str, query: str = "", vary: Callable[[int], str] | None = None) -> Work:
    """GET ``path?query``; with ``vary``, worker i asks for ``vary(i)`` instead: requests
    in flight at once for one page share its load (single flight), so a concurrent miss
    needs pages of its own."""

    async def work(number: int) -> None:
        asked = vary(number) if vary is not None else query
        status, body = await call(app, path, asked)
        assert status == 200, body[:300]

    return work


async def main_async(args: argparse.Namespace) -> None:
    url = await catalog_seed.database_url(args.backend, args.rows)
    if await catalog_seed.seeded_rows(url) != args.rows:
        raise SystemExit(f"seed {args.rows} rows first: bench/bench_catalog_scale.py --rows ...")
    # MariaDB as the dev profile runs it: the image's default buffer pool (128M) holds a
    # tenth of the products, and the disk reads a page then waits on would be charged here.
    pool = (
        catalog_seed.dev_profile_buffer_pool(url)
        if args.backend == "mariadb"
        else contextlib.nullcontext()
    )
    with pool:
        await measure(args, url)


async def measure(args: argparse.Namespace, url: str) -> None:
    app = create_app(settings_for(url))
    # Production's miss: the page expired, the listing's "past the bound" fact still kept.
    expired = create_app(settings_for(url, list_seconds=1e-6))
    # The same app without products.fastpath: every read through FastAPI's routing.
    routed = create_app(settings_for(url))
    routed.user_middleware = [m for m in routed.user_middleware if m.cls is not PublicReadFastPath]
    bare = bare_starlette()
    async with (
        app.router.lifespan_context(app),
        routed.router.lifespan_context(routed),
        expired.router.lifespan_context(expired),
    ):
        _, body = await call(app, "/api/products", "size=1")
        product_id = json.loads(body)["items"][0]["id"]
        products = app.state.container.products
        one = f"/api/products/{product_id}"
        newest = ProductQuery()
        category = ProductQuery(category="category-07")
        n, rounds = args.requests, args.rounds
        workers = args.workers

        # Expired pages, each worker its own (requests for one page share its load).
        def expired_newest() -> Work:  # sizes 16..23 (a mean of 19.5 rows) for 8 workers
            return get(expired, "/api/products", vary=lambda i: f"size={20 + i - workers // 2}")

        def expired_category() -> Work:
            return get(expired, "/api/products", vary=lambda i: f"category=category-{i % 10:02d}")

        lines: list[tuple[str, Work]] = [
            ("baseline: bare Starlette, constant", get(bare, one)),
            ("catalog GET /healthz/live", get(app, "/healthz/live")),
            ("GET /api/products/{id}", get(app, one)),
            ("  same, through FastAPI routing", get(routed, one)),
            ("  its SQL alone (repository)", lambda _: products.read(product_id)),
            ("  same request, database replayed", replayed(get(app, one))),
            ("GET /api/products (20, newest)", get(app, "/api/products")),
            ("  same, through FastAPI routing", get(routed, "/api/products")),
            ("  same, page expired (count skipped)", expired_newest()),
            ("  same expired page, database replayed", replayed(expired_newest())),
            ("  same, replayed, after an idle 1 ms", replayed(after_idle(expired_newest()))),
            (
                "  its SQL alone (repository)",
                lambda _: products.list(newest, cursor=None, now=utcnow()),
            ),
            ("GET /api/products?category=", get(app, "/api/products", "category=category-07")),
            ("  same, page expired (count skipped)", expired_category()),
            ("  same expired page, database replayed", replayed(expired_category())),
            (
                "  its SQL alone (repository)",
                lambda _: products.list(category, cursor=None, now=utcnow()),
            ),
        ]
        print(
            f"{args.backend} ({app.state.container.runtime.engine.dialect.driver}), {args.rows:,} "
            f"products; CPU ms per request, least of {rounds} rounds of {n}; {load()}"
        )
        if args.calibrate:
            print(f"  (an idle 10 ms wait is charged {await wait_charge_ms():.3f} ms of CPU)")
        print(f"  {'':<38} {'1 at once':>10} {f'{workers} at once':>12}")
        figures: dict[str, float] = {}
        Replay.install()
        for name, work in lines:
            Replay.on = getattr(work, "replay", False)
            figures[name] = ms = await cpu_ms(work, n, rounds)
            loaded = await cpu_ms_concurrent(work, n, rounds, workers)
            Replay.on = False
            print(f"  {name:<38} {ms:7.3f} ms {loaded:9.3f} ms", flush=True)
        yardstick = figures["baseline: bare Starlette, constant"]
        print(
            f"  (x baseline: by id {figures['GET /api/products/{id}'] / yardstick:.1f}, "
            f"list {figures['GET /api/products (20, newest)'] / yardstick:.1f}; target 0.8 ms)"
        )
        if args.profile:
            profiler = cProfile.Profile(time.process_time)  # CPU, not wall (the load)
            profiler.enable()
            by_id = args.profile == "id"
            path, query = (f"/api/products/{product_id}", "") if by_id else ("/api/products", "")
            for _ in range(args.requests):
                await call(app, path, query)
            profiler.disable()
            stats = pstats.Stats(profiler).sort_stats(args.sort)
            stats.print_stats(40)
            if args.callers:
                stats.print_callers(args.callers)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", default="sqlite")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=8, help="requests in flight at once")
    parser.add_argument(
        "--calibrate", action="store_true", help="print the CPU charged for an idle wait"
    )
    parser.add_argument("--profile", choices=["id", "list"], help="cProfile one read")
    parser.add_argument("--sort", default="tottime", help="cProfile order: tottime, cumulative")
    parser.add_argument(
        "--callers", help="with --profile: also print who calls functions matching this"
    )
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
