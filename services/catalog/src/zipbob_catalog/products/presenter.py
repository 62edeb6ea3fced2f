"""Products and images as the JSON the API returns; variant URLs are presigned here.

Two sources, one shape: ORM objects (after a write) and rows of the read path (named
tuples from products.rawread, or Core rows: the same attribute names), which skips the
ORM's identity map and relationship loading.

Timestamps stay ``datetime`` objects in these dicts: ``dumps`` (orjson) writes them as
RFC 3339 UTC with ``Z``, the bytes ``isoformat()`` with ``Z`` gave, in C. Every product
and image body goes out through ``dumps``. Measured on a 20-product page (2-core VM,
CPU): building the dicts with ``isoformat`` strings and encoding them with the standard
library's encoder, plus a string ETag token per product, cost 194 us; with ``dumps`` and
``weak_etag`` over orjson about 40 us.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from zipbob_catalog.products.models import Image, Product
from zipbob_catalog.products.money import format_price
from zipbob_catalog.storage import ObjectStore

# Naive datetimes are UTC here (as UtcDateTime stores them); NaN cannot occur (no floats
# but a rating average, hundredths / 100), and orjson refuses lone surrogates as the
# UTF-8 encode of the standard library's output did.
_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC


def dumps(body: Any) -> bytes:
    """A response body as compact UTF-8 JSON (timestamps as ``...Z``)."""
    return orjson.dumps(body, option=_OPTIONS)


def rating_json(hundredths: int, count: int) -> dict[str, Any]:
    return {"average": hundredths / 100 if count else None, "count": count}


def _variants(variants: dict[str, Any] | None, store: ObjectStore) -> dict[str, Any]:
    return {
        name: {
            "url": store.presigned_get(bucket=variant["bucket"], key=variant["key"]),
            "width": variant["width"],
            "height": variant["height"],
            "bytes": variant["bytes"],
            "content_type": variant["content_type"],
        }
        for name, variant in (variants or {}).items()
    }


def _image(
    *,
    id: str,
    status: str,
    content_type: str,
    size: int,
    width: int,
    height: int,
    variants: dict[str, Any] | None,
    error: str | None,
    store: ObjectStore,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": id,
        "status": status,
        "original": {"content_type": content_type, "bytes": size, "width": width, "height": height},
        "variants": _variants(variants, store),
    }
    if error:
        body["error"] = error
    return body


def image_json(image: Image, store: ObjectStore) -> dict[str, Any]:
    return _image(
        id=image.id,
        status=image.status,
        content_type=image.content_type,
        size=image.bytes,
        width=image.width,
        height=image.height,
        variants=image.variants,
        error=image.error,
        store=store,
    )


def product_json(product: Product, store: ObjectStore) -> dict[str, Any]:
    return {
        "id": product.id,
        "seller_id": product.seller_id,
        "name": product.name,
        "description": product.description,
        "price": format_price(product.price, product.currency),
        "currency": product.currency,
        "stock": product.stock,
        "category": product.category,
        "created_at": product.created_at,
        "updated_at": product.updated_at,
        "rating": rating_json(product.rating_hundredths or 0, product.rating_count or 0),
        "images": [image_json(image, store) for image in product.images],
    }


def image_row_json(row: Any, store: ObjectStore, *, prefix: str = "") -> dict[str, Any]:
    if prefix:
        return _image(
            id=getattr(row, f"{prefix}id"),
            status=getattr(row, f"{prefix}status"),
            content_type=getattr(row, f"{prefix}content_type"),
            size=getattr(row, f"{prefix}bytes"),
            width=getattr(row, f"{prefix}width"),
            height=getattr(row, f"{prefix}height"),
            variants=getattr(row, f"{prefix}variants"),
            error=getattr(row, f"{prefix}error"),
            store=store,
        )
    return image_json(row, store)  # a row without prefix has the Image's attribute names


def product_row_json(
    row: Any, images: list[Any], store: ObjectStore, *, image_prefix: str = ""
) -> dict[str, Any]:
    return {
        "id": row.id,
        "seller_id": row.seller_id,
        "name": row.name,
        "description": row.description,
        "price": format_price(row.price, row.currency),
        "currency": row.currency,
        "stock": row.stock,
        "category": row.category,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "rating": rating_json(row.rating_hundredths, row.rating_count),
        "images": [image_row_json(image, store, prefix=image_prefix) for image in images],
    }


def version_token(row: Any, images: list[Any], *, image_prefix: str = "") -> tuple[Any, ...]:
    """What changes whenever the product's JSON changes (apart from URL signatures)."""
    parts = [row.id, row.updated_at, row.rating_version]
    for image in images:
        parts.append(getattr(image, f"{image_prefix}id"))
        parts.append(getattr(image, f"{image_prefix}updated_at"))
    return tuple(parts)


def has_variants(images: list[Any], *, image_prefix: str = "") -> bool:
    return any(getattr(image, f"{image_prefix}variants") for image in images)


def weak_etag(*parts: Any) -> str:
    """A weak validator over ``parts`` (strings, numbers, datetimes, tuples of them)."""
    digest = hashlib.blake2b(dumps(parts), digest_size=12).hexdigest()
    return f'W/"{digest}"'
