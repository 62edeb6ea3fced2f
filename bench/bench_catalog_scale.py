"""The catalog at a million products: list, filter, search and deep pages on every backend.

Runnable alone: ``.venv/bin/python bench/bench_catalog_scale.py [--rows 1000000]
[--requests 200] [--backends sqlite,postgresql,mariadb]``.

Seeds ``--rows`` products in bulk (bench/catalog_seed.py: COPY, multi-row INSERT,
executemany; not through the API) into a database of its own per backend, kept between
runs (``zipbob_bench_scale_<rows>`` on the local PostgreSQL and MariaDB, a file under
``$ZIPBOB_DATA_DIR/bench`` for SQLite), so only the first run pays for seeding. Then, per
line, it times ``--requests`` sequential GETs through the catalog app in-process (ASGI,
the whole FastAPI app with its middleware), and beside it the very SQL statements that
request issued (captured from the engine), replayed alone on the same connection pool:
the difference is the catalog's own cost. Targets: p99 < 50 ms on MariaDB and PostgreSQL,
< 100 ms on SQLite.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).resolve().parent))

import catalog_seed

from zipbob_catalog.main import create_app
from zipbob_catalog.products import rawread
from zipbob_catalog.settings import CatalogSettings

TARGET_P99_MS = {"sqlite": 100.0, "postgresql": 50.0, "mariadb": 50.0}
LINES: list[tuple[str, dict[str, str]]] = [
    ("newest", {}),
    ("category (newest)", {"category": "category-07"}),
    ("seller (newest)", {"seller_id": "seller-00123"}),
    ("search common word", {"q": catalog_seed.COMMON_WORD}),
    ("search rare word", {"q": catalog_seed.RARE_WORD}),
    ("search prefix", {"q": catalog_seed.PREFIX}),
    ("search two words", {"q": "walnut bowl"}),
    ("price sort", {"sort": "price_asc"}),
    ("category + price sort", {"category": "category-07", "sort": "price_desc"}),
    ("rating sort", {"sort": "rating_desc"}),
    ("min_rating 4.5, newest", {"min_rating": "4.5"}),
]
DEEP_PAGE = 500


def settings_for(url: str, *, list_seconds: float = 0) -> CatalogSettings:
    """The catalog on ``url`` with nothing else wired; ``list_seconds`` is how long a list
    page is kept (0: the cache off, every request a database query)."""
    return CatalogSettings.model_validate(
        {
            "service": "catalog",
            "profile": "test",
            "logging": {"level": "WARNING", "access_log": False},
            "database": {"url": url, "migrate_on_start": False, "pool_size": 4},
            "s3": {"endpoint_url": "http://127.0.0.1:9", "access_key_id": "x"},
            "outbox": {"relay_enabled": False},
            "results": {"consume_rabbitmq": False},
            "sweeper": {"enabled": False},
            # By default every request a database query (a page-cache miss, the worst
            # case): the cache's own figures are bench_platform's.
            "list_cache": {"seconds": list_seconds},
            "auth": {"jwks_url": "http://127.0.0.1:9/jwks"},
        }
    )


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Capture:
    """Records the statements a request runs while ``on`` is set: those SQLAlchemy
    executes (its cursor events) and those products.rawread hands the driver itself.
    A context manager: on exit the listeners go and rawread's runners are its own again
    (so the next backend's capture does not wrap this one's)."""

    def __init__(self, engines: list[Any]) -> None:
        self.on = False
        self.statements: list[tuple[Any, str, Any]] = []  # (raw runner or None, sql, args)
        self._engines = [engine.sync_engine for engine in engines]
        self._runners = dict(rawread._RUNNERS)

    def __enter__(self) -> Capture:
        for engine in self._engines:
            event.listen(engine, "before_cursor_execute", self._record)
        for driver, runner in self._runners.items():
            rawread._RUNNERS[driver] = self._recording(runner)
        return self

    def __exit__(self, *_: Any) -> None:
        for engine in self._engines:
            event.remove(engine, "before_cursor_execute", self._record)
        rawread._RUNNERS.update(self._runners)

    def _record(self, conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if self.on:
            self.statements.append((None, statement, parameters))

    def _recording(self, runner: Any) -> Any:
        async def run(driver: Any, sql: str, args: Any) -> Any:
            if self.on:
                self.statements.append((runner, sql, list(args)))
            return await runner(driver, sql, args)

        return run


async def time_line(
    client: httpx.AsyncClient, engine: Any, capture: Capture, params: dict[str, str], n: int
) -> dict[str, Any]:
    for _ in range(3):  # warm caches and the compiled-statement cache
        response = await client.get("/api/products", params=params)
        response.raise_for_status()
    capture.statements.clear()
    capture.on = True
    body = (await client.get("/api/products", params=params)).json()
    capture.on = False
    statements = list(capture.statements)
    through = []
    for _ in range(n):
        started = time.perf_counter()
        response = await client.get("/api/products", params=params)
        through.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{params}: {response.status_code} {response.text[:300]}")
    alone = []
    async with engine.connect() as conn:
        driver = (await conn.get_raw_connection()).driver_connection
        for _ in range(n):
            started = time.perf_counter()
            for runner, statement, parameters in statements:
                if runner is None:
                    await conn.exec_driver_sql(statement, parameters)
                else:  # as products.rawread runs it: on the driver
                    await runner(driver, statement, parameters)
            alone.append((time.perf_counter() - started) * 1000)
    return {
        "through": through,
        "alone": alone,
        "total": f"{body['total']:,}{'' if body['total_exact'] else '+'}",
        "items": len(body["items"]),
        "statements": len(statements),
    }


async def deep_cursor(client: httpx.AsyncClient, page: int) -> dict[str, str]:
    params: dict[str, str] = {"size": "20"}
    for _ in range(page - 1):
        body = (await client.get("/api/products", params=params)).json()
        params = {"size": "20", "cursor": body["next_cursor"]}
    return params


async def bench_backend(backend: str, rows: int, n: int, n_search: int) -> list[str]:
    url = await catalog_seed.database_url(backend, rows)
    seeded = await catalog_seed.ensure_seeded(backend, url, rows)
    if backend == "mariadb":  # the dev profile's MariaDB, as compose configures it
        with catalog_seed.dev_profile_buffer_pool(url):
            return await _bench_seeded(backend, url, rows, n, n_search, seeded)
    return await _bench_seeded(backend, url, rows, n, n_search, seeded)


async def _bench_seeded(
    backend: str, url: str, rows: int, n: int, n_search: int, seeded: float | None
) -> list[str]:
    seed_note = "reused" if seeded is None else f"seeded in {seeded:.0f}s"
    app = create_app(settings_for(url))
    failures = []
    print(
        f"\n{backend}, {rows:,} products ({seed_note}); {n} sequential requests per line"
        f" ({n_search} per search line)"
    )
    header = f"{'line':<26} {'hits':>9} {'catalog p50/p99 ms':>19} {'SQL alone p50/p99':>18}"
    print(header)
    async with app.router.lifespan_context(app):
        runtime = app.state.container.runtime
        with Capture([runtime.engine, runtime.reads]) as capture:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://catalog") as client:
                started = time.monotonic()
                deep = await deep_cursor(client, DEEP_PAGE)
                walk = time.monotonic() - started
                lines = [*LINES, (f"cursor page {DEEP_PAGE} (newest)", deep)]
                for name, params in lines:
                    count = n_search if "q" in params else n
                    result = await time_line(client, runtime.reads, capture, params, count)
                    t50, t99 = pct(result["through"], 0.5), pct(result["through"], 0.99)
                    a50, a99 = pct(result["alone"], 0.5), pct(result["alone"], 0.99)
                    verdict = "ok" if t99 < TARGET_P99_MS[backend] else "MISSED"
                    if verdict != "ok":
                        failures.append(f"{backend}: {name} p99 {t99:.1f} ms")
                    print(
                        f"{name:<26} {result['total']:>9} {t50:>8.1f} /{t99:>7.1f}  "
                        f"{a50:>8.1f} /{a99:>7.1f}  {verdict}",
                        flush=True,
                    )
                print(f"(walking {DEEP_PAGE - 1} cursor pages took {walk:.1f}s in all)")
    return failures


async def main_async(args: argparse.Namespace) -> int:
    print(
        f"bench_catalog_scale: pid {os.getpid()}, {os.cpu_count()} CPUs shared with whatever "
        "else runs; client, catalog and database on the same machine"
    )
    failures: list[str] = []
    for backend in args.backends.split(","):
        failures += await bench_backend(
            backend, args.rows, args.requests, args.search_requests or args.requests
        )
    if failures:
        print("\ntargets missed:\n  " + "\n  ".join(failures))
    else:
        print("\nevery line within its p99 target")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--backends", default="sqlite,postgresql,mariadb")
    parser.add_argument(
        "--search-requests",
        type=int,
        default=0,
        help="requests per search line (default: --requests); InnoDB FULLTEXT takes seconds "
        "per common-word query at a million rows",
    )
    args = parser.parse_args()
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
