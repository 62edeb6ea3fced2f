"""MariaDB's inverted index, ``product_search_terms``, stays in step with every product write.

MariaDB only: PostgreSQL and SQLite search natively (tsvector, FTS5) and have no such
table; their search-after-write behaviour is covered in test_catalog_search_pages.py.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from zipbob_catalog.db import make_engine, make_session_factory
from zipbob_catalog.migrate import MIGRATIONS_DIR
from zipbob_catalog.products import search
from zipbob_catalog.products.models import Product
from zipbob_devkit.testing import create_sql_database, drop_sql_database

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def mariadb_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    url = await create_sql_database("mariadb", tmp_dir=tmp_path_factory.mktemp("terms"))
    yield url
    await drop_sql_database("mariadb", url)


async def _migrate(engine: AsyncEngine, revision: str) -> None:
    def upgrade(connection: object) -> None:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    async with engine.begin() as connection:
        await connection.run_sync(upgrade)


@pytest.fixture(scope="module")
async def engine(mariadb_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(mariadb_url, pool_size=2)
    # Rows written at revision 0002 (FULLTEXT) are backfilled by 0003.
    await _migrate(engine, "0002")
    async with engine.begin() as conn:
        for n in range(2500):  # more than one backfill batch of 2,000
            await conn.execute(insert(Product.__table__), [_row(f"Old walnut item {n}", n)])
    await _migrate(engine, "head")
    yield engine
    await engine.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return make_session_factory(engine)


def _row(name: str, n: int = 0, description: str = "made by hand") -> dict[str, object]:
    created = datetime(2021, 1, 1, tzinfo=UTC) + timedelta(seconds=n)
    return {
        "id": str(uuid.uuid4()),
        "seller_id": "terms",
        "name": name,
        "description": description,
        "price": Decimal("1.00"),
        "currency": "EUR",
        "stock": 1,
        "category": "terms",
        "created_at": created,
        "updated_at": created,
    }


async def _terms(engine: AsyncEngine, product_id: str) -> dict[str, int]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(search.TERMS.c.term, search.TERMS.c.weight).where(
                search.TERMS.c.product_id == product_id
            )
        )
        return {term: weight for term, weight in rows.all()}


async def test_backfill_indexed_every_existing_row_and_dropped_fulltext(engine) -> None:
    async with engine.connect() as conn:
        products = await conn.scalar(text("SELECT count(*) FROM products"))
        walnut = await conn.scalar(
            text("SELECT count(*) FROM product_search_terms WHERE term = 'walnut'")
        )
        old = await conn.scalar(
            text("SELECT count(DISTINCT product_id) FROM product_search_terms WHERE term = 'old'")
        )
        fulltext = await conn.scalar(
            text(
                "SELECT count(*) FROM information_schema.statistics WHERE table_schema ="
                " DATABASE() AND table_name = 'products' AND index_type = 'FULLTEXT'"
            )
        )
    assert products >= 2500 and walnut >= 2500 and old >= 2500
    assert fulltext == 0


async def test_terms_follow_insert_rename_and_delete(engine, sessions) -> None:
    row = _row("Walnut Bowl bowl", description="A ÜBER bowl, of oak")
    async with sessions() as session, session.begin():
        session.add(Product(**row))
    described = {"a": 1, "über": 1, "of": 1, "oak": 1}
    # "bowl": twice in the name (10 each), once in the description
    assert await _terms(engine, row["id"]) == {"walnut": 10, "bowl": 21, **described}
    async with sessions() as session, session.begin():
        product = await session.get(Product, row["id"])
        assert product is not None
        product.name = "Teak shelf"
    renamed = {"teak": 10, "shelf": 10, "bowl": 1, **described}
    assert await _terms(engine, row["id"]) == renamed
    async with sessions() as session, session.begin():
        product = await session.get(Product, row["id"])
        assert product is not None
        product.stock = 7  # not the text: the terms stay as they are
    assert await _terms(engine, row["id"]) == renamed
    async with sessions() as session, session.begin():
        product = await session.get(Product, row["id"])
        assert product is not None
        await session.delete(product)
    assert await _terms(engine, row["id"]) == {}


async def test_a_text_change_without_loading_the_old_value_still_replaces_the_terms(
    engine, sessions
) -> None:
    row = _row("Marble clock")
    async with sessions() as session, session.begin():
        session.add(Product(**row))
    async with sessions() as session, session.begin():
        product = await session.get(Product, row["id"])
        assert product is not None
        session.expire(product, ["name"])  # the old name is not in the session
        product.name = "Granite clock"
    assert set(await _terms(engine, row["id"])) == {"granite", "clock", "made", "by", "hand"}


async def test_a_rolled_back_write_leaves_no_terms(engine, sessions) -> None:
    row = _row("Zanzibarite lamp")
    with pytest.raises(RuntimeError):
        async with sessions() as session, session.begin():
            session.add(Product(**row))
            await session.flush()  # the terms are written here, then rolled back
            assert await _terms_in(session, row["id"]) != {}
            raise RuntimeError("the use case failed after its writes")
    assert await _terms(engine, row["id"]) == {}
    kept = _row("Kept lamp")
    async with sessions() as session, session.begin():
        session.add(Product(**kept))
    with pytest.raises(RuntimeError):
        async with sessions() as session, session.begin():
            product = await session.get(Product, kept["id"])
            assert product is not None
            product.name = "Renamed lamp"
            await session.flush()
            raise RuntimeError("rolled back")
    assert set(await _terms(engine, kept["id"])) == {"kept", "lamp", "made", "by", "hand"}


async def _terms_in(session: AsyncSession, product_id: str) -> dict[str, int]:
    rows = await session.execute(
        select(search.TERMS.c.term, search.TERMS.c.weight).where(
            search.TERMS.c.product_id == product_id
        )
    )
    return {term: weight for term, weight in rows.all()}


async def test_a_bulk_insert_indexes_its_rows(engine, sessions) -> None:
    rows = [_row(f"Bulkite crate {n}", n) for n in range(3)]
    async with sessions() as session, session.begin():
        await session.execute(insert(Product), rows)
    for row in rows:
        assert "bulkite" in await _terms(engine, row["id"])
    undated = {key: value for key, value in _row("No date").items() if key != "created_at"}
    with pytest.raises(ValueError, match="created_at"):
        async with sessions() as session, session.begin():
            await session.execute(insert(Product), [undated])


async def test_the_token_with_the_fewest_postings_drives_the_walk(engine, sessions) -> None:
    """InnoDB's estimate of each token's postings (EXPLAIN) picks the driver, in whichever
    order the words come; prefixes count every term they cover."""
    async with sessions() as session, session.begin():
        for n in range(3):
            session.add(Product(**_row(f"Walnut zebrawood box {n}", 9000 + n)))
    async with engine.connect() as conn:
        plan = await search.mariadb_plan(conn, ["walnut", "zebrawood"])
        assert plan is not None and plan.driver == 1
        assert plan.sizes[0] > 2500 > plan.sizes[1] >= 3
        assert (await search.mariadb_plan(conn, ["zebra", "walnut"])).driver == 0
        prefix = await search.mariadb_plan(conn, ["wal", "zebraw"])  # prefixes of both
        assert prefix is not None and prefix.terms[1] == ("zebrawood",) and prefix.driver == 1
        assert (await search.mariadb_plan(conn, ["walnut"])).sizes == (0,)  # nothing to compare
        assert await search.mariadb_plan(conn, ["walnut", "nosuchword"]) is None


def test_the_index_cuts_the_same_tokens_as_a_query() -> None:
    text_ = "Wälnut_bowl, \uff24\uff25\uff33\uff2b 東京 it's 🪵 " + "x" * 70  # fullwidth DESK
    assert list(search.document_terms(text_, None)) == search.search_tokens(text_)
