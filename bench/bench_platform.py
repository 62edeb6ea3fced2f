"""The whole platform in the dev profile at a million products, through the gateway.

    .venv/bin/python bench/bench_platform.py [--rows 1000000] [--seconds 20]
        [--connections 32] [--users 24] [--photos]

1. The catalog's MariaDB database ``zipbob_platform_bench_<rows>`` is seeded in bulk by
   bench/catalog_seed.py (not through the API) and kept between runs: a later run reuses
   it when its seed mark holds ``rows`` and its schema is at the migrations' head (else it
   is dropped and seeded again). The seeded sellers get UUIDs (one per seed seller name);
   they are not gateway users, so the load browses as customers only.
2. The dev stack (tests/e2e/dev_stack.py: PostgreSQL, MariaDB, Redis, RabbitMQ, moto,
   nx-27017; one process per service) starts with its catalog on that database.
3. A browse plan: product pages by id (Zipf over the ids, plus a uniform tail), list
   pages (newest, category, price sort, search, rating sort, min_rating) and their cursor
   next pages, each sent with If-None-Match when that user fetched that URL before (as a
   browser revalidating a "no-cache" response would), spread over ``--users`` customers'
   JWTs: each user's share stays below the gateway's per-user limit (100 req/s), so that
   limit is not what is measured (24 users cover 2,400 req/s). wrk (Debian) replays it from
   bench/wrk_plan.lua: a C load generator, so it leaves the cores to what is measured.
4. Runs, each ``--seconds`` long: the same plan straight at the catalog (the baseline),
   through the gateway as fast as it answers (a closed loop: the throughput), through the
   gateway paced at 1,000 req/s (a fixed schedule, twice the connections: the latency at
   the target throughput, which a saturated closed loop would give as the length of its
   own queue), and through the gateway while customers write reviews; the
   rating read-model lag is the time from a review POST's 201 to the catalog's product
   GET showing the new count (review outbox in MongoDB -> RabbitMQ -> catalog consumer),
   polled every 20 ms with a 10 s deadline. Each run prints where the CPU went (every
   process on the machine, by name) beside its request count.

Targets (issue 13): browse >= 1,000 req/s through the gateway, p99 < 100 ms at that rate
(the closed loop's p99 is printed beside it), zero errors; rating lag p99 < 1 s under the
review mix. ``--photos`` adds the older mix: browse while
sellers register 12 MP photos (registration -> variants ready). Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

import aiohttp  # noqa: E402
import catalog_seed  # noqa: E402
from loadgen import run_load  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from tests.e2e.client import ApiClient, User  # noqa: E402
from tests.e2e.dev_stack import DevStack, start_dev_stack  # noqa: E402
from tests.e2e.mixes import register_scenario  # noqa: E402

TARGET_RPS, TARGET_P99_MS, TARGET_LAG_P99_S = 1000.0, 100.0, 1.0
PLAN_LENGTH = 30_000  # requests in the plan; wrk cycles through it
LAG_DEADLINE_S, LAG_POLL_S = 10.0, 0.02
SEARCHES = ["walnut bowl", "handmade", "oak chair", "wal", "linen pillow", "brass lamp",
            "ceramic mug", "vintage desk"]  # fmt: skip


# ---------------------------------------------------------------- the seeded database


def _pymysql(url: str) -> Any:
    return catalog_seed.pymysql_connect(url, autocommit=True)


def _migrations_head() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from zipbob_catalog.migrate import MIGRATIONS_DIR

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def _schema_version(url: str) -> str | None:
    conn = _pymysql(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT version_num FROM alembic_version")
            row = cur.fetchone()
            return str(row[0]) if row else None
    except Exception:
        return None
    finally:
        conn.close()


def _give_sellers_uuids(url: str) -> None:
    """The seed names its sellers ``seller-00042``; the API's seller ids are UUIDs. One
    UUID per seller name (uuid5, so every run maps alike), set with one joined UPDATE."""
    conn = _pymysql(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT seller_id FROM products LIMIT 1")
            row = cur.fetchone()
            if row is None:
                return
            try:
                uuid.UUID(row[0])
                return
            except ValueError:
                pass
            print("mariadb: giving the seeded sellers UUIDs ...", flush=True)
            cur.execute("DROP TABLE IF EXISTS bench_platform_sellers")
            cur.execute(
                "CREATE TABLE bench_platform_sellers (name VARCHAR(64) PRIMARY KEY, "
                "id CHAR(36) NOT NULL)"
            )
            cur.executemany(
                "INSERT INTO bench_platform_sellers VALUES (%s, %s)",
                [(n, str(uuid.uuid5(uuid.NAMESPACE_URL, n))) for n in catalog_seed.SELLERS],
            )
            cur.execute(
                "UPDATE products p JOIN bench_platform_sellers s ON p.seller_id = s.name "
                "SET p.seller_id = s.id"
            )
            cur.execute("DROP TABLE bench_platform_sellers")
    finally:
        conn.close()


def list_page_outcomes(catalog: str) -> dict[str, float]:
    """The catalog's zipbob_catalog_list_pages_total by outcome (products.pagecache)."""
    with urllib.request.urlopen(catalog + "/metrics", timeout=10) as response:
        scraped = response.read().decode()
    return {
        sample.labels["outcome"]: sample.value
        for family in text_string_to_metric_families(scraped)
        if family.name == "zipbob_catalog_list_pages"
        for sample in family.samples
        if sample.name == "zipbob_catalog_list_pages_total"
    }


def print_page_cache(before: dict[str, float], after: dict[str, float]) -> None:
    kinds = ("hit", "shared", "miss", "refresh")
    delta = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in kinds}
    pages = delta["hit"] + delta["shared"] + delta["miss"]  # a refresh is a hit's reload
    if pages:
        print(f"  list pages: {pages:,.0f}, from the page cache {delta['hit']:,.0f} "
              f"({delta['hit'] / pages:.0%}), sharing a load {delta['shared']:,.0f}, "
              f"from the database {delta['miss']:,.0f}; reloaded in the background "
              f"{delta['refresh']:,.0f}")  # fmt: skip


async def seeded_database(rows: int) -> str:
    """The URL of a MariaDB catalog database holding ``rows`` seeded products at the
    current schema head (created, or dropped and seeded again, when it does not)."""
    from zipbob_devkit.testing import MARIADB_ADMIN_URL

    name = f"zipbob_platform_bench_{rows}"
    url = MARIADB_ADMIN_URL.rstrip("/") + f"/{name}?charset=utf8mb4"
    admin = _pymysql(MARIADB_ADMIN_URL)
    try:
        with admin.cursor() as cur:
            cur.execute(f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4")
            head, version = _migrations_head(), _schema_version(url)
            done = await catalog_seed.seeded_rows(url)
            if done is not None and (done != rows or version != head):
                print(f"mariadb: {name} holds {done:,} rows at schema {version}, "
                      f"want {rows:,} at {head}: seeding again")  # fmt: skip
                cur.execute(f"DROP DATABASE `{name}`")
                cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    finally:
        admin.close()
    seconds = await catalog_seed.ensure_seeded("mariadb", url, rows)
    _give_sellers_uuids(url)
    if seconds is None:
        print(f"mariadb: reusing {name} ({rows:,} products, schema {_migrations_head()})")
    return url


def product_ids(url: str) -> tuple[list[str], list[str]]:
    """Every id, and the ids of products the read model holds no rating for (version 0).
    Reviews go to those only: the seed gives 60 % of products a rating at version 1 that
    the review service (empty at each start) never wrote, so their first summary (version
    1) is rightly ignored as not newer; and a product reviewed in an earlier run keeps the
    version that run reached."""
    conn = _pymysql(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT id, rating_version FROM products")
            rows = cur.fetchall()
    finally:
        conn.close()
    return [r[0] for r in rows], [r[0] for r in rows if r[1] == 0]


# ---------------------------------------------------------------- the browse plan


@dataclass
class Plan:
    lines: list[tuple[str, int, str]]  # (path, user index, If-None-Match or "")
    kinds: dict[str, int] = field(default_factory=dict)

    def write(self, path: Path) -> None:
        path.write_text("".join(f"{p}\t{u}\t{e}\n" for p, u, e in self.lines))


def list_queries() -> list[dict[str, str]]:
    queries: list[dict[str, str]] = [{}, {"sort": "rating_desc"}, {"sort": "price_asc"},
                                     {"min_rating": "4.5"}]  # fmt: skip
    for category in catalog_seed.CATEGORIES[:12]:
        queries.append({"category": category})
        queries.append({"category": category, "sort": "price_asc"})
        queries.append({"category": category, "sort": "price_desc"})
    queries += [{"q": q} for q in SEARCHES]
    return queries


async def _get(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str] | None = None
) -> tuple[int, str, Any]:
    async with session.get(url, headers=headers or {}) as response:
        body = await response.read()
        data = json.loads(body) if response.status == 200 else None
        return response.status, response.headers.get("ETag", ""), data


async def cursor_chains(catalog: str, pages: int) -> list[list[str]]:
    """For each list query: the paths of its first ``pages`` pages, following next_cursor."""
    chains = []
    async with aiohttp.ClientSession() as session:
        for query in list_queries():
            params = {**query, "size": "20"}
            chain = [f"/api/products?{urllib.parse.urlencode(params)}"]
            for _ in range(pages - 1):
                status, _, body = await _get(session, catalog + chain[-1])
                if status != 200:
                    raise SystemExit(f"catalog {chain[-1]}: {status}")
                if not body["next_cursor"]:
                    break
                cursor = urllib.parse.urlencode({**params, "cursor": body["next_cursor"]})
                chain.append(f"/api/products?{cursor}")
            chains.append(chain)
    return chains


def build_plan(ids: list[str], chains: list[list[str]], users: int, *, seed: int = 13) -> Plan:
    """Users' sessions interleaved: each step is a user looking at a product (60 %: Zipf
    over a shuffled ranking of every id 80 % of the time, uniform 20 %) or a list page
    (40 %), which a quarter of the time continues to the next page of its cursor chain."""
    rng = random.Random(seed)
    ranking = ids[:]
    rng.shuffle(ranking)
    weights = list(itertools.accumulate(1.0 / (rank + 1) ** 1.05 for rank in range(len(ranking))))
    at: dict[int, tuple[int, int]] = {}  # user -> (chain, page) a cursor walk is at
    lines: list[tuple[str, int, str]] = []
    kinds: dict[str, int] = {}
    while len(lines) < PLAN_LENGTH:
        user = rng.randrange(users)
        if user in at and rng.random() < 0.25:
            chain, page = at.pop(user)
            if page + 1 < len(chains[chain]):
                at[user] = (chain, page + 1)
                lines.append((chains[chain][page + 1], user, ""))
                kinds["list, cursor next page"] = kinds.get("list, cursor next page", 0) + 1
                continue
        if rng.random() < 0.6:
            if rng.random() < 0.8:
                product = rng.choices(ranking, cum_weights=weights)[0]
                kind = "product by id (Zipf)"
            else:
                product = rng.choice(ids)
                kind = "product by id (uniform)"
            lines.append((f"/api/products/{product}", user, ""))
        else:
            chain = rng.randrange(len(chains))
            at[user] = (chain, 0)
            lines.append((chains[chain][0], user, ""))
            path = chains[chain][0]
            kind = "list, search" if "q=" in path else "list, first page"
        kinds[kind] = kinds.get(kind, 0) + 1
    return Plan(lines, kinds)


async def add_revalidations(plan: Plan, catalog: str) -> None:
    """A user's second and later GET of a URL carries the ETag of the copy it holds."""
    seen: set[tuple[str, int]] = set()
    again: set[str] = set()
    for path, user, _ in plan.lines:
        if (path, user) in seen:
            again.add(path)
        seen.add((path, user))
    etags: dict[str, str] = {}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=8)) as session:
        todo = sorted(again)
        for start in range(0, len(todo), 64):
            batch = todo[start : start + 64]
            results = await asyncio.gather(*(_get(session, catalog + p) for p in batch))
            etags.update({p: etag for p, (_, etag, _) in zip(batch, results, strict=True)})
    seen.clear()
    revalidated = 0
    for n, (path, user, _) in enumerate(plan.lines):
        if (path, user) in seen and etags.get(path):
            plan.lines[n] = (path, user, etags[path])
            revalidated += 1
        seen.add((path, user))
    plan.kinds["(of these, with If-None-Match)"] = revalidated


# ---------------------------------------------------------------- CPU accounting


def _process_cpu() -> dict[int, tuple[str, float]]:
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw.rsplit(")", 1)[1].split()
        out[int(entry.name)] = (comm, (int(fields[11]) + int(fields[12])) / tick)
    return out


def _machine_busy() -> float:
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU seconds per process between start() and stop(), grouped under readable names
    (the stack's services by name; everything else by its command name)."""

    def __init__(self, labels: dict[int, str]) -> None:
        self.labels = labels

    def start(self) -> None:
        self.before, self.busy_before, self.started = (
            _process_cpu(),
            _machine_busy(),
            time.monotonic(),
        )

    def stop(self, extra: dict[str, float] | None = None) -> dict[str, float]:
        after, busy = _process_cpu(), _machine_busy()
        self.elapsed = time.monotonic() - self.started
        used: dict[str, float] = dict(extra or {})
        for pid, (comm, seconds) in after.items():
            start = self.before.get(pid, (comm, 0.0))[1]
            label = self.labels.get(pid) or _group(comm)
            used[label] = used.get(label, 0.0) + seconds - start
        used["machine (all processes)"] = busy - self.busy_before
        return used


def _group(comm: str) -> str:
    if comm.startswith("postgres"):
        return "postgresql"
    if comm in ("beam.smp", "erl_child_setup", "epmd", "inet_gethost"):
        return "rabbitmq"
    return comm


def print_cpu(used: dict[str, float], seconds: float, requests: int) -> None:
    total = used.pop("machine (all processes)")
    rows = sorted(used.items(), key=lambda kv: -kv[1])
    shown = [(k, v) for k, v in rows if v / seconds >= 0.01][:10]
    print(f"  CPU, {seconds:.0f} s, {requests:,} requests "
          f"(cores busy; µs of CPU per request):")  # fmt: skip
    for label, cpu in shown:
        per_request = cpu * 1e6 / max(requests, 1)
        print(f"    {label:<28} {cpu / seconds:5.2f} cores  {per_request:7.0f} µs/req")
    print(f"    {'machine, all processes':<28} {total / seconds:5.2f} cores  "
          f"{total * 1e6 / max(requests, 1):7.0f} µs/req (of {os.cpu_count()} cores)")  # fmt: skip


# ---------------------------------------------------------------- wrk


@dataclass
class WrkResult:
    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    socket_errors: int
    statuses: dict[int, int]
    cpu_seconds: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def errors(self) -> int:
        bad = sum(n for status, n in self.statuses.items() if status not in (200, 304))
        return self.socket_errors + bad


def run_wrk(
    base: str,
    plan: Path,
    tokens: Path | None,
    *,
    connections: int,
    seconds: float,
    rate: float | None = None,
) -> WrkResult:
    """The plan replayed by wrk: a closed loop (each connection sends again once answered),
    or with ``rate`` on a fixed schedule of that many requests a second (bench/wrk_plan.lua)."""
    host = urllib.parse.urlsplit(base).netloc
    args = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "5s",
            "-s", str(HERE / "wrk_plan.lua"), base, "--", str(plan),
            str(tokens) if tokens else "-", host]  # fmt: skip
    if rate is not None:
        args.append(f"{rate:g}")
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = process.communicate()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    if process.returncode != 0:
        raise SystemExit(f"wrk failed ({process.returncode}): {err}\n{out}")
    match = re.search(r"^plan: (.*)$", out, re.M)
    if not match:
        raise SystemExit(f"no plan line in wrk output:\n{out}\n{err}")
    values = dict(part.split("=", 1) for part in match.group(1).split())
    statuses = {
        int(k): int(v) for k, v in (p.split("=") for p in values["statuses"].split(",") if p)
    }
    ms = lambda key: int(values[key]) / 1000  # noqa: E731
    return WrkResult(
        requests=int(values["requests"]), seconds=int(values["duration_us"]) / 1e6,
        p50_ms=ms("p50_us"), p90_ms=ms("p90_us"), p99_ms=ms("p99_us"), p999_ms=ms("p999_us"),
        max_ms=ms("max_us"),
        socket_errors=sum(int(values[k]) for k in ("connect", "read", "write", "timeout")),
        statuses=statuses, cpu_seconds=usage.ru_utime + usage.ru_stime,
    )  # fmt: skip


def wrk_cpu_meter() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def print_wrk(label: str, result: WrkResult) -> None:
    statuses = ", ".join(f"{s}: {n:,}" for s, n in sorted(result.statuses.items()))
    print(f"\n[{label}] {result.rps:,.0f} req/s over {result.seconds:.1f} s; latency p50 "
          f"{result.p50_ms:.1f} ms, p90 {result.p90_ms:.1f}, p99 {result.p99_ms:.1f}, "
          f"p99.9 {result.p999_ms:.1f}, max {result.max_ms:.1f}; errors {result.errors} "
          f"(statuses {statuses}; socket errors {result.socket_errors})")  # fmt: skip


# ---------------------------------------------------------------- users and reviews


def make_users(gateway: str, count: int) -> list[User]:
    def one(_: int) -> User:
        api = ApiClient(gateway)
        try:
            return api.new_user("customer")
        finally:
            api.close()

    # One at a time: the gateway answers 503 to sign-ins beyond its password-hashing slots.
    return [one(n) for n in range(count)]


@dataclass
class LagReport:
    lags: list[float] = field(default_factory=list)
    missed: int = 0
    posts: int = 0
    errors: int = 0


async def review_mix(gateway: str, catalog: str, customers: list[User], ids: list[str],
                     *, workers: int, seconds: float) -> LagReport:  # fmt: skip
    """Customers review random products (uniform over every id, so two reviews of one
    product within a poll are rare); each 201 starts a clock that stops when the catalog's
    own GET of that product shows the count one higher than before the POST."""
    report = LagReport()
    rng = random.Random(7)

    async def worker(index: int, session: aiohttp.ClientSession) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            customer = rng.choice(customers)
            product = rng.choice(ids)
            _, _, before = await _get(session, f"{catalog}/api/products/{product}")
            if before is None:
                report.errors += 1
                continue
            count = before["rating"]["count"]
            async with session.post(
                f"{gateway}/api/products/{product}/reviews",
                json={"rating": rng.randint(1, 5), "title": "bench", "body": "a review"},
                headers=customer.headers,
            ) as response:
                await response.read()
                status = response.status
            report.posts += 1
            if status == 409:
                continue
            if status != 201:
                report.errors += 1
                continue
            written = time.monotonic()
            while time.monotonic() - written < LAG_DEADLINE_S:
                _, _, now = await _get(session, f"{catalog}/api/products/{product}")
                if now is not None and now["rating"]["count"] > count:
                    report.lags.append(time.monotonic() - written)
                    break
                await asyncio.sleep(LAG_POLL_S)
            else:
                report.missed += 1

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(worker(i, session) for i in range(workers)))
    return report


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def print_lag(label: str, lag: LagReport, seconds: float) -> None:
    print(f"  rating read-model lag, {label}: {len(lag.lags)} reviews ({lag.posts / seconds:.1f} "
          f"POST/s): p50 {pct(lag.lags, 0.5) * 1000:.0f} ms, p99 {pct(lag.lags, 0.99) * 1000:.0f} "
          f"ms, max {max(lag.lags, default=float('nan')) * 1000:.0f} ms; not seen within "
          f"{LAG_DEADLINE_S:.0f} s: {lag.missed}; errors {lag.errors}")  # fmt: skip


# ---------------------------------------------------------------- photos (optional mix)


def photos_run(stack: DevStack, args: argparse.Namespace, plan: Path, tokens: Path) -> int:
    from tests.e2e.photos import photo_jpeg

    api = ApiClient(stack.urls["gateway"])
    sellers = [api.new_user("seller") for _ in range(2)]
    api.close()
    photo = photo_jpeg(4000, 3000)
    ready: list[float] = []
    pending: list[str] = []

    async def both() -> tuple[WrkResult, Any]:
        browse = asyncio.to_thread(run_wrk, stack.urls["gateway"], plan, tokens,
                                   connections=args.connections, seconds=args.seconds)  # fmt: skip
        register = run_load("register with photos", stack.urls["gateway"],
                            register_scenario(sellers, photo, ready, pending), workers=2,
                            seconds=args.seconds)  # fmt: skip
        return await asyncio.gather(browse, register)

    browse, registrations = asyncio.run(both())
    print_wrk("browse while sellers register 12 MP photos", browse)
    registrations.print()
    print(f"  12 MP photo, registration -> variants ready (n={len(ready)}): p50 "
          f"{pct(ready, 0.5):.2f} s, p99 {pct(ready, 0.99):.2f} s; pending after 120 s: "
          f"{len(pending)}")  # fmt: skip
    return browse.errors + registrations.errors + len(pending)


# ---------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--users", type=int, default=24)
    parser.add_argument("--review-workers", type=int, default=4)
    parser.add_argument("--photos", action="store_true", help="also the 12 MP registration mix")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("bench_platform needs wrk (Debian: apt-get install -y wrk)")

    started = time.monotonic()
    url = asyncio.run(seeded_database(args.rows))
    ids, unrated = product_ids(url)
    print(f"{len(ids):,} products in the catalog database, {len(unrated):,} without a rating "
          f"({time.monotonic() - started:.0f} s)")  # fmt: skip

    data_dir = Path(tempfile.mkdtemp(prefix="zipbob-bench-platform-"))
    env = {
        "ZIPBOB_LOGGING__LEVEL": "WARNING",
        "ZIPBOB_CATALOG_DATABASE__URL": url,
        # Bench-only: every signup comes from 127.0.0.1, whose /api/auth/* limit (5/s)
        # would make creating the users take a minute. Browsing keeps its per-user limit.
        "ZIPBOB_RATE_LIMITS__AUTH__RATE_PER_SECOND": "1000",
        "ZIPBOB_RATE_LIMITS__AUTH__BURST": "1000",
    }
    with catalog_seed.dev_profile_buffer_pool(url):
        stack = start_dev_stack(data_dir, extra_env=env, proxied=False)
        try:
            return measure(stack, args, ids, unrated, data_dir)
        finally:
            stack.stop()
            shutil.rmtree(data_dir, ignore_errors=True)


def measure(
    stack: DevStack, args: argparse.Namespace, ids: list[str], unrated: list[str], data_dir: Path
) -> int:
    gateway, catalog = stack.urls["gateway"], stack.urls["catalog"]
    print(f"machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
          f"Python {platform.python_version()}; dev profile (MariaDB catalog, PostgreSQL "
          f"gateway, Redis, RabbitMQ, moto, nx-27017), one process per service; "
          f"load average {os.getloadavg()[0]:.2f} before the runs")  # fmt: skip
    users = make_users(gateway, args.users)
    tokens = data_dir / "tokens.txt"
    tokens.write_text("".join(u.access_token + "\n" for u in users))
    chains = asyncio.run(cursor_chains(catalog, pages=4))
    plan = build_plan(ids, chains, args.users)
    asyncio.run(add_revalidations(plan, catalog))
    plan_path = data_dir / "plan.txt"
    plan.write(plan_path)
    print(f"browse plan: {len(plan.lines):,} requests over {args.users} customers "
          f"({len(chains)} list queries with cursor chains), replayed by wrk, "
          f"{args.connections} connections:")  # fmt: skip
    for kind, count in plan.kinds.items():
        print(f"  {kind:<34} {count / len(plan.lines):6.1%}")

    labels = {c.process.pid: c.name for c in stack.processes.children}
    labels[os.getpid()] = "bench (Python: plan, review mix)"
    meter = CpuMeter(labels)

    def measured(label: str, base: str, with_tokens: bool, rate: float | None = None) -> WrkResult:
        meter.start()
        before, pages = wrk_cpu_meter(), list_page_outcomes(catalog)
        # Paced, the connections are a pool the schedule draws on: twice as many, so a
        # slow answer does not hold the next request back.
        connections = args.connections * (2 if rate else 1)
        result = run_wrk(base, plan_path, tokens if with_tokens else None,
                         connections=connections, seconds=args.seconds, rate=rate)  # fmt: skip
        used = meter.stop({"wrk (load generator)": result.cpu_seconds - before})
        print_wrk(label, result)
        print_cpu(used, meter.elapsed, result.requests)
        print_page_cache(pages, list_page_outcomes(catalog))
        return result

    run_wrk(gateway, plan_path, tokens, connections=args.connections, seconds=5)  # warm-up
    direct = measured("baseline: the same plan straight at the catalog, no gateway", catalog, False)
    through = measured("browse through the gateway, as fast as it answers", gateway, True)
    paced = measured(
        f"browse through the gateway at {TARGET_RPS:,.0f} req/s (paced)", gateway, True,
        rate=TARGET_RPS,
    )  # fmt: skip

    reviewing = {"workers": args.review_workers}
    lag_alone = asyncio.run(
        review_mix(gateway, catalog, users, unrated, seconds=args.seconds / 2, **reviewing)
    )
    print("\n[review mix alone]")
    print_lag("no browse load", lag_alone, args.seconds / 2)

    async def browse_and_review() -> tuple[WrkResult, LagReport, dict[str, float], float]:
        meter.start()
        before = wrk_cpu_meter()
        browse = asyncio.to_thread(run_wrk, gateway, plan_path, tokens,
                                   connections=args.connections, seconds=args.seconds)  # fmt: skip
        reviews = review_mix(gateway, catalog, users, unrated, workers=args.review_workers,
                             seconds=args.seconds)  # fmt: skip
        result, lag = await asyncio.gather(browse, reviews)
        used = meter.stop({"wrk (load generator)": result.cpu_seconds - before})
        return result, lag, used, meter.elapsed

    pages = list_page_outcomes(catalog)
    under, lag_under, used, elapsed = asyncio.run(browse_and_review())
    print_wrk("browse through the gateway while customers write reviews", under)
    print_cpu(used, elapsed, under.requests)
    print_page_cache(pages, list_page_outcomes(catalog))
    print_lag("under browse load", lag_under, args.seconds)

    errors = direct.errors + through.errors + paced.errors + under.errors
    errors += lag_alone.errors + lag_under.errors
    errors += lag_alone.missed + lag_under.missed
    if args.photos:
        errors += photos_run(stack, args, plan_path, tokens)

    print(f"\nload average after the runs: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores "
          "(the machine is shared: 'machine, all processes' includes other work)")  # fmt: skip
    lag_p99 = pct(lag_under.lags, 0.99)
    verdicts = [
        (f"browse through the gateway >= {TARGET_RPS:,.0f} req/s", through.rps >= TARGET_RPS,
         f"{through.rps:,.0f} (catalog alone {direct.rps:,.0f})"),
        (f"p99 < {TARGET_P99_MS:.0f} ms at {TARGET_RPS:,.0f} req/s",
         paced.p99_ms < TARGET_P99_MS and paced.rps >= TARGET_RPS * 0.98,
         f"{paced.p99_ms:.1f} ms at {paced.rps:,.0f} req/s (as fast as it answers: "
         f"{through.p99_ms:.1f} ms; catalog alone {direct.p99_ms:.1f})"),
        ("zero errors", errors == 0, str(errors)),
        (f"rating lag p99 < {TARGET_LAG_P99_S:.0f} s under the review mix",
         lag_p99 < TARGET_LAG_P99_S, f"{lag_p99 * 1000:.0f} ms"),
    ]  # fmt: skip
    print("targets:")
    for name, ok, figure in verdicts:
        print(f"  {name:<48} {'met' if ok else 'MISSED':<7} {figure}")
    return 0 if all(ok for _, ok, _ in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
