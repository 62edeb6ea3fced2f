"""Products and images as the JSON the API returns; variant URLs are presigned here."""

from __future__ import annotations

from typing import Any

from zipbob_catalog.products.models import Image, Product
from zipbob_catalog.products.money import format_price
from zipbob_catalog.storage import ObjectStore


def image_json(image: Image, store: ObjectStore) -> dict[str, Any]:
    variants = {
        name: {
            "url": store.presigned_get(bucket=variant["bucket"], key=variant["key"]),
            "width": variant["width"],
            "height": variant["height"],
            "bytes": variant["bytes"],
            "content_type": variant["content_type"],
        }
        for name, variant in (image.variants or {}).items()
    }
    body: dict[str, Any] = {
        "id": image.id,
        "status": image.status,
        "original": {
            "content_type": image.content_type,
            "bytes": image.bytes,
            "width": image.width,
            "height": image.height,
        },
        "variants": variants,
    }
    if image.error:
        body["error"] = image.error
    return body


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
        "created_at": product.created_at.isoformat().replace("+00:00", "Z"),
        "updated_at": product.updated_at.isoformat().replace("+00:00", "Z"),
        "images": [image_json(image, store) for image in product.images],
    }
