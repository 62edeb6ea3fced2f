"""Product use cases. Photo uploads write the object first, then rows and outbox together.

Each function takes what it uses, keyword-only: ``products`` (reads and transactions:
``SqlProducts`` in the app, an in-memory fake in unit tests), and for photos the object
store and bucket. They raise the domain errors of ``products.errors``; the views never
see SQL, and this module never sees HTTP.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

from zipbob_catalog.db import utcnow
from zipbob_catalog.metrics import images_uploaded_total, products_registered_total
from zipbob_catalog.outbox.writer import IMAGE_UPLOADED, PRODUCT_DELETED
from zipbob_catalog.products.cursor import Cursor, decode_cursor
from zipbob_catalog.products.errors import InvalidProduct, NotOwner, PageTooDeep, ProductNotFound
from zipbob_catalog.products.models import Image, Product
from zipbob_catalog.products.money import check_price_for_currency
from zipbob_catalog.products.repository import MAX_OFFSET, ProductPage
from zipbob_catalog.products.schemas import ProductCreate, ProductQuery, ProductUpdate
from zipbob_catalog.storage import original_key
from zipbob_catalog.uploads.inspection import ImageHeader
from zipbob_catalog.uploads.multipart import SpooledFile
from zipbob_platform.auth import Principal

log = logging.getLogger("zipbob.catalog.products")
T = TypeVar("T")


class ProductTransaction(Protocol):
    async def product_for_update(self, product_id: str) -> Product | None: ...
    def add(self, row: Product | Image) -> None: ...
    async def flush(self) -> None: ...
    async def delete(self, product: Product) -> None: ...
    def enqueue(self, *, event_type: str, product_id: str, data: dict[str, Any]) -> None: ...


class Products(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[ProductTransaction]: ...
    async def exists_owned_by(self, product_id: str) -> str | None: ...
    async def read(self, product_id: str) -> tuple[Any, list[Any]] | None: ...
    async def list(
        self, query: ProductQuery, *, cursor: Cursor | None, now: datetime
    ) -> ProductPage: ...


class PhotoStore(Protocol):
    async def put_file(self, *, bucket: str, key: str, path: Path, content_type: str) -> None: ...
    async def delete(self, *, bucket: str, key: str) -> None: ...


@dataclass(frozen=True, slots=True)
class AcceptedImage:
    """An upload that passed every check, still in its spool file."""

    spooled: SpooledFile
    header: ImageHeader


@dataclass(frozen=True, slots=True)
class Photos:
    """What a photo write needs: where originals go, and whom to tell after a commit."""

    store: PhotoStore
    bucket: str
    on_events_committed: Callable[[], None]


def _new_image(*, bucket: str, product_id: str, accepted: AcceptedImage) -> Image:
    image_id = str(uuid.uuid4())
    header = accepted.header
    return Image(
        id=image_id,
        product_id=product_id,
        status="pending",
        bucket=bucket,
        object_key=original_key(product_id=product_id, image_id=image_id),
        content_type=header.content_type,
        bytes=header.bytes,
        width=header.width,
        height=header.height,
    )


def _announce(tx: ProductTransaction, *, image: Image, seller_id: str) -> None:
    tx.enqueue(
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
    *,
    products: Products,
    photos: Photos,
    image: Image,
    accepted: AcceptedImage,
    write: Callable[[ProductTransaction], Awaitable[T]],
) -> T:
    """Object first, rows second: a crash in between leaves an orphan object (the sweeper
    removes it), never a row pointing at a missing object."""
    await photos.store.put_file(
        bucket=image.bucket,
        key=image.object_key,
        path=accepted.spooled.path,
        content_type=image.content_type,
    )
    try:
        async with products.transaction() as tx:
            result = await write(tx)
    except Exception:
        with contextlib.suppress(Exception):
            await photos.store.delete(bucket=image.bucket, key=image.object_key)
        raise
    images_uploaded_total.inc()
    photos.on_events_committed()
    return result


async def create_product(
    *,
    products: Products,
    photos: Photos,
    seller_id: str,
    fields: ProductCreate,
    accepted: AcceptedImage | None,
) -> Product:
    now = utcnow()
    product = Product(
        id=str(uuid.uuid4()),
        seller_id=seller_id,
        created_at=now,
        updated_at=now,
        rating_hundredths=0,
        rating_count=0,
        rating_version=0,
        **fields.model_dump(),
    )
    product.images = []
    if accepted is None:
        async with products.transaction() as tx:
            tx.add(product)
    else:
        image = _new_image(bucket=photos.bucket, product_id=product.id, accepted=accepted)

        async def write(tx: ProductTransaction) -> None:
            product.images = [image]
            tx.add(product)
            await tx.flush()  # the product row exists before its event's row
            _announce(tx, image=image, seller_id=seller_id)

        await _store_then_commit(
            products=products, photos=photos, image=image, accepted=accepted, write=write
        )
    products_registered_total.inc()
    return product


def _check_owner(seller_id: str, principal: Principal, *, admin_allowed: bool) -> None:
    if seller_id == principal.user_id:
        return
    if admin_allowed and principal.has_role("admin"):
        return
    raise NotOwner("only the seller who owns this product may change it")


async def _owned_product(
    tx: ProductTransaction, product_id: str, principal: Principal, *, admin_allowed: bool
) -> Product:
    """The product, locked for this transaction, if the principal may change it."""
    product = await tx.product_for_update(product_id)
    if product is None:
        raise ProductNotFound(product_id)
    _check_owner(product.seller_id, principal, admin_allowed=admin_allowed)
    return product


async def add_image(
    *,
    products: Products,
    photos: Photos,
    principal: Principal,
    product_id: str,
    accepted: AcceptedImage,
) -> Image:
    image = _new_image(bucket=photos.bucket, product_id=product_id, accepted=accepted)

    async def write(tx: ProductTransaction) -> Image:
        # Locked so a concurrent delete cannot slip between this check and our insert.
        product = await _owned_product(tx, product_id, principal, admin_allowed=False)
        tx.add(image)
        _announce(tx, image=image, seller_id=product.seller_id)
        return image

    return await _store_then_commit(
        products=products, photos=photos, image=image, accepted=accepted, write=write
    )


async def check_can_add_image(*, products: Products, principal: Principal, product_id: str) -> None:
    """Refuse before the body is read: no point streaming 20 MiB for a 403."""
    seller_id = await products.exists_owned_by(product_id)
    if seller_id is None:
        raise ProductNotFound(product_id)
    _check_owner(seller_id, principal, admin_allowed=False)


async def get_product(*, products: Products, product_id: str) -> tuple[Any, list[Any]]:
    """The product's row and its image rows (see repository.read_product)."""
    found = await products.read(product_id)
    if found is None:
        raise ProductNotFound(product_id)
    return found


async def list_products(*, products: Products, query: ProductQuery) -> ProductPage:
    cursor = None
    sort = query.sort
    if query.cursor:
        arity = 0 if sort == "relevance" and query.q else 2
        cursor = decode_cursor(query.cursor, scope=query.scope(), sort=sort, key_arity=arity)
    elif (query.page - 1) * query.size > MAX_OFFSET:
        raise PageTooDeep(
            f"pages past the first {MAX_OFFSET:,} rows are reached with ?cursor=next_cursor"
        )
    return await products.list(query, cursor=cursor, now=utcnow())


async def update_product(
    *, products: Products, principal: Principal, product_id: str, changes: ProductUpdate
) -> Product:
    async with products.transaction() as tx:
        product = await _owned_product(tx, product_id, principal, admin_allowed=False)
        updates = changes.model_dump(exclude_unset=True)
        price = updates.get("price", product.price)
        currency = updates.get("currency", product.currency)
        try:
            check_price_for_currency(price, currency)
        except ValueError as exc:
            raise InvalidProduct(str(exc)) from None
        for name, value in updates.items():
            setattr(product, name, value)
        if updates:
            product.updated_at = utcnow()
    return product


async def delete_product(
    *,
    products: Products,
    principal: Principal,
    product_id: str,
    on_events_committed: Callable[[], None],
) -> None:
    async with products.transaction() as tx:
        product = await _owned_product(tx, product_id, principal, admin_allowed=True)
        image_ids = [image.id for image in product.images]
        await tx.delete(product)
        # Consumers (resizer, review) remove the objects and reviews when this is published.
        tx.enqueue(
            event_type=PRODUCT_DELETED,
            product_id=product_id,
            data={"product_id": product_id, "image_ids": image_ids},
        )
    on_events_committed()
