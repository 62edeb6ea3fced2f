"""Bulk seeding of a catalog database with N synthetic products (not through the API).

PostgreSQL: asyncpg ``COPY``; MariaDB: ``LOAD DATA LOCAL INFILE`` of the products and of
their ``product_search_terms`` rows (the catalog's own tokenizer), files sorted by primary
key, secondary indexes dropped for the load and built once after it; SQLite: ``executemany`` in one
transaction with the FTS5 triggers dropped, then an FTS5 ``rebuild`` and the triggers put
back (the same statements migration 0002 uses). A ``bench_seed`` row marks a finished
seed, so a later run reuses the database instead of seeding again.

The corpus: names "<adjective> <material> <noun>", a description of about a dozen words.
``handmade`` is in ~30 % of descriptions (the common word), ``zephyrine`` in one row of
50,000 (the rare word), ``wal`` prefixes walnut (~1/30 of rows) and wall (a noun).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from zipbob_catalog.migrate import MIGRATIONS_DIR, upgrade_to_head

REPO = Path(__file__).resolve().parents[1]

ADJECTIVES = [
    "rustic",
    "modern",
    "vintage",
    "compact",
    "sturdy",
    "elegant",
    "classic",
    "minimalist",
    "cozy",
    "bold",
    "bright",
    "sleek",
    "antique",
    "portable",
    "foldable",
    "premium",
    "durable",
    "natural",
    "matte",
    "glossy",
    "tiny",
    "large",
    "round",
    "square",
    "slim",
    "soft",
    "warm",
    "cool",
    "quiet",
    "smart",
    "simple",
    "noble",
    "humble",
    "golden",
    "silver",
    "crimson",
    "azure",
    "ivory",
    "amber",
]
MATERIALS = [
    "walnut",
    "oak",
    "maple",
    "pine",
    "birch",
    "cherry",
    "teak",
    "bamboo",
    "steel",
    "brass",
    "copper",
    "iron",
    "aluminium",
    "glass",
    "ceramic",
    "porcelain",
    "marble",
    "granite",
    "leather",
    "linen",
    "cotton",
    "wool",
    "silk",
    "velvet",
    "rattan",
    "wicker",
    "cork",
    "concrete",
    "resin",
    "slate",
]
NOUNS = [
    "bowl",
    "desk",
    "chair",
    "table",
    "lamp",
    "shelf",
    "cabinet",
    "stool",
    "bench",
    "mirror",
    "clock",
    "vase",
    "tray",
    "mug",
    "plate",
    "cup",
    "jug",
    "teapot",
    "kettle",
    "pan",
    "pot",
    "knife",
    "board",
    "rack",
    "hook",
    "wall",
    "sofa",
    "bed",
    "pillow",
    "blanket",
    "rug",
    "curtain",
    "basket",
    "box",
    "crate",
    "bin",
    "planter",
    "candle",
    "holder",
    "frame",
    "easel",
    "sideboard",
    "dresser",
    "wardrobe",
    "ottoman",
    "trolley",
    "ladder",
    "stand",
    "desklamp",
    "bookend",
    "coaster",
    "spoon",
    "fork",
    "ladle",
    "whisk",
    "grater",
    "sieve",
    "colander",
]
ROOMS = [
    "kitchen",
    "bedroom",
    "office",
    "hallway",
    "garden",
    "studio",
    "bathroom",
    "nursery",
    "library",
    "patio",
]
FILLER = [
    "made",
    "with",
    "care",
    "for",
    "everyday",
    "use",
    "and",
    "built",
    "to",
    "last",
    "years",
    "finished",
    "by",
    "hand",
    "in",
    "small",
    "batches",
    "easy",
    "to",
    "clean",
    "gift",
    "ready",
]
CATEGORIES = [f"category-{n:02d}" for n in range(50)]
SELLERS = [f"seller-{n:05d}" for n in range(5000)]
COMMON_WORD, RARE_WORD, PREFIX = "handmade", "zephyrine", "wal"
START = datetime(2024, 1, 1, tzinfo=UTC)


def product_rows(count: int, *, seed: int = 13) -> Iterator[tuple[Any, ...]]:
    """(id, seller_id, name, description, price, currency, stock, category, created_at,
    updated_at, rating_hundredths, rating_count, rating_version), oldest first."""
    rng = random.Random(seed)
    step = (2 * 365 * 86400) / max(count, 1)
    for n in range(count):
        created = (START + timedelta(seconds=n * step)).replace(tzinfo=None)
        material = rng.choice(MATERIALS)
        noun = rng.choice(NOUNS)
        name = f"{rng.choice(ADJECTIVES).title()} {material} {noun}"
        words = [rng.choice(ADJECTIVES), noun, "of", material, "for", "the", rng.choice(ROOMS)]
        words += rng.sample(FILLER, 5)
        if rng.random() < 0.3:
            words.insert(0, COMMON_WORD)
        if n % 50_000 == 7:
            words.append(RARE_WORD)
        rated = rng.random() < 0.6
        yield (
            str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            rng.choice(SELLERS),
            name,
            " ".join(words).capitalize() + ".",
            rng.randrange(100, 1_000_000) * 10,  # thousandths: 0.10 .. 9,999.99
            "EUR",
            rng.randrange(0, 500),
            rng.choice(CATEGORIES),
            created,
            created,
            rng.randrange(100, 501) if rated else 0,
            rng.randrange(1, 300) if rated else 0,
            1 if rated else 0,
        )


COLUMNS = (
    "id, seller_id, name, description, price, currency, stock, category, created_at, "
    "updated_at, rating_hundredths, rating_count, rating_version"
)


async def seeded_rows(url: str) -> int | None:
    """The row count of a finished seed in this database, or None."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            try:
                result = await conn.execute(text("SELECT rows_seeded FROM bench_seed"))
            except Exception:
                return None
            value = result.scalar()
            return int(value) if value is not None else None
    finally:
        await engine.dispose()


async def _mark(url: str, rows: int) -> None:
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE bench_seed (rows_seeded INTEGER NOT NULL)"))
        await conn.execute(text("INSERT INTO bench_seed VALUES (:n)"), {"n": rows})
    await engine.dispose()


def _batches(rows: int, size: int) -> Iterator[list[tuple[Any, ...]]]:
    batch: list[tuple[Any, ...]] = []
    for row in product_rows(rows):
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


async def _seed_postgresql(url: str, rows: int) -> None:
    import asyncpg

    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        names = [c.strip() for c in COLUMNS.split(",")]
        for batch in _batches(rows, 50_000):
            await conn.copy_records_to_table("products", records=batch, columns=names)
        await conn.execute("VACUUM ANALYZE products")  # visibility map: index-only scans
    finally:
        await conn.close()


def pymysql_connect(url: str, **options: Any) -> Any:
    """A blocking PyMySQL connection to the database a SQLAlchemy MariaDB URL names, whatever
    its async driver (bulk loads and admin statements outside the services' engines)."""
    import pymysql
    from sqlalchemy.engine import make_url

    parts = make_url(url)
    return pymysql.connect(
        host=parts.host or "127.0.0.1",
        port=parts.port or 3306,
        user=parts.username or "root",
        password=parts.password or "",
        database=parts.database or None,
        charset="utf8mb4",
        **options,
    )


_SIZE = re.compile(r"--innodb-buffer-pool-size=(\d+)([KMG]?)")


def compose_buffer_pool() -> int:
    """The InnoDB buffer pool docker-compose.yml gives the dev profile's MariaDB, in bytes."""
    found = _SIZE.search((REPO / "docker-compose.yml").read_text())
    if found is None:
        raise SystemExit("docker-compose.yml sets no --innodb-buffer-pool-size for mariadb")
    return int(found.group(1)) * 1024 ** " KMG".index(found.group(2) or " ")


@contextlib.contextmanager
def dev_profile_buffer_pool(url: str) -> Iterator[None]:
    """The machine's MariaDB with the dev profile's buffer pool (compose's), the size it
    had put back afterwards: the image's default 128M holds a tenth of a million products."""
    wanted = compose_buffer_pool()
    conn = pymysql_connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT @@innodb_buffer_pool_size")
            had = int(cur.fetchone()[0])
            cur.execute(f"SET GLOBAL innodb_buffer_pool_size = {wanted}")
        print(f"mariadb: innodb_buffer_pool_size {had >> 20} MiB -> {wanted >> 20} MiB "
              "(docker-compose.yml) for the runs", flush=True)  # fmt: skip
        yield
    finally:
        with conn.cursor() as cur:
            cur.execute(f"SET GLOBAL innodb_buffer_pool_size = {had}")
        conn.close()


def _seed_mariadb(url: str, rows: int) -> None:
    """LOAD DATA LOCAL INFILE of the products and their search terms, each file sorted by
    its primary key (sequential clustered inserts) and loaded with the secondary indexes
    dropped, which are then built once by sorting."""
    import tempfile

    from zipbob_catalog.products import search

    conn = pymysql_connect(url, local_infile=True)
    try:
        with conn.cursor() as cur, tempfile.TemporaryDirectory(prefix="zipbob-seed-") as tmp:
            products_file, terms_file = Path(tmp) / "products.tsv", Path(tmp) / "terms.tsv"
            _write_mariadb_files(rows, products_file, terms_file)
            for table, path in (("products", products_file), (search.TERMS_TABLE, terms_file)):
                keys = _secondary_keys(cur, table)
                if keys:
                    drops = ", ".join(f"DROP INDEX `{name}`" for name, _ in keys)
                    cur.execute(f"ALTER TABLE `{table}` {drops}")
                columns = COLUMNS if table == "products" else "term, product_id, created_at, weight"
                cur.execute(
                    f"LOAD DATA LOCAL INFILE %s INTO TABLE `{table}` CHARACTER SET utf8mb4"
                    f" FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\'"
                    f" LINES TERMINATED BY '\\n' ({columns})",
                    (str(path),),
                )
                conn.commit()
                if keys:
                    adds = ", ".join(f"ADD {definition}" for _, definition in keys)
                    cur.execute(f"ALTER TABLE `{table}` {adds}")
                cur.execute(f"ANALYZE TABLE `{table}`")
        conn.commit()
    finally:
        conn.close()


def _tsv(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def _write_mariadb_files(rows: int, products_file: Path, terms_file: Path) -> None:
    from zipbob_catalog.products import search

    products: list[tuple[Any, ...]] = []
    terms: list[tuple[str, str, str, int]] = []
    vocabulary: dict[str, str] = {}
    for row in product_rows(rows):
        created = row[8].strftime("%Y-%m-%d %H:%M:%S.%f")
        products.append((*row[:8], created, created, *row[10:]))
        for term, weight in search.document_terms(row[2], row[3]).items():
            term = vocabulary.setdefault(term, term)
            terms.append((term, row[0], created, weight))
    products.sort(key=lambda r: r[0])
    with products_file.open("w", encoding="utf-8") as out:
        for product in products:
            out.write("\t".join(_tsv(v) for v in product) + "\n")
    del products
    # utf8mb4_bin orders terms by code point, as Python compares str.
    terms.sort(key=lambda r: (r[0], r[1]))
    with terms_file.open("w", encoding="utf-8") as out:
        for entry in terms:
            out.write("\t".join(_tsv(v) for v in entry) + "\n")


def _secondary_keys(cur: Any, table: str) -> list[tuple[str, str]]:
    """(name, definition) of every secondary index, from SHOW CREATE TABLE."""
    import re

    cur.execute(f"SHOW CREATE TABLE `{table}`")
    ddl = cur.fetchone()[1]
    found = re.findall(r"^\s*((?:UNIQUE |FULLTEXT )?KEY `(\w+)` .*?),?$", ddl, re.MULTILINE)
    return [(name, definition) for definition, name in found]


def _seed_sqlite(url: str, rows: int) -> None:
    import sqlite3

    conn = sqlite3.connect(url.split("///", 1)[1])
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        for trigger in ("insert", "update", "delete"):
            conn.execute(f"DROP TRIGGER products_fts_{trigger}")
        statement = (
            f"INSERT INTO products ({COLUMNS}, search_rowid) VALUES ({', '.join(['?'] * 14)})"
        )
        counter = 0
        with conn:
            for batch in _batches(rows, 50_000):
                numbered = []
                for row in batch:
                    counter += 1
                    # SQLAlchemy's SQLite DATETIME text form (always with microseconds).
                    created = row[8].strftime("%Y-%m-%d %H:%M:%S.%f")
                    numbered.append((*row[:8], created, created, *row[10:], counter))
                conn.executemany(statement, numbered)
        with conn:
            conn.execute("INSERT INTO products_fts(products_fts) VALUES ('rebuild')")
            for statement in _migration_0002().SQLITE_UP:
                if "CREATE TRIGGER" in statement:
                    conn.execute(statement)
        conn.execute("ANALYZE")
    finally:
        conn.close()


def _migration_0002() -> Any:
    import importlib.util

    path = MIGRATIONS_DIR / "versions" / "0002_search_pages_ratings.py"
    spec = importlib.util.spec_from_file_location("catalog_migration_0002", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def database_url(backend: str, rows: int) -> str:
    """The bench's own database for ``rows`` products (created if missing, kept after)."""
    from zipbob_devkit.testing import MARIADB_ADMIN_URL, POSTGRES_ADMIN_URL

    name = f"zipbob_bench_scale_{rows}"
    if backend == "sqlite":
        data_dir().mkdir(parents=True, exist_ok=True)
        return f"sqlite+aiosqlite:///{data_dir().resolve() / name}.db"
    if backend == "postgresql":
        engine = create_async_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            exists = await conn.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
            )
            if not exists:
                await conn.execute(text(f'CREATE DATABASE "{name}"'))
        await engine.dispose()
        return POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    engine = create_async_engine(MARIADB_ADMIN_URL)
    async with engine.connect() as conn:
        await conn.execute(text(f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4"))
    await engine.dispose()
    return MARIADB_ADMIN_URL.rstrip("/") + f"/{name}?charset=utf8mb4"


async def ensure_seeded(backend: str, url: str, rows: int, *, log: Any = print) -> float | None:
    """Seed ``rows`` products into the (empty or finished) database at ``url``; returns the
    seconds it took, or None when a finished seed of that size was already there."""
    done = await seeded_rows(url)
    if done == rows:
        return None
    if done is not None:
        raise SystemExit(f"{backend}: database holds a seed of {done} rows, not {rows}; drop it")
    if backend == "sqlite":
        Path(url.split("///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(upgrade_to_head, url)
    started = time.monotonic()
    log(f"{backend}: seeding {rows:,} products ...")
    if backend == "postgresql":
        await _seed_postgresql(url, rows)
    elif backend == "mariadb":
        await asyncio.to_thread(_seed_mariadb, url, rows)
    else:
        await asyncio.to_thread(_seed_sqlite, url, rows)
    await _mark(url, rows)
    seconds = time.monotonic() - started
    log(f"{backend}: seeded {rows:,} products in {seconds:.0f}s")
    return seconds


def data_dir() -> Path:
    return Path(os.environ.get("ZIPBOB_DATA_DIR", ".zipbob")) / "bench"
