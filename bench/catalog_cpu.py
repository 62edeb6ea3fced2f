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
import pstats
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import catalog_seed
from bench_catalog_scale import settings_for

from zipbob_catalog.main import create_app


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


async def cpu_per_request(app: Any, path: str, query: str, n: int) -> float:
    for _ in range(20):
        status, body = await call(app, path, query)
        assert status == 200, body[:300]
    started = time.process_time()
    for _ in range(n):
        await call(app, path, query)
    return (time.process_time() - started) / n * 1000


async def main_async(args: argparse.Namespace) -> None:
    url = await catalog_seed.database_url(args.backend, args.rows)
    if await catalog_seed.seeded_rows(url) != args.rows:
        raise SystemExit(f"seed {args.rows} rows first: bench/bench_catalog_scale.py --rows ...")
    app = create_app(settings_for(url))
    async with app.router.lifespan_context(app):
        _, body = await call(app, "/api/products", "size=1")
        import json

        product_id = json.loads(body)["items"][0]["id"]
        lines = [
            ("baseline: GET /healthz/live", "/healthz/live", ""),
            ("GET /api/products/{id}", f"/api/products/{product_id}", ""),
            ("GET /api/products (20, newest)", "/api/products", ""),
            ("GET /api/products?category=", "/api/products", "category=category-07"),
        ]
        print(f"{args.backend}, {args.rows:,} products, {args.requests} requests each")
        for name, path, query in lines:
            ms = await cpu_per_request(app, path, query, args.requests)
            print(f"  {name:<32} {ms:.3f} ms CPU per request")
        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
            by_id = args.profile == "id"
            path, query = (f"/api/products/{product_id}", "") if by_id else ("/api/products", "")
            for _ in range(args.requests):
                await call(app, path, query)
            profiler.disable()
            pstats.Stats(profiler).sort_stats(args.sort).print_stats(40)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", default="sqlite")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--profile", choices=["id", "list"], help="cProfile one read")
    parser.add_argument("--sort", default="tottime", help="cProfile order: tottime, cumulative")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
