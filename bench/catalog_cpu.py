"""CPU per request of the catalog's public reads, with no HTTP client in the way.

``.venv/bin/python bench/catalog_cpu.py [--backend sqlite] [--rows 1000000] [--profile]``
drives the ASGI app directly (a hand-made scope, receive and send) against the seeded
bench database and reports process CPU time per request (all threads: the database
driver's work in this process counts, the database server's does not), for GET
/api/products/{id} and a list page. With ``--profile id|list`` it prints a cProfile of
that read. Wall time is not the figure here: it depends on what else the machine runs.
"""

from __future__ import annotations

import argparse
import asyncio
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


async def cpu_ms(work: Callable[[], Awaitable[Any]], n: int, rounds: int) -> float:
    """CPU ms per call: the least of ``rounds`` rounds of ``n`` calls (the least disturbed
    by whatever else shares the machine's caches)."""
    for _ in range(20):
        await work()
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(n):
            await work()
        best = min(best, (time.process_time() - started) / n * 1000)
    return best


def get(app: Any, path: str, query: str = "") -> Callable[[], Awaitable[Any]]:
    async def work() -> None:
        status, body = await call(app, path, query)
        assert status == 200, body[:300]

    return work


async def main_async(args: argparse.Namespace) -> None:
    url = await catalog_seed.database_url(args.backend, args.rows)
    if await catalog_seed.seeded_rows(url) != args.rows:
        raise SystemExit(f"seed {args.rows} rows first: bench/bench_catalog_scale.py --rows ...")
    app = create_app(settings_for(url))
    # The same app without products.fastpath: every read through FastAPI's routing.
    routed = create_app(settings_for(url))
    routed.user_middleware = [m for m in routed.user_middleware if m.cls is not PublicReadFastPath]
    bare = bare_starlette()
    async with app.router.lifespan_context(app), routed.router.lifespan_context(routed):
        _, body = await call(app, "/api/products", "size=1")
        product_id = json.loads(body)["items"][0]["id"]
        products = app.state.container.products
        one = f"/api/products/{product_id}"
        newest = ProductQuery()
        category = ProductQuery(category="category-07")
        n, rounds = args.requests, args.rounds
        lines: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
            ("baseline: bare Starlette, constant", get(bare, one)),
            ("catalog GET /healthz/live", get(app, "/healthz/live")),
            ("GET /api/products/{id}", get(app, one)),
            ("  same, through FastAPI routing", get(routed, one)),
            ("  its SQL alone (repository)", lambda: products.read(product_id)),
            ("GET /api/products (20, newest)", get(app, "/api/products")),
            ("  same, through FastAPI routing", get(routed, "/api/products")),
            (
                "  its SQL alone (repository)",
                lambda: products.list(newest, cursor=None, now=utcnow()),
            ),
            ("GET /api/products?category=", get(app, "/api/products", "category=category-07")),
            (
                "  its SQL alone (repository)",
                lambda: products.list(category, cursor=None, now=utcnow()),
            ),
        ]
        print(
            f"{args.backend} ({app.state.container.runtime.engine.dialect.driver}), {args.rows:,} "
            f"products; CPU ms per request, least of {rounds} rounds of {n}; {load()}"
        )
        figures: dict[str, float] = {}
        for name, work in lines:
            figures[name] = ms = await cpu_ms(work, n, rounds)
            print(f"  {name:<38} {ms:7.3f} ms", flush=True)
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
    parser.add_argument("--profile", choices=["id", "list"], help="cProfile one read")
    parser.add_argument("--sort", default="tottime", help="cProfile order: tottime, cumulative")
    parser.add_argument(
        "--callers", help="with --profile: also print who calls functions matching this"
    )
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
