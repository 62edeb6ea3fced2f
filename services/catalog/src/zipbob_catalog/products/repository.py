"""SQL access for products and images.

Reads are SQLAlchemy Core (compiled statements are cached by structure), at most two
round trips: a product with its images is one LEFT JOIN; a list page is one statement
(the page with its capped count as a scalar subquery) plus one for the page's images.
Writes go through the ORM in the service layer.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import ColumnElement, Row, and_, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from zipbob_catalog.outbox.writer import enqueue_event
from zipbob_catalog.products import search
from zipbob_catalog.products.cursor import Cursor
from zipbob_catalog.products.errors import InvalidCursor
from zipbob_catalog.products.models import Image, Product
from zipbob_catalog.products.schemas import ProductQuery

EXACT_TOTAL_UP_TO = 10_000
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
    images: dict[str, list[Row[Any]]]
    total: int
    total_exact: bool
    next_cursor: Cursor | None


def _filters(query: ProductQuery, dialect: str, tokens: list[str]) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    if query.category:
        clauses.append(Product.category == query.category)
    if query.seller_id:
        clauses.append(Product.seller_id == query.seller_id)
    if query.min_rating is not None:
        clauses.append(Product.rating_hundredths >= int(query.min_rating * 100))
    if tokens and dialect != "sqlite":
        clauses.append(search.matches(dialect, tokens))
    return clauses


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
    if tokens and dialect == "sqlite":
        inner = (
            select(literal(1))
            .select_from(search.sqlite_match_join())
            .where(search.sqlite_match_where(tokens), *filters)
        )
    else:
        inner = select(literal(1)).select_from(Product.__table__).where(*filters)
    limited = inner.limit(EXACT_TOTAL_UP_TO + 1).subquery()
    return select(func.count()).select_from(limited).correlate(None).scalar_subquery()


def _relevance_candidates(
    dialect: str, filters: list[ColumnElement[bool]], tokens: list[str], snapshot: datetime
) -> Any:
    if dialect == "sqlite":
        return (
            select(Product.id.label("cid"), search.SQLITE_SCORE.label("score"))
            .select_from(search.sqlite_match_join())
            .where(search.sqlite_match_where(tokens), Product.created_at <= snapshot, *filters)
            .order_by(search.SQLITE_FTS_ROWID.desc())
            .limit(search.CANDIDATES)
            .subquery()
        )
    return (
        select(Product.id.label("cid"), search.score(dialect, tokens).label("score"))
        .where(Product.created_at <= snapshot, *filters)
        .order_by(Product.created_at.desc(), Product.id.desc())
        .limit(search.CANDIDATES)
        .subquery()
    )


async def list_products(
    session: AsyncSession, query: ProductQuery, *, cursor: Cursor | None, now: datetime
) -> ProductPage:
    dialect = session.get_bind().dialect.name
    tokens = search.search_tokens(query.q) if query.q else []
    if query.q and not tokens:
        return ProductPage(query.page, [], {}, 0, True, None)
    filters = _filters(query, dialect, tokens)
    page = cursor.page if cursor else query.page
    total = _count(dialect, filters, tokens).label("total")
    if query.sort == "relevance" and tokens:
        snapshot = datetime.fromisoformat(cursor.snapshot) if cursor and cursor.snapshot else now
        offset = cursor.offset if cursor else (query.page - 1) * query.size
        candidates = _relevance_candidates(dialect, filters, tokens, snapshot)
        statement = (
            select(*PRODUCT_COLUMNS, total)
            .join(candidates, candidates.c.cid == Product.id)
            .order_by(candidates.c.score.desc(), Product.created_at.desc(), Product.id.desc())
            .offset(offset)
            .limit(query.size + 1)
        )
    else:
        sort = query.sort if query.sort != "relevance" else "newest"
        statement = select(*PRODUCT_COLUMNS, total).order_by(*_order(sort)).limit(query.size + 1)
        if tokens and dialect == "sqlite":
            statement = statement.where(search.matches(dialect, tokens))
        statement = statement.where(*filters)
        if cursor is not None:
            statement = statement.where(_after(sort, cursor.after))
        else:
            statement = statement.offset((query.page - 1) * query.size)
    rows = list((await session.execute(statement)).all())
    more = len(rows) > query.size
    rows = rows[: query.size]
    if rows:
        counted = int(rows[0].total)
    else:
        counted = int(
            (await session.execute(select(_count(dialect, filters, tokens)))).scalar_one()
        )
    next_cursor = None
    if more:
        last = rows[-1]
        if query.sort == "relevance" and tokens:
            next_cursor = Cursor(
                sort="relevance",
                page=page + 1,
                offset=offset + query.size,
                snapshot=snapshot.isoformat(),
            )
        else:
            key_column = KEYSET_SORTS[sort][0]
            value = getattr(last, key_column.key)
            next_cursor = Cursor(sort=sort, page=page + 1, after=(_key_json(sort, value), last.id))
    images = await images_of(session, [row.id for row in rows]) if rows else {}
    exact = counted <= EXACT_TOTAL_UP_TO
    return ProductPage(
        page=page,
        rows=rows,
        images=images,
        total=counted if exact else EXACT_TOTAL_UP_TO,
        total_exact=exact,
        next_cursor=next_cursor,
    )


async def images_of(session: AsyncSession, product_ids: list[str]) -> dict[str, list[Row[Any]]]:
    statement = (
        select(*IMAGE_COLUMNS)
        .where(Image.product_id.in_(product_ids))
        .order_by(Image.product_id, Image.created_at)
    )
    found: dict[str, list[Row[Any]]] = {}
    for row in (await session.execute(statement)).all():
        found.setdefault(row.product_id, []).append(row)
    return found


IMAGE_PREFIX = "image_"
_ONE = (
    select(*PRODUCT_COLUMNS, *(c.label(f"{IMAGE_PREFIX}{c.key}") for c in IMAGE_COLUMNS))
    .outerjoin(Image, Image.product_id == Product.id)
    .order_by(Image.created_at)
)


async def read_product(session: AsyncSession, product_id: str) -> tuple[Row[Any], list[Any]] | None:
    """A product row and its image rows in one round trip, or None."""
    rows = (await session.execute(_ONE.where(Product.id == product_id))).all()
    if not rows:
        return None
    images = [row for row in rows if row._mapping[f"{IMAGE_PREFIX}id"] is not None]
    return rows[0], images


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

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqlProductTransaction]:
        async with self.sessions() as session, session.begin():
            yield SqlProductTransaction(session)

    async def exists_owned_by(self, product_id: str) -> str | None:
        """The seller id of the product, or None when it does not exist."""
        async with self.sessions() as session:
            result = await session.execute(
                select(Product.seller_id).where(Product.id == product_id)
            )
            return result.scalar_one_or_none()

    async def read(self, product_id: str) -> tuple[Row[Any], list[Any]] | None:
        async with self.sessions() as session:
            return await read_product(session, product_id)

    async def list(
        self, query: ProductQuery, *, cursor: Cursor | None, now: datetime
    ) -> ProductPage:
        async with self.sessions() as session:
            return await list_products(session, query, cursor=cursor, now=now)
