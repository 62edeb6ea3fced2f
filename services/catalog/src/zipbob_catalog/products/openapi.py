"""What the products API documents (SPEC 3): response models, errors, bodies, links.

The views keep returning the presenter's plain JSON (no response-model validation on the
hot path); these models only describe it, through the decorators' ``responses=``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from zipbob_platform.openapi import HEADERS, errors, operation

# From a real answer of `make run` (the signature shortened).
_PRODUCT = "5ef6661c-9376-4ec4-946c-2a72f82c7fe5"
_IMAGE = "108a71c7-cde0-4de4-9988-3aff1e493643"
_URL = (
    f"http://127.0.0.1:9000/resized-images/products/{_PRODUCT}/{_IMAGE}/thumbnail.jpg"
    "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=zipbob-local%2F20261202%2Fus-east-1"
    "%2Fs3%2Faws4_request&X-Amz-Date=20261202T061120Z&X-Amz-Expires=3600"
    "&X-Amz-SignedHeaders=host&X-Amz-Signature=c8dac500195b362e…"
)
PRODUCT_EXAMPLE: dict[str, Any] = {
    "id": _PRODUCT,
    "seller_id": "e7c9fc98-0f81-4ecd-8704-c2e79487e1e4",
    "name": "Walnut salad bowl",
    "description": "",
    "price": "49.90",
    "currency": "EUR",
    "stock": 12,
    "category": "kitchen",
    "created_at": "2026-12-02T06:11:18.312122Z",
    "updated_at": "2026-12-02T06:11:18.312127Z",
    "rating": {"average": 4.5, "count": 2},
    "images": [
        {
            "id": _IMAGE,
            "status": "ready",
            "original": {"content_type": "image/jpeg", "bytes": 5428, "width": 640, "height": 480},
            "variants": {
                "thumbnail": {
                    "url": _URL,
                    "width": 200,
                    "height": 150,
                    "bytes": 1149,
                    "content_type": "image/jpeg",
                }
            },
        }
    ],
}
# What POST /api/products answers: the photo not resized yet, no reviews yet.
CREATED_EXAMPLE: dict[str, Any] = {
    **PRODUCT_EXAMPLE,
    "rating": {"average": None, "count": 0},
    "images": [{**PRODUCT_EXAMPLE["images"][0], "status": "pending", "variants": {}}],
}


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Original(Model):
    content_type: Literal["image/jpeg", "image/png", "image/webp"]
    bytes: int = Field(ge=0)
    width: int = Field(ge=1)
    height: int = Field(ge=1)


class Variant(Model):
    url: str = Field(description="Absolute URL; a plain HTTP GET returns the bytes.")
    width: int = Field(ge=1)
    height: int = Field(ge=1)
    bytes: int = Field(ge=0)
    content_type: str


class Variants(BaseModel):
    model_config = ConfigDict(extra="allow")  # further sizes if the resizer is configured so

    thumbnail: Variant | None = Field(None, description="Fits 200x200.")
    medium: Variant | None = Field(None, description="Fits 800x800.")
    large: Variant | None = Field(None, description="Fits 1600x1600.")


class ImageRead(Model):
    """A product photo: `pending` until the resizer has made its variants."""

    id: str
    status: Literal["pending", "ready", "failed"]
    original: Original
    variants: Variants = Field(description="Empty until the image is `ready`.")
    error: str | None = Field(None, description="Why resizing failed (only when `failed`).")

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "id": _IMAGE,
                    "status": "pending",
                    "original": {
                        "content_type": "image/jpeg",
                        "bytes": 5428,
                        "width": 640,
                        "height": 480,
                    },
                    "variants": {},
                }
            ]
        },
    )


class Rating(Model):
    average: float | None = Field(description="Mean of the ratings, null without reviews.")
    count: int = Field(ge=0)


class ProductRead(Model):
    id: str
    seller_id: str
    name: str
    description: str
    price: str = Field(description="Decimal string in the currency's minor units, e.g. '19.99'.")
    currency: str = Field(description="ISO 4217 code.")
    stock: int = Field(ge=0)
    category: str
    created_at: str = Field(json_schema_extra={"format": "date-time"})
    updated_at: str = Field(json_schema_extra={"format": "date-time"})
    rating: Rating = Field(description="Fed by review events; eventually consistent.")
    images: list[ImageRead]

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [PRODUCT_EXAMPLE]})


class ProductPage(Model):
    items: list[ProductRead]
    page: int = Field(ge=1)
    size: int = Field(ge=1, le=100)
    total: int = Field(ge=0, description="Exact up to 10,000; see `total_exact`.")
    total_exact: bool = Field(description="False when `total` is a lower bound or estimate.")
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page in the same order; null on the last."
    )


class ProductFields(Model):
    """The JSON body of `POST /api/products` (without a photo)."""

    name: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=10_000)
    price: str = Field(description="Decimal string, e.g. '19.99' (not a JSON number), >= 0.")
    currency: str = Field(description="ISO 4217 code, e.g. 'EUR'.")
    stock: int = Field(ge=0, le=1_000_000_000)
    category: str = Field(min_length=1, max_length=100)

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "Walnut salad bowl",
                    "description": "Hand-turned, food-safe oil finish.",
                    "price": "49.90",
                    "currency": "EUR",
                    "stock": 12,
                    "category": "kitchen",
                }
            ]
        },
    )


def _changes_schema() -> dict[str, Any]:
    schema = ProductFields.model_json_schema()
    schema.pop("required", None)
    schema["properties"]["description"].pop("default", None)
    schema.update(
        title="ProductChanges",
        description="The body of `PATCH /api/products/{product_id}`: any subset, no nulls.",
        examples=[{"stock": 11, "price": "44.90"}],
    )
    return schema


MULTIPART_PRODUCT = {
    "type": "object",
    "required": ["name", "price", "currency", "stock", "category"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "description": {"type": "string", "maxLength": 10_000},
        "price": {"type": "string", "description": "Decimal string, e.g. '19.99'."},
        "currency": {"type": "string", "description": "ISO 4217, e.g. 'EUR'."},
        "stock": {"type": "integer", "minimum": 0, "maximum": 1_000_000_000},
        "category": {"type": "string", "minLength": 1, "maxLength": 100},
        "image": {
            "type": "string",
            "contentMediaType": "application/octet-stream",
            "description": "Optional photo: JPEG, PNG or WebP (sniffed from its bytes), "
            "at most 20 MiB and 50 megapixels.",
        },
    },
}
MULTIPART_IMAGE = {
    "type": "object",
    "required": ["image"],
    "properties": {
        "image": {
            "type": "string",
            "contentMediaType": "application/octet-stream",
            "description": "JPEG, PNG or WebP (sniffed from its bytes), at most 20 MiB and "
            "50 megapixels.",
        }
    },
}

_PRODUCT_ID = {"product_id": "$response.body#/id"}
_PRODUCT_LINKS = {
    "GetProduct": {"operationId": "getProduct", "parameters": _PRODUCT_ID},
    "UpdateProduct": {"operationId": "updateProduct", "parameters": _PRODUCT_ID},
    "AddProductImage": {"operationId": "addProductImage", "parameters": _PRODUCT_ID},
    "DeleteProduct": {"operationId": "deleteProduct", "parameters": _PRODUCT_ID},
}
_OWNED = "Only the seller who owns the product"
# Public reads carry a weak ETag; send it back as If-None-Match for a bodiless 304.
_CACHED_HEADERS = {
    "ETag": {"description": "Weak validator of this body.", "schema": {"type": "string"}},
    "Cache-Control": {"description": "How long caches may keep it.", "schema": {"type": "string"}},
}
_CONDITIONAL = {
    "parameters": [
        {
            "in": "header",
            "name": "If-None-Match",
            "required": False,
            "description": "An ETag from an earlier answer: 304 without a body if unchanged.",
            "schema": {"type": "string"},
        }
    ]
}
_NOT_MODIFIED = {
    304: {"description": "Not modified since the ETag you sent.", "headers": _CACHED_HEADERS}
}

CREATE_PRODUCT = operation(
    operation_id="createProduct",
    summary="Register a product",
    description="JSON without a photo, or multipart/form-data with the same fields plus an "
    "optional file `image`. The photo is resized in the background: its `status` stays "
    "`pending` until its variants are ready.",
    roles=("seller",),
    ok={
        201: {
            "model": ProductRead,
            "description": "The product; `Location` names it.",
            "content": {"application/json": {"example": CREATED_EXAMPLE}},
            "headers": {"Location": HEADERS["Location"]},
            "links": _PRODUCT_LINKS,
        }
    },
    errors_=errors(401, 403, 413, 415, 422, 429, 503),
    extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": ProductFields.model_json_schema()},
                "multipart/form-data": {
                    "schema": MULTIPART_PRODUCT,
                    "encoding": {"image": {"contentType": "image/jpeg, image/png, image/webp"}},
                },
            },
        }
    },
)
LIST_PRODUCTS = operation(
    operation_id="listProducts",
    summary="Search and list products",
    description="`q` is full-text (words and prefixes) and sorts by relevance unless `sort` "
    "says otherwise. Follow `next_cursor` (as `cursor`) for deep pages.",
    ok={
        200: {
            "model": ProductPage,
            "description": "A page of products.",
            "headers": _CACHED_HEADERS,
        },
        **_NOT_MODIFIED,
    },
    errors_=errors(422, 429, 503, e422="A parameter is invalid (an invalid `cursor` too)."),
    extra=_CONDITIONAL,
)
GET_PRODUCT = operation(
    operation_id="getProduct",
    summary="Get a product",
    ok={
        200: {"model": ProductRead, "description": "The product.", "headers": _CACHED_HEADERS},
        **_NOT_MODIFIED,
    },
    errors_=errors(404, 422, 429, 503),
    extra=_CONDITIONAL,
)
UPDATE_PRODUCT = operation(
    operation_id="updateProduct",
    summary="Change a product",
    description=f"{_OWNED} may change it. Send only the fields to change.",
    roles=("seller",),
    ok={200: {"model": ProductRead, "description": "The changed product."}},
    errors_=errors(401, 403, 404, 415, 422, 429, 503),
    extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _changes_schema()}},
        }
    },
)
DELETE_PRODUCT = operation(
    operation_id="deleteProduct",
    summary="Delete a product",
    description=f"{_OWNED}, or an admin. Its photos are deleted too.",
    roles=("seller", "admin"),
    ok={204: {"description": "Deleted."}},
    errors_=errors(401, 403, 404, 422, 429, 503),
)
ADD_IMAGE = operation(
    operation_id="addProductImage",
    summary="Add a photo to a product",
    description=f"{_OWNED}. Answers at once with the image `pending`; poll the product "
    "until it is `ready` (or `failed`, with `error`).",
    roles=("seller",),
    ok={202: {"model": ImageRead, "description": "The image, `pending`."}},
    errors_=errors(401, 403, 404, 413, 415, 422, 429, 503),
    extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": MULTIPART_IMAGE,
                    "encoding": {"image": {"contentType": "image/jpeg, image/png, image/webp"}},
                }
            },
        }
    },
)
