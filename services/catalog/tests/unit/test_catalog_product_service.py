"""The products service layer alone, over in-memory FAKES of its repository and object
store (no database, no S3): ownership, domain errors, write order and events."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from zipbob_catalog.outbox.writer import IMAGE_UPLOADED, PRODUCT_DELETED
from zipbob_catalog.products import service
from zipbob_catalog.products.errors import (
    InvalidCursor,
    InvalidProduct,
    NotOwner,
    PageTooDeep,
    ProductNotFound,
)
from zipbob_catalog.products.models import Image, Product
from zipbob_catalog.products.repository import ProductPage
from zipbob_catalog.products.schemas import ProductCreate, ProductQuery, ProductUpdate
from zipbob_catalog.uploads.inspection import ImageHeader
from zipbob_catalog.uploads.multipart import SpooledFile
from zipbob_platform.auth import Principal


class CommitFailed(Exception):
    pass


@dataclass
class FakeTransaction:
    """Stages writes; the fake repository keeps them only if the block ends normally."""

    products: dict[str, Product]
    added: list[Any] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    events: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    async def product_for_update(self, product_id: str) -> Product | None:
        return self.products.get(product_id)

    def add(self, row: Product | Image) -> None:
        self.added.append(row)

    async def flush(self) -> None:
        pass

    async def delete(self, product: Product) -> None:
        self.deleted.append(product.id)

    def enqueue(self, *, event_type: str, product_id: str, data: dict[str, Any]) -> None:
        self.events.append((event_type, product_id, data))


@dataclass
class FakeProducts:
    """An in-memory FAKE of SqlProducts: a dict of products and a list of committed events."""

    products: dict[str, Product] = field(default_factory=dict)
    events: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    fail_commit: bool = False
    listed: list[tuple[ProductQuery, Any]] = field(default_factory=list)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[FakeTransaction]:
        tx = FakeTransaction(products=self.products)
        yield tx
        if self.fail_commit:
            raise CommitFailed("the database refused the commit")
        for row in tx.added:
            if isinstance(row, Product):
                self.products[row.id] = row
            else:
                self.products[row.product_id].images.append(row)
        for product_id in tx.deleted:
            del self.products[product_id]
        self.events += tx.events

    async def exists_owned_by(self, product_id: str) -> str | None:
        product = self.products.get(product_id)
        return product.seller_id if product else None

    async def read(self, product_id: str) -> tuple[Any, list[Any]] | None:
        product = self.products.get(product_id)
        return (copy.copy(product), list(product.images)) if product else None

    async def list(self, query: ProductQuery, *, cursor: Any, now: Any) -> ProductPage:
        self.listed.append((query, cursor))
        return ProductPage(page=1, rows=[], images={}, total=0, total_exact=True, next_cursor=None)


@dataclass
class FakeStore:
    """An in-memory FAKE object store."""

    objects: dict[tuple[str, str], bytes] = field(default_factory=dict)

    async def put_file(self, *, bucket: str, key: str, path: Path, content_type: str) -> None:
        self.objects[(bucket, key)] = path.read_bytes()

    async def delete(self, *, bucket: str, key: str) -> None:
        self.objects.pop((bucket, key), None)


def _fields(**overrides: Any) -> ProductCreate:
    body = {"name": "Desk", "price": "10.00", "currency": "EUR", "stock": 1, "category": "f"}
    return ProductCreate.model_validate({**body, **overrides})


SELLER = Principal(user_id="seller-1", role="seller", token_id="t1", expires_at=0)
OTHER = Principal(user_id="seller-2", role="seller", token_id="t2", expires_at=0)
ADMIN = Principal(user_id="admin-1", role="admin", token_id="t3", expires_at=0)


@pytest.fixture
def photos() -> service.Photos:
    return service.Photos(store=FakeStore(), bucket="originals", on_events_committed=lambda: None)


@pytest.fixture
def accepted(tmp_path: Path) -> service.AcceptedImage:
    path = tmp_path / "upload"
    path.write_bytes(b"\xff\xd8 not really a jpeg")
    spooled = SpooledFile(path=path, size=20, filename="a.jpg")
    header = ImageHeader(content_type="image/jpeg", width=4, height=3, bytes=20)
    return service.AcceptedImage(spooled=spooled, header=header)


async def test_create_with_a_photo_stores_the_object_then_rows_and_event(
    photos: service.Photos, accepted: service.AcceptedImage
) -> None:
    products = FakeProducts()
    product = await service.create_product(
        products=products, photos=photos, seller_id="seller-1", fields=_fields(), accepted=accepted
    )
    assert products.products[product.id].rating_count == 0
    [image] = product.images
    assert photos.store.objects == {
        ("originals", image.object_key): accepted.spooled.path.read_bytes()
    }  # type: ignore[attr-defined]
    [(kind, product_id, data)] = products.events
    assert (kind, product_id, data["image_id"], data["seller_id"]) == (
        IMAGE_UPLOADED,
        product.id,
        image.id,
        "seller-1",
    )


async def test_a_failed_commit_removes_the_stored_object(
    photos: service.Photos, accepted: service.AcceptedImage
) -> None:
    products = FakeProducts(fail_commit=True)
    with pytest.raises(CommitFailed):
        await service.create_product(
            products=products,
            photos=photos,
            seller_id="seller-1",
            fields=_fields(),
            accepted=accepted,
        )
    assert photos.store.objects == {}  # type: ignore[attr-defined]
    assert products.products == {} and products.events == []


async def _existing(products: FakeProducts, photos: service.Photos) -> Product:
    return await service.create_product(
        products=products, photos=photos, seller_id="seller-1", fields=_fields(), accepted=None
    )


async def test_only_the_owner_updates_and_prices_follow_the_currency(
    photos: service.Photos,
) -> None:
    products = FakeProducts()
    product = await _existing(products, photos)
    with pytest.raises(NotOwner):
        await service.update_product(
            products=products,
            principal=OTHER,
            product_id=product.id,
            changes=ProductUpdate(stock=3),
        )
    updated = await service.update_product(
        products=products,
        principal=SELLER,
        product_id=product.id,
        changes=ProductUpdate.model_validate({"price": "12.50"}),
    )
    assert updated.price == Decimal("12.50")
    with pytest.raises(InvalidProduct):
        await service.update_product(
            products=products,
            principal=SELLER,
            product_id=product.id,
            changes=ProductUpdate(currency="JPY"),  # 12.50 has places JPY does not
        )
    with pytest.raises(ProductNotFound):
        await service.update_product(
            products=products, principal=SELLER, product_id="nope", changes=ProductUpdate()
        )


async def test_delete_by_owner_or_admin_announces_the_deletion(photos: service.Photos) -> None:
    products = FakeProducts()
    mine = await _existing(products, photos)
    theirs = await _existing(products, photos)
    told: list[str] = []
    with pytest.raises(NotOwner):
        await service.delete_product(
            products=products,
            principal=OTHER,
            product_id=mine.id,
            on_events_committed=lambda: told.append("x"),
        )
    assert told == []
    await service.delete_product(
        products=products,
        principal=SELLER,
        product_id=mine.id,
        on_events_committed=lambda: told.append("x"),
    )
    await service.delete_product(
        products=products,
        principal=ADMIN,
        product_id=theirs.id,
        on_events_committed=lambda: told.append("x"),
    )
    assert products.products == {} and told == ["x", "x"]
    assert [(kind, pid) for kind, pid, _ in products.events] == [
        (PRODUCT_DELETED, mine.id),
        (PRODUCT_DELETED, theirs.id),
    ]


async def test_adding_a_photo_needs_the_product_and_its_owner(
    photos: service.Photos, accepted: service.AcceptedImage
) -> None:
    products = FakeProducts()
    product = await _existing(products, photos)
    with pytest.raises(ProductNotFound):
        await service.check_can_add_image(products=products, principal=SELLER, product_id="nope")
    with pytest.raises(NotOwner):
        await service.check_can_add_image(products=products, principal=OTHER, product_id=product.id)
    with pytest.raises(NotOwner):
        await service.add_image(
            products=products,
            photos=photos,
            principal=OTHER,
            product_id=product.id,
            accepted=accepted,
        )
    assert photos.store.objects == {}  # type: ignore[attr-defined]  # refused: object removed
    image = await service.add_image(
        products=products, photos=photos, principal=SELLER, product_id=product.id, accepted=accepted
    )
    assert products.products[product.id].images == [image]


async def test_reading_and_listing_raise_domain_errors(photos: service.Photos) -> None:
    products = FakeProducts()
    with pytest.raises(ProductNotFound):
        await service.get_product(products=products, product_id="missing")
    with pytest.raises(PageTooDeep):
        await service.list_products(products=products, query=ProductQuery(page=502, size=20))
    with pytest.raises(InvalidCursor):
        await service.list_products(products=products, query=ProductQuery(cursor="not-a-cursor"))
    await service.list_products(products=products, query=ProductQuery(q="lamp"))
    [(query, cursor)] = products.listed
    assert cursor is None
    assert query.sort == "relevance"  # SPEC §3: relevance is the default sort when q is given
    await service.list_products(products=products, query=ProductQuery(q="lamp", sort="price_asc"))
    await service.list_products(products=products, query=ProductQuery(sort="relevance"))
    assert [listed.sort for listed, _ in products.listed[1:]] == ["price_asc", "newest"]
