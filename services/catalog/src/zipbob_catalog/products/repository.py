"""SQL access for products and images."""

from __future__ import annotations

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from zipbob_catalog.products.models import Image, Product
from zipbob_catalog.products.schemas import ProductQuery

_ORDERINGS = {
    "newest": (Product.created_at.desc(), Product.id.desc()),
    "price_asc": (Product.price.asc(), Product.id.asc()),
    "price_desc": (Product.price.desc(), Product.id.desc()),
}


def _like_pattern(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _filtered(query: ProductQuery) -> Select[tuple[Product]]:
    statement = select(Product)
    if query.q:
        pattern = _like_pattern(query.q)
        statement = statement.where(
            or_(
                func.lower(Product.name).like(pattern, escape="\\"),
                func.lower(Product.description).like(pattern, escape="\\"),
            )
        )
    if query.category:
        statement = statement.where(Product.category == query.category)
    if query.seller_id:
        statement = statement.where(Product.seller_id == query.seller_id)
    return statement


async def list_products(session: AsyncSession, query: ProductQuery) -> tuple[list[Product], int]:
    filtered = _filtered(query)
    total = (
        await session.execute(select(func.count()).select_from(filtered.subquery()))
    ).scalar_one()
    page = (
        filtered.order_by(*_ORDERINGS[query.sort])
        .offset((query.page - 1) * query.size)
        .limit(query.size)
    )
    products = list((await session.execute(page)).scalars().all())
    return products, int(total)


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
