"""Product use cases. Photo uploads write the object first, then rows and outbox together."""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from zipbob_catalog.db import utcnow
from zipbob_catalog.metrics import images_uploaded_total, products_registered_total
from zipbob_catalog.outbox.writer import IMAGE_UPLOADED, PRODUCT_DELETED, enqueue_event
from zipbob_catalog.products import repository
from zipbob_catalog.products.models import Image, Product
from zipbob_catalog.products.money import check_price_for_currency
from zipbob_catalog.products.schemas import ProductCreate, ProductQuery, ProductUpdate
from zipbob_catalog.runtime import CatalogRuntime
from zipbob_catalog.storage import original_key
from zipbob_catalog.uploads.inspection import ImageHeader
from zipbob_catalog.uploads.multipart import SpooledFile
from zipbob_platform.auth import Principal, forbidden
from zipbob_platform.problems import Problem

log = logging.getLogger("zipbob.catalog.products")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class AcceptedImage:
    """An upload that passed every check, still in its spool file."""

    spooled: SpooledFile
    header: ImageHeader


def product_not_found(product_id: str) -> Problem:
    return Problem(404, f"product {product_id} does not exist")


def _new_image(runtime: CatalogRuntime, *, product_id: str, accepted: AcceptedImage) -> Image:
    image_id = str(uuid.uuid4())
    header = accepted.header
    return Image(
        id=image_id,
        product_id=product_id,
        status="pending",
        bucket=runtime.settings.s3.original_bucket,
        object_key=original_key(product_id=product_id, image_id=image_id),
        content_type=header.content_type,
        bytes=header.bytes,
        width=header.width,
        height=header.height,
    )


def _announce(session: AsyncSession, *, image: Image, seller_id: str) -> None:
    enqueue_event(
        session,
        event_type=IMAGE_UPLOADED,
        product_id=image.product_id,
        data={
            "product_id": image.product_id,
            "image_id": image.id,
            "seller_id": seller_id,
            "bucket": image.bucket,
            "key": image.object_key,
            "content_type": image.content_type,
            "bytes": image.bytes,
        },
    )


async def _store_then_commit(
    runtime: CatalogRuntime,
    *,
    image: Image,
    accepted: AcceptedImage,
    write: Callable[[AsyncSession], Awaitable[T]],
) -> T:
    """Object first, rows second: a crash in between leaves an orphan object (the sweeper
    removes it), never a row pointing at a missing object."""
    await runtime.store.put_file(
        bucket=image.bucket,
        key=image.object_key,
        path=accepted.spooled.path,
        content_type=image.content_type,
    )
    try:
        async with runtime.sessions() as session, session.begin():
            result = await write(session)
    except Exception:
        with contextlib.suppress(Exception):
            await runtime.store.delete(bucket=image.bucket, key=image.object_key)
        raise
    images_uploaded_total.inc()
    runtime.on_events_committed()
    return result


async def create_product(
    *,
    runtime: CatalogRuntime,
    seller_id: str,
    fields: ProductCreate,
    accepted: AcceptedImage | None,
) -> Product:
    product = Product(id=str(uuid.uuid4()), seller_id=seller_id, **fields.model_dump())
    product.images = []
    if accepted is None:
        async with runtime.sessions() as session, session.begin():
            session.add(product)
    else:
        image = _new_image(runtime, product_id=product.id, accepted=accepted)

        async def write(session: AsyncSession) -> None:
            product.images = [image]
            session.add(product)
            await session.flush()  # the product row exists before its event's row
            _announce(session, image=image, seller_id=seller_id)

        await _store_then_commit(runtime, image=image, accepted=accepted, write=write)
    products_registered_total.inc()
    return product


def _check_owner(product: Product, principal: Principal, *, admin_allowed: bool) -> None:
    if product.seller_id == principal.user_id:
        return
    if admin_allowed and principal.has_role("admin"):
        return
    raise forbidden("only the seller who owns this product may change it")


async def add_image(
    *, runtime: CatalogRuntime, principal: Principal, product_id: str, accepted: AcceptedImage
) -> Image:
    image = _new_image(runtime, product_id=product_id, accepted=accepted)

    async def write(session: AsyncSession) -> Image:
        # Locked so a concurrent delete cannot slip between this check and our insert.
        product = await repository.get_product(session, product_id, for_update=True)
        if product is None:
            raise product_not_found(product_id)
        _check_owner(product, principal, admin_allowed=False)
        session.add(image)
        _announce(session, image=image, seller_id=product.seller_id)
        return image

    return await _store_then_commit(runtime, image=image, accepted=accepted, write=write)


async def check_can_add_image(
    *, runtime: CatalogRuntime, principal: Principal, product_id: str
) -> None:
    """Refuse before the body is read: no point streaming 20 MiB for a 403."""
    async with runtime.sessions() as session:
        product = await repository.get_product(session, product_id)
    if product is None:
        raise product_not_found(product_id)
    _check_owner(product, principal, admin_allowed=False)


async def get_product(*, runtime: CatalogRuntime, product_id: str) -> Product:
    async with runtime.sessions() as session:
        product = await repository.get_product(session, product_id)
    if product is None:
        raise product_not_found(product_id)
    return product


async def list_products(
    *, runtime: CatalogRuntime, query: ProductQuery
) -> tuple[list[Product], int]:
    async with runtime.sessions() as session:
        return await repository.list_products(session, query)


async def update_product(
    *, runtime: CatalogRuntime, principal: Principal, product_id: str, changes: ProductUpdate
) -> Product:
    async with runtime.sessions() as session, session.begin():
        product = await repository.get_product(session, product_id, for_update=True)
        if product is None:
            raise product_not_found(product_id)
        _check_owner(product, principal, admin_allowed=False)
        updates = changes.model_dump(exclude_unset=True)
        price = updates.get("price", product.price)
        currency = updates.get("currency", product.currency)
        try:
            check_price_for_currency(price, currency)
        except ValueError as exc:
            raise Problem(422, str(exc), title="Validation failed") from None
        for name, value in updates.items():
            setattr(product, name, value)
        if updates:
            product.updated_at = utcnow()
    return product


async def delete_product(*, runtime: CatalogRuntime, principal: Principal, product_id: str) -> None:
    async with runtime.sessions() as session, session.begin():
        product = await repository.get_product(session, product_id, for_update=True)
        if product is None:
            raise product_not_found(product_id)
        _check_owner(product, principal, admin_allowed=True)
        image_ids = [image.id for image in product.images]
        await session.delete(product)
        # Consumers (resizer, review) remove the objects and reviews when this is published.
        enqueue_event(
            session,
            event_type=PRODUCT_DELETED,
            product_id=product_id,
            data={"product_id": product_id, "image_ids": image_ids},
        )
    runtime.on_events_committed()
