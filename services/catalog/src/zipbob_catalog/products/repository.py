"""SQL access for products and images.

Reads are SQLAlchemy Core (compiled statements are cached by structure): a product with
its images is one LEFT JOIN; a browse page is one statement too (the page, with its capped
count as a scalar subquery, as a derived table LEFT JOINed to its images; see
``_with_images``).
Writes go through the ORM in the service layer.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Row,
    Text,
    and_,
    bindparam,
    cast,
    func,
    literal,
    literal_column,
    or_,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from zipbob_catalog.outbox.writer import enqueue_event
from zipbob_catalog.products import search
from zipbob_catalog.products.cursor import Cursor
from zipbob_catalog.products.errors import InvalidCursor
from zipbob_catalog.products.models import Image, Product
from zipbob_catalog.products.pagecache import PageCache
from zipbob_catalog.products.rawread import RawStatement
from zipbob_catalog.products.schemas import ProductQuery

Reader = AsyncConnection  # what the read functions run on
EXACT_TOTAL_UP_TO = 10_000
# Past this many estimated hits, a PostgreSQL search reports the estimate (inexact).
ESTIMATE_PAST = 3 * EXACT_TOTAL_UP_TO
MAX_OFFSET = 10_000

PRODUCT_COLUMNS = (
    Product.id,
    Product.seller_id,
    Product.name,
    Product.description,
    Product.price,
    Product.currency,
    Product.stock,
    Product.category,
    Product.created_at,
    Product.updated_at,
    Product.rating_hundredths,
    Product.rating_count,
    Product.rating_version,
)
IMAGE_COLUMNS = (
    Image.id,
    Image.product_id,
    Image.status,
    Image.content_type,
    Image.bytes,
    Image.width,
    Image.height,
    Image.variants,
    Image.error,
    Image.updated_at,
)
IMAGE_PREFIX = "image_"  # image columns beside a product's: image_id, image_status, ...
IMAGE_LABELLED = tuple(c.label(f"{IMAGE_PREFIX}{c.key}") for c in IMAGE_COLUMNS)
# Sort -> (key column, descending?); the id breaks ties in the same direction, and each
# (filter, key, id) has its composite index (migration 0002).
KEYSET_SORTS: dict[str, tuple[Any, bool]] = {
    "newest": (Product.created_at, True),
    "price_asc": (Product.price, False),
    "price_desc": (Product.price, True),
    "rating_desc": (Product.rating_hundredths, True),
}


@dataclass(frozen=True, slots=True)
class ProductPage:
    page: int
    rows: list[Row[Any]]
    images: dict[str, list[Row[Any]]]  # by product id: rows with image_ columns
    total: int
    total_exact: bool
    next_cursor: Cursor | None

    @property
    def cost(self) -> int:
        return len(self.rows)

    def product_ids(self) -> list[str]:
        return [row.id for row in self.rows]


def _filters(
    query: ProductQuery, dialect: str, tokens: list[str], plan: search.TermPlan | None = None
) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    if query.category:
        clauses.append(Product.category == query.category)
    if query.seller_id:
        clauses.append(Product.seller_id == query.seller_id)
    if query.min_rating is not None:
        clauses.append(Product.rating_hundredths >= int(query.min_rating * 100))
    if plan is not None:
        clauses.append(search.mariadb_matches(plan))
    elif tokens and dialect != "sqlite":
        clauses.append(search.matches(dialect, tokens))
    return clauses


def _term_filters(query: ProductQuery) -> tuple[str, dict[str, Any]]:
    """The non-search filters as SQL on ``products p`` for MariaDB's term walks."""
    clauses: list[str] = []
    params: dict[str, Any] = {}
    if query.category:
        clauses.append("p.category = :f_category")
        params["f_category"] = query.category
    if query.seller_id:
        clauses.append("p.seller_id = :f_seller")
        params["f_seller"] = query.seller_id
    if query.min_rating is not None:
        clauses.append("p.rating_hundredths >= :f_rating")
        params["f_rating"] = int(query.min_rating * 100)
    return " AND ".join(clauses), params


def _sort_key_value(sort: str, value: Any) -> Any:
    """A cursor's key value back in Python form; anything odd is an invalid cursor."""
    try:
        if sort == "newest":
            parsed = datetime.fromisoformat(value)
            if parsed.tzinfo is None:
                raise ValueError
            return parsed.astimezone(UTC)
        if sort in ("price_asc", "price_desc"):
            price = Decimal(value)
            if not price.is_finite():
                raise ValueError
            return price
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError
        return value
    except (ValueError, TypeError, InvalidOperation):
        raise InvalidCursor("the cursor is malformed") from None


def _key_json(sort: str, value: Any) -> Any:
    if sort == "newest":
        return value.isoformat()
    if sort in ("price_asc", "price_desc"):
        return str(value)
    return value


def _after(sort: str, after: tuple[Any, ...]) -> ColumnElement[bool]:
    column, descending = KEYSET_SORTS[sort]
    key, last_id = _sort_key_value(sort, after[0]), after[1]
    if not isinstance(last_id, str) or len(last_id) > 36:
        raise InvalidCursor("the cursor is malformed")
    if descending:
        # The redundant leading bound keeps it an index range scan on every backend.
        return and_(column <= key, or_(column < key, and_(column == key, Product.id < last_id)))
    return and_(column >= key, or_(column > key, and_(column == key, Product.id > last_id)))


def _order(sort: str) -> tuple[Any, Any]:
    column, descending = KEYSET_SORTS[sort]
    if descending:
        return column.desc(), Product.id.desc()
    return column.asc(), Product.id.asc()


def _count(dialect: str, filters: list[ColumnElement[bool]], tokens: list[str]) -> Any:
    """count(*) of at most EXACT_TOTAL_UP_TO + 1 matching rows (never a full count)."""
    if tokens and dialect == "sqlite" and not filters:
        source = search.FTS  # the FTS5 index alone answers
        inner = select(literal(1)).select_from(source).where(search.sqlite_match_where(tokens))
    elif tokens and dialect == "sqlite":
        # IN (...) materialises the hits once; a join would re-run the MATCH per row.
        inner = select(literal(1)).where(search.matches(dialect, tokens))
    else:
        inner = select(literal(1)).select_from(Product.__table__)
    limited = inner.where(*filters).limit(EXACT_TOTAL_UP_TO + 1).subquery()
    return select(func.count()).select_from(limited).correlate(None).scalar_subquery()


def _snapshot_value(dialect: str, snapshot: str | None) -> Any:
    if snapshot is None:
        return None
    try:
        if dialect == "sqlite":
            return int(snapshot)
        parsed = datetime.fromisoformat(snapshot)
        if parsed.tzinfo is None:
            raise ValueError
        return parsed
    except ValueError:
        raise InvalidCursor("the cursor is malformed") from None


def _ranked_statement(
    dialect: str,
    filters: list[ColumnElement[bool]],
    tokens: list[str],
    *,
    snapshot: Any,
    terms: tuple[search.TermPlan, ProductQuery] | None = None,
) -> Any:
    """The ranked candidates: the newest CANDIDATES matches (bounded by the first page's
    newest one, so later inserts do not shift a walk), ordered by score."""
    if dialect == "sqlite":
        # FTS5 hits newest first as a streamed subquery (the LIMIT keeps SQLite from
        # flattening it into a join that would re-run the MATCH for every product row).
        rowid = search.SQLITE_FTS_ROWID
        hits = select(rowid.label("r"), search.SQLITE_SCORE.label("s")).where(
            search.sqlite_match_where(tokens)
        )
        if snapshot is not None:
            hits = hits.where(rowid <= snapshot)
        if filters:
            streamed = hits.order_by(rowid.desc()).limit(1_000_000_000).subquery("hits")
            base = (
                select(
                    streamed.c.r.label("cid"), streamed.c.r.label("ck"), streamed.c.s.label("score")
                )
                .select_from(streamed)
                .join(Product, literal_column("products.search_rowid") == streamed.c.r)
                .where(*filters)
                .order_by(streamed.c.r.desc())
            )
        else:
            base = (
                select(rowid.label("cid"), rowid.label("ck"), search.SQLITE_SCORE.label("score"))
                .where(search.sqlite_match_where(tokens))
                .order_by(rowid.desc())
            )
            if snapshot is not None:
                base = base.where(rowid <= snapshot)
        base = base.limit(search.CANDIDATES)
    elif terms is not None:
        plan, query = terms
        filters_sql, filter_params = _term_filters(query)
        base = search.mariadb_candidates(
            plan, filters_sql=filters_sql, filter_params=filter_params, snapshot=snapshot
        )
    else:
        base = select(
            Product.id.label("cid"),
            Product.created_at.label("ck"),
            search.score(tokens).label("score"),
        ).where(*filters)
        base = base.order_by(Product.created_at.desc(), Product.id.desc())
        if snapshot is not None:
            base = base.where(Product.created_at <= snapshot)
        base = base.limit(search.CANDIDATES)
    # One row: the candidates' keys in relevance order as one string, the newest one's
    # key (the walk's snapshot) and how many there are. A thousand rows into Python cost
    # more than the database's ranking of them (asyncpg + SQLAlchemy rows: ~5 ms).
    c = base.subquery("candidates")
    if dialect == "postgresql":
        order: Any = aggregate_order_by(
            literal_column("','"), c.c.score.desc(), c.c.ck.desc(), c.c.cid.desc()
        )
        ids: Any = func.string_agg(cast(c.c.cid, Text), order)  # string_agg(id, ',' ORDER BY …)
    elif dialect == "sqlite":  # (no ORDER BY in an aggregate before SQLite 3.44)
        ids = func.group_concat(
            cast(c.c.cid, Text) + literal_column("':'") + cast(c.c.score, Text),
            literal_column("','"),
        )
    else:
        ids = literal_column(
            "GROUP_CONCAT(candidates.cid ORDER BY candidates.score DESC, candidates.ck DESC,"
            " candidates.cid DESC SEPARATOR ',')"
        )
    return select(
        ids.label("ids"), func.max(c.c.ck).label("snap"), func.count().label("n")
    ).select_from(c)


@dataclass(frozen=True, slots=True)
class Ranked:
    """A search's candidates in relevance order (the product ids; on SQLite FTS rowids)
    and the newest one's key (created_at; on SQLite the rowid): a walk's snapshot. Kept in
    the page cache: every page of a walk (the same snapshot) slices the same list instead
    of walking the index again."""

    ids: tuple[Any, ...]
    snapshot: Any

    @classmethod
    def of(cls, dialect: str, row: Any) -> Ranked:
        if not row.n:
            return cls((), None)
        parts = row.ids.split(",")
        if len(parts) != row.n:  # MariaDB cuts GROUP_CONCAT at group_concat_max_len
            raise RuntimeError(
                f"the database cut a ranking of {row.n} ids to {len(parts)}: "
                "raise group_concat_max_len (MariaDB's default, 1M, holds 28,000)"
            )
        if dialect != "sqlite":
            return cls(tuple(parts), row.snap)
        scored = [part.split(":") for part in parts]
        # Best score first (higher: search.SQLITE_SCORE is -bm25), then the newest rowid.
        scored.sort(key=lambda pair: (-float(pair[1]), -int(pair[0])))
        return cls(tuple(int(rowid) for rowid, _ in scored), int(row.snap))

    @property
    def cost(self) -> int:
        return len(self.ids) // 20 + 1  # an id is a twentieth of a product row, or less

    def product_ids(self) -> tuple[str, ...]:
        return ()  # the page's product rows are read afresh; only a seller's write drops it


_ROWS_BY_KEY: dict[tuple[bool, int], RawStatement] = {}


def _rows_by_key_statement(sqlite: bool, count: int) -> RawStatement:
    """``IN (:k0, ..., :kN)`` on the candidates' key with their images, built once per size
    (one built anew per request cost more CPU than the query: cache key, coercions,
    result-map adaptation)."""
    statement = _ROWS_BY_KEY.get((sqlite, count))
    if statement is None:
        key: Any = literal_column("products.search_rowid", Integer) if sqlite else Product.id
        keys = [bindparam(f"k{i}", type_=key.type) for i in range(count)]
        statement = _ROWS_BY_KEY[(sqlite, count)] = RawStatement(
            select(
                *PRODUCT_COLUMNS,
                key.label("cid"),
                *IMAGE_LABELLED,
            )
            .outerjoin(Image, Image.product_id == Product.id)
            .where(key.in_(keys))
            .order_by(Product.id, Image.created_at)
        )
    return statement


async def _rows_by_key(
    session: Reader, dialect: str, keys: list[Any]
) -> tuple[list[Any], dict[str, list[Any]]]:
    """The product rows of ``keys`` (cid values), in that order (a deleted one is left
    out), and their images, in one round trip."""
    if not keys:
        return [], {}
    statement = _rows_by_key_statement(dialect == "sqlite", len(keys))
    rows, images = _split(await statement.fetch(session, {f"k{i}": k for i, k in enumerate(keys)}))
    found = {row.cid: row for row in rows}
    return [found[k] for k in keys if k in found], images


async def _search_estimate(session: Reader, tokens: list[str]) -> int | None:
    """PostgreSQL's own row estimate for a search with no other filter (its tsvector
    statistics are close: 305,441 estimated for 299,990 hits here). Counting 10,001 hits of
    a common prefix costs more than the whole page, so far past the bound we estimate."""
    statement = (
        select(literal(1))
        .select_from(Product.__table__)
        .where(search.matches("postgresql", tokens))
    )
    compiled = statement.compile(dialect=session.dialect, compile_kwargs={"literal_binds": True})
    result = await session.execute(text(f"EXPLAIN (FORMAT JSON) {compiled}"))
    plan = result.scalar_one()
    if isinstance(plan, str):
        plan = json.loads(plan)
    rows = plan[0]["Plan"].get("Plan Rows")
    return int(rows) if rows is not None else None


async def _estimate_if_broad(
    session: Reader, dialect: str, filters: list[ColumnElement[bool]], tokens: list[str]
) -> int | None:
    """PostgreSQL, a search and no other filter: the planner's estimate when it is far
    past the exact bound, else None (then the capped count runs)."""
    if not (tokens and dialect == "postgresql" and len(filters) == 1):
        return None
    guess = await _search_estimate(session, tokens)
    return guess if guess is not None and guess > ESTIMATE_PAST else None


async def _total(
    session: Reader, dialect: str, filters: list[ColumnElement[bool]], tokens: list[str]
) -> tuple[int, bool]:
    """(total, estimated?) in a statement of its own."""
    estimate = await _estimate_if_broad(session, dialect, filters, tokens)
    if estimate is not None:
        return estimate, True
    counted = (await session.execute(select(_count(dialect, filters, tokens)))).scalar_one()
    return int(counted), False


_BROWSE: dict[tuple[Any, ...], RawStatement] = {}


def _browse_statement(
    query: ProductQuery, *, sort: str, cursor: Cursor | None, counting: bool
) -> tuple[RawStatement, dict[str, Any]]:
    """A listing without ``q``: the statement for this shape (filters present, sort,
    cursor or offset, size) is built once with bound parameters and reused, so a browse
    request neither constructs nor hashes a new statement tree."""
    shape = (
        sort,
        query.category is not None,
        query.seller_id is not None,
        query.min_rating is not None,
        cursor is not None,
        query.size,
        counting,
    )
    params: dict[str, Any] = {}
    if query.category is not None:
        params["f_category"] = query.category
    if query.seller_id is not None:
        params["f_seller"] = query.seller_id
    if query.min_rating is not None:
        params["f_rating"] = int(query.min_rating * 100)
    if cursor is not None:
        after = cursor.after
        params["k_value"] = _sort_key_value(sort, after[0])
        if not isinstance(after[1], str) or len(after[1]) > 36:
            raise InvalidCursor("the cursor is malformed")
        params["k_id"] = after[1]
    else:
        params["page_offset"] = (query.page - 1) * query.size
    statement = _BROWSE.get(shape)
    if statement is None:
        statement = _BROWSE[shape] = RawStatement(_build_browse(shape))
    return statement, params


def _build_browse(shape: tuple[Any, ...]) -> Any:
    sort, category, seller, rating, keyset, size, counting = shape
    filters: list[ColumnElement[bool]] = []
    if category:
        filters.append(Product.category == bindparam("f_category"))
    if seller:
        filters.append(Product.seller_id == bindparam("f_seller"))
    if rating:
        filters.append(Product.rating_hundredths >= bindparam("f_rating"))
    limited = (
        select(literal(1))
        .select_from(Product.__table__)
        .where(*filters)
        .limit(EXACT_TOTAL_UP_TO + 1)
        .subquery()
    )
    total = select(func.count()).select_from(limited).correlate(None).scalar_subquery()
    columns = [*PRODUCT_COLUMNS, total.label("total")] if counting else PRODUCT_COLUMNS
    statement = select(*columns).where(*filters).order_by(*_order(sort)).limit(size + 1)
    if keyset:
        column, descending = KEYSET_SORTS[sort]
        key = bindparam("k_value", type_=column.type)
        last = bindparam("k_id", type_=Product.id.type)
        if descending:
            after = and_(column <= key, or_(column < key, and_(column == key, Product.id < last)))
        else:
            after = and_(column >= key, or_(column > key, and_(column == key, Product.id > last)))
        return _with_images(statement.where(after), sort)
    return _with_images(statement.offset(bindparam("page_offset", type_=Integer)), sort)


def _with_images(page: Any, sort: str) -> Any:
    """A page statement (ORDER BY + LIMIT) as a derived table, LEFT JOINed to its images
    (columns prefixed ``image_``): the page and its photos in one round trip. A second
    statement for the images cost a round trip per list page: 0.38 ms of the catalog's CPU
    on a 2-core VM, about a third of a page. ``_split`` takes the rows apart again."""
    inner = page.subquery("page")
    column, descending = KEYSET_SORTS[sort]
    key, tie = inner.c[column.key], inner.c.id
    order = (key.desc(), tie.desc()) if descending else (key.asc(), tie.asc())
    return (
        select(inner, *IMAGE_LABELLED)
        .select_from(inner.outerjoin(Image, Image.product_id == inner.c.id))
        .order_by(*order, Image.created_at)
    )


def _split(rows: list[Any]) -> tuple[list[Any], dict[str, list[Any]]]:
    """Rows of ``_with_images`` (or of a product LEFT JOIN its images) as (one row per
    product, in order; its image rows by product id, oldest first)."""
    products: list[Any] = []
    images: dict[str, list[Any]] = {}
    last = None
    for row in rows:
        if row.id != last:
            products.append(row)
            last = row.id
        if row.image_id is not None:
            images.setdefault(row.id, []).append(row)
    return products, images


@dataclass(frozen=True, slots=True)
class _Fact:
    """A small fact kept in the page cache, showing no product's data: a MariaDB search's
    term plan (each page of a search planned it again: the terms a prefix covers, each
    token's size estimated), or that a listing is past the bound."""

    value: Any = None
    cost: int = 1

    def product_ids(self) -> tuple[str, ...]:
        return ()


async def _term_plan(pages: PageCache, session: Reader, tokens: list[str]) -> Any:
    async def load() -> _Fact:
        return _Fact(await search.mariadb_plan(session, tokens))

    # New terms (another replica's products) join a prefix's expansion within search_seconds.
    plan = await pages.page(
        ("plan", tuple(tokens)), load, by_rating=False, seconds=pages.search_seconds
    )
    return plan.value


def _cursor_snapshot(dialect: str, snap: Any) -> str:
    """How a relevance cursor writes its snapshot (the newest candidate's key)."""
    return str(snap) if dialect == "sqlite" else _aware(snap).isoformat()


async def _ranked(
    pages: PageCache,
    dialect: str,
    query: ProductQuery,
    cursor: Cursor | None,
    load: Callable[[], Awaitable[Ranked]],
) -> Ranked:
    """A search's ranked candidates, kept per snapshot: a first page's list is also the
    list of every later page of its walk (their cursors name its snapshot)."""
    scope = query.scope()
    # The ranking as of a snapshot holds no product newer than it, and its pages read their
    # rows afresh (a deleted product is left out): only a seller's edit of a product's
    # text (which drops it) or a rating under min_rating (ditto) changes it, so a walk
    # keeps it for walk_seconds, long enough for a reader to page on. New first pages reuse
    # the latest ranking for search_seconds (the search's refresh interval): a product
    # written through another replica is ranked within it, one through this replica at once.
    walk = pages.walk_seconds
    return await pages.page(
        ("ranked", scope, cursor.snapshot if cursor else None),
        load,
        by_rating=query.min_rating is not None,
        seconds=walk if cursor is not None else pages.search_seconds,
        alias_seconds=walk,
        alias=lambda ranked: (
            None
            if ranked.snapshot is None
            else ("ranked", scope, _cursor_snapshot(dialect, ranked.snapshot))
        ),
    )


async def _search_total(
    pages: PageCache,
    session: Reader,
    query: ProductQuery,
    filters: list[ColumnElement[bool]],
    tokens: list[str],
    plan: Any,
) -> tuple[int, bool]:
    """(total, estimated?) of a search past its candidates, kept as its ranking is (on
    MariaDB a two-word count walks up to 10,001 postings, each checked for the other)."""

    async def load() -> _Fact:
        if plan is None:
            return _Fact(await _total(session, session.dialect.name, filters, tokens))
        filters_sql, filter_params = _term_filters(query)
        count = search.mariadb_count(
            plan, filters_sql=filters_sql, filter_params=filter_params, cap=EXACT_TOTAL_UP_TO + 1
        )
        return _Fact((int((await session.execute(count)).scalar_one()), False))

    kept = await pages.page(
        ("search total", query.scope()),
        load,
        by_rating=query.min_rating is not None,
        seconds=pages.search_seconds,
    )
    return kept.value  # type: ignore[no-any-return]


async def list_products(
    session: Reader,
    query: ProductQuery,
    *,
    cursor: Cursor | None,
    now: datetime,
    pages: PageCache,
) -> ProductPage:
    dialect = session.dialect.name
    tokens = search.search_tokens(query.q) if query.q else []
    if query.q and not tokens:
        return ProductPage(query.page, [], {}, 0, True, None)
    plan = None
    if tokens and dialect in ("mysql", "mariadb"):
        plan = await _term_plan(pages, session, tokens)
        if plan is None:  # some word is in no product
            return ProductPage(cursor.page if cursor else query.page, [], {}, 0, True, None)
    filters = _filters(query, dialect, tokens, plan)
    page = cursor.page if cursor else query.page
    relevance = query.sort == "relevance" and bool(tokens)
    sort = query.sort if query.sort != "relevance" else "newest"
    # A later page of a walk repeats the total its first page counted (in the cursor).
    known = None if cursor is None or cursor.total is None else cursor.total
    counted, estimated = 0, False
    if relevance:
        offset = cursor.offset if cursor else (query.page - 1) * query.size
        snapshot = _snapshot_value(dialect, cursor.snapshot if cursor else None)

        async def rank() -> Ranked:  # built only when the ranking is not kept
            statement = _ranked_statement(
                dialect,
                filters,
                tokens,
                snapshot=snapshot,
                terms=(plan, query) if plan is not None else None,
            )
            return Ranked.of(dialect, (await session.execute(statement)).one())

        ranked = await _ranked(pages, dialect, query, cursor, rank)
        window = ranked.ids[offset : offset + query.size + 1]
        rows, images = await _rows_by_key(session, dialect, list(window[: query.size]))
        more = len(window) > query.size  # (a product deleted since is left out of rows)
        candidates = len(ranked.ids) if window else None
        if known is not None:
            pass  # a later page: its cursor holds the total
        elif candidates is not None and candidates < search.CANDIDATES:
            counted, estimated = candidates, False  # every match was a candidate
        else:
            counted, estimated = await _search_total(pages, session, query, filters, tokens, plan)
    elif not tokens:
        # Past the exact bound the total is "10,000+" whatever the sort: that a listing
        # reached it is kept (walk_seconds) for every first page of it, which then skips
        # the count of 10,001 rows. A seller's write drops it, a rating one by min_rating.
        past_bound = ("past the bound", query.category, query.seller_id, query.min_rating)
        over = known is None and pages.holds(past_bound)
        began = pages.mark()
        counting = known is None and not over
        browse, params = _browse_statement(query, sort=sort, cursor=cursor, counting=counting)
        rows, images = _split(await browse.fetch(session, params))
        if over and cursor is None and query.page == 1 and len(rows) <= query.size:
            counted, estimated = len(rows), False  # the whole listing: it shrank since
        elif not counting:  # a later page (its cursor holds the total), or past the bound
            counted, estimated = (EXACT_TOTAL_UP_TO + 1, False) if over else (0, False)
        elif rows:
            counted, estimated = int(rows[0].total), False
        else:
            counted, estimated = await _total(session, dialect, filters, tokens)
        if counting and counted > EXACT_TOTAL_UP_TO:
            pages.put(past_bound, _Fact(), began=began, by_rating=query.min_rating is not None)
    else:
        estimate = None
        if known is None:
            estimate = await _estimate_if_broad(session, dialect, filters, tokens)
        counting = known is None and estimate is None
        total: Any = _count(dialect, filters, tokens) if counting else literal(-1)
        statement = (
            select(*PRODUCT_COLUMNS, total.label("total"))
            .order_by(*_order(sort))
            .limit(query.size + 1)
        )
        if tokens and dialect == "sqlite":
            statement = statement.where(search.matches(dialect, tokens))
        statement = statement.where(*filters)
        if cursor is not None:
            statement = statement.where(_after(sort, cursor.after))
        else:
            statement = statement.offset((query.page - 1) * query.size)
        rows, images = _split(list((await session.execute(_with_images(statement, sort))).all()))
        if known is not None:
            pass  # a later page: its cursor holds the total
        elif estimate is not None:
            counted, estimated = estimate, True
        elif rows:
            counted, estimated = int(rows[0].total), False
        else:
            counted, estimated = await _total(session, dialect, filters, tokens)
    if known is not None and cursor is not None:
        total_shown, exact = known, cursor.total_exact
    else:
        # A token past MAX_EXPANSIONS terms searched only the first ones: not every match.
        exact = not estimated and counted <= EXACT_TOTAL_UP_TO and not (plan and plan.truncated)
        total_shown = counted if counted <= EXACT_TOTAL_UP_TO or estimated else EXACT_TOTAL_UP_TO
    if not relevance:
        more = len(rows) > query.size
        rows = rows[: query.size]
    next_cursor = None
    if more:
        if relevance:
            next_cursor = Cursor(
                sort="relevance",
                page=page + 1,
                offset=offset + query.size,
                snapshot=_cursor_snapshot(dialect, ranked.snapshot),
                total=total_shown,
                total_exact=exact,
            )
        else:
            last = rows[-1]
            key_column = KEYSET_SORTS[sort][0]
            value = getattr(last, key_column.key)
            next_cursor = Cursor(
                sort=sort,
                page=page + 1,
                after=(_key_json(sort, value), last.id),
                total=total_shown,
                total_exact=exact,
            )
    return ProductPage(
        page=page,
        rows=rows,
        images=images,
        total=total_shown,
        total_exact=exact,
        next_cursor=next_cursor,
    )


def _aware(value: Any) -> datetime:
    if isinstance(value, str):  # a window function's result may lose the column type
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)  # type: ignore[no-any-return]


# Built once with a bound parameter: every call reuses the same statement object (and so
# SQLAlchemy's compiled form) instead of constructing and hashing a new one.
_ONE = RawStatement(
    select(*PRODUCT_COLUMNS, *IMAGE_LABELLED)
    .outerjoin(Image, Image.product_id == Product.id)
    .where(Product.id == bindparam("product_id"))
    .order_by(Image.created_at)
)


async def read_product(session: Reader, product_id: str) -> tuple[Any, list[Any]] | None:
    """A product row and its image rows in one round trip, or None."""
    rows, images = _split(await _ONE.fetch(session, {"product_id": product_id}))
    if not rows:
        return None
    return rows[0], images.get(product_id, [])


async def get_product(
    session: AsyncSession, product_id: str, *, for_update: bool = False
) -> Product | None:
    statement = select(Product).where(Product.id == product_id)
    if for_update and session.bind is not None and session.bind.dialect.name != "sqlite":
        statement = statement.with_for_update()
    return (await session.execute(statement)).scalar_one_or_none()


async def get_image(session: AsyncSession, image_id: str, *, for_update: bool) -> Image | None:
    statement = select(Image).where(Image.id == image_id)
    if for_update and session.bind is not None and session.bind.dialect.name != "sqlite":
        statement = statement.with_for_update()
    return (await session.execute(statement)).scalar_one_or_none()


async def existing_image_ids(session: AsyncSession, image_ids: list[str]) -> set[str]:
    if not image_ids:
        return set()
    rows = await session.execute(select(Image.id).where(Image.id.in_(image_ids)))
    return set(rows.scalars().all())


class SqlProductTransaction:
    """The writes of one use case, inside one database transaction (see SqlProducts)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def product_for_update(self, product_id: str) -> Product | None:
        return await get_product(self.session, product_id, for_update=True)

    def add(self, row: Product | Image) -> None:
        self.session.add(row)

    async def flush(self) -> None:
        await self.session.flush()

    async def delete(self, product: Product) -> None:
        await self.session.delete(product)

    def enqueue(self, *, event_type: str, product_id: str, data: dict[str, Any]) -> None:
        enqueue_event(self.session, event_type=event_type, product_id=product_id, data=data)


class SqlProducts:
    """Products on SQL: reads (Core, one session each) and transactions (ORM writes with
    their outbox rows, committed together or not at all)."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], reads: AsyncEngine, pages: PageCache
    ) -> None:
        self.sessions = sessions
        # Reads are single statements (a page with its images: one), so they run without a
        # transaction on an engine in autocommit (catalog.runtime): no BEGIN/ROLLBACK round
        # trips, no ORM session.
        self.reads = reads
        self.pages = pages  # list pages kept a second (products.pagecache)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqlProductTransaction]:
        try:
            async with self.sessions() as session, session.begin():
                yield SqlProductTransaction(session)
        finally:  # committed, or failed at commit (then it may have committed): drop pages
            self.pages.invalidate()

    async def exists_owned_by(self, product_id: str) -> str | None:
        """The seller id of the product, or None when it does not exist."""
        async with self.reads.connect() as conn:
            result = await conn.execute(select(Product.seller_id).where(Product.id == product_id))
            return result.scalar_one_or_none()

    async def read(self, product_id: str) -> tuple[Row[Any], list[Any]] | None:
        async with self.reads.connect() as conn:
            return await read_product(conn, product_id)

    async def list(
        self, query: ProductQuery, *, cursor: Cursor | None, now: datetime
    ) -> ProductPage:
        key = (query.q, query.category, query.seller_id, query.min_rating, query.sort,
               query.page, query.size, query.cursor)  # fmt: skip

        async def load() -> ProductPage:
            async with self.reads.connect() as conn:
                return await list_products(conn, query, cursor=cursor, now=now, pages=self.pages)

        by_rating = query.sort == "rating_desc" or query.min_rating is not None
        return await self.pages.page(key, load, by_rating=by_rating, refresh_ahead=True)
