"""HTTP routes of the products API; thin: parse, authorize, hand off, present."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.responses import Response

from zipbob_catalog.products import openapi as docs
from zipbob_catalog.products import service
from zipbob_catalog.products.cursor import encode_cursor
from zipbob_catalog.products.presenter import (
    dumps,
    has_variants,
    image_json,
    product_json,
    product_row_json,
    version_token,
    weak_etag,
)
from zipbob_catalog.products.repository import IMAGE_PREFIX, SqlProducts
from zipbob_catalog.products.schemas import ProductCreate, ProductQuery, ProductUpdate
from zipbob_catalog.runtime import CatalogRuntime
from zipbob_catalog.uploads.inspection import inspect_image
from zipbob_catalog.uploads.multipart import MultipartForm, bad_form, read_multipart
from zipbob_platform.auth import Principal, require_role
from zipbob_platform.problems import Problem

router = APIRouter(prefix="/api/products", tags=["products"])
IMAGE_FIELD = "image"
# Public reads: any cache may store them but revalidates each use (If-None-Match -> 304),
# so a seller watching a photo become ready never sees a stale copy.
CACHE_CONTROL = "public, no-cache"

SellerDep = Annotated[Principal, Depends(require_role("seller"))]
SellerOrAdminDep = Annotated[Principal, Depends(require_role("seller", "admin"))]


async def runtime_of(request: Request) -> CatalogRuntime:
    return request.app.state.container.runtime  # type: ignore[no-any-return]


RuntimeDep = Annotated[CatalogRuntime, Depends(runtime_of)]


async def products_of(request: Request) -> SqlProducts:
    return request.app.state.container.products  # type: ignore[no-any-return]


ProductsDep = Annotated[SqlProducts, Depends(products_of)]


def _validated(model: type[Any], data: Any) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**err, "loc": ("body", *err["loc"])} for err in exc.errors(include_url=False)]
        ) from None


async def _json_body(request: Request) -> Any:
    try:
        return json.loads(await request.body())
    except ValueError:
        raise Problem(422, "the body is not valid JSON", title="Validation failed") from None


async def _accepted_image(runtime: CatalogRuntime, form: MultipartForm) -> service.AcceptedImage:
    spooled = form.files[IMAGE_FIELD]
    header = inspect_image(
        spooled.path, size=spooled.size, max_pixels=runtime.settings.uploads.max_pixels
    )
    return service.AcceptedImage(spooled=spooled, header=header)


@router.post("", status_code=201, **docs.CREATE_PRODUCT)
async def create_product(
    request: Request, runtime: RuntimeDep, products: ProductsDep, seller: SellerDep
) -> Response:
    content_type = request.headers.get("content-type", "")
    form = None
    if content_type.startswith("multipart/form-data"):
        form = await read_multipart(
            request, limits=runtime.settings.uploads, file_fields=frozenset({IMAGE_FIELD})
        )
    elif not (content_type.startswith("application/json") or not content_type):
        raise Problem(415, "send application/json, or multipart/form-data with an image")
    try:
        if form is not None:
            fields = _validated(ProductCreate, form.fields)
            accepted = await _accepted_image(runtime, form) if IMAGE_FIELD in form.files else None
        else:
            fields = _validated(ProductCreate, await _json_body(request))
            accepted = None
        product = await service.create_product(
            products=products,
            photos=_photos(runtime),
            seller_id=seller.user_id,
            fields=fields,
            accepted=accepted,
        )
    finally:
        if form is not None:
            form.discard()  # the spooled upload lives until the product is created
    return _json(
        product_json(product, runtime.store),
        status_code=201,
        headers={"Location": f"/api/products/{product.id}"},
    )


def _photos(runtime: CatalogRuntime) -> service.Photos:
    return service.Photos(
        store=runtime.store,
        bucket=runtime.settings.s3.original_bucket,
        on_events_committed=runtime.on_events_committed,
    )


def _url_epoch(runtime: CatalogRuntime) -> str:
    """Variant URLs are signed per response; a cached copy is good for half their life."""
    half_life = max(runtime.settings.s3.presign_expiry_seconds // 2, 1)
    return str(int(time.time()) // half_life)


def _json(body: Any, *, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(body), status_code, headers, media_type="application/json")


def _cached_json(if_none_match: str | None, etag: str, body: Callable[[], Any]) -> Response:
    """The body as JSON with its ETag, or a bodiless 304 when the client has it already
    (then the body is never built)."""
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
    if etag in _if_none_match(if_none_match):
        return Response(status_code=304, headers=headers)
    return _json(body(), headers=headers)


def _if_none_match(raw: str | None) -> set[str]:
    if not raw:
        return set()
    tags = {tag.strip() for tag in raw.split(",")}
    # Weak comparison (RFC 9110 13.1.2): W/"x" and "x" are the same validator.
    return tags | {f"W/{tag}" for tag in tags if not tag.startswith("W/")}


async def list_response(
    runtime: CatalogRuntime, products: SqlProducts, query: ProductQuery, if_none_match: str | None
) -> Response:
    """GET /api/products once its parameters are valid (here and in products.fastpath)."""
    result = await service.list_products(products=products, query=query)
    store = runtime.store
    page_number = result.page
    size = query.size
    next_cursor = (
        encode_cursor(result.next_cursor, scope=query.scope()) if result.next_cursor else None
    )
    tokens: list[Any] = [result.total, result.total_exact, next_cursor, page_number]
    for row in result.rows:
        images = result.images.get(row.id, [])
        tokens.append(version_token(row, images, image_prefix=IMAGE_PREFIX))
        if has_variants(images, image_prefix=IMAGE_PREFIX):
            tokens.append(_url_epoch(runtime))
    return _cached_json(
        if_none_match,
        weak_etag(*tokens),
        lambda: {
            "items": [
                product_row_json(
                    row, result.images.get(row.id, []), store, image_prefix=IMAGE_PREFIX
                )
                for row in result.rows
            ],
            "page": page_number,
            "size": size,
            "total": result.total,
            "total_exact": result.total_exact,
            "next_cursor": next_cursor,
        },
    )


async def product_response(
    runtime: CatalogRuntime, products: SqlProducts, product_id: str, if_none_match: str | None
) -> Response:
    """GET /api/products/{product_id} (here and in products.fastpath)."""
    row, images = await service.get_product(products=products, product_id=product_id)
    tokens: list[Any] = [version_token(row, images, image_prefix=IMAGE_PREFIX)]
    if has_variants(images, image_prefix=IMAGE_PREFIX):
        tokens.append(_url_epoch(runtime))
    return _cached_json(
        if_none_match,
        weak_etag(*tokens),
        lambda: product_row_json(row, images, runtime.store, image_prefix=IMAGE_PREFIX),
    )


@router.get("", **docs.LIST_PRODUCTS)
async def list_products(
    request: Request,
    runtime: RuntimeDep,
    products: ProductsDep,
    query: Annotated[ProductQuery, Query()],
) -> Response:
    # Plain requests never get here: products.fastpath answers them before FastAPI's
    # routing; this route serves the rest (odd parameters, HEAD) and the OpenAPI document.
    return await list_response(runtime, products, query, request.headers.get("if-none-match"))


@router.get("/{product_id}", **docs.GET_PRODUCT)
async def get_product(
    product_id: str, request: Request, runtime: RuntimeDep, products: ProductsDep
) -> Response:
    return await product_response(
        runtime, products, product_id, request.headers.get("if-none-match")
    )


@router.patch("/{product_id}", **docs.UPDATE_PRODUCT)
async def update_product(
    product_id: str, request: Request, runtime: RuntimeDep, products: ProductsDep, seller: SellerDep
) -> Response:
    changes = _validated(ProductUpdate, await _json_body(request))
    product = await service.update_product(
        products=products, principal=seller, product_id=product_id, changes=changes
    )
    return _json(product_json(product, runtime.store))


@router.delete("/{product_id}", status_code=204, **docs.DELETE_PRODUCT)
async def delete_product(
    product_id: str, runtime: RuntimeDep, products: ProductsDep, user: SellerOrAdminDep
) -> Response:
    await service.delete_product(
        products=products,
        principal=user,
        product_id=product_id,
        on_events_committed=runtime.on_events_committed,
    )
    return Response(status_code=204)


@router.post("/{product_id}/images", status_code=202, **docs.ADD_IMAGE)
async def add_image(
    product_id: str, request: Request, runtime: RuntimeDep, products: ProductsDep, seller: SellerDep
) -> Response:
    await service.check_can_add_image(products=products, principal=seller, product_id=product_id)
    form = await read_multipart(
        request, limits=runtime.settings.uploads, file_fields=frozenset({IMAGE_FIELD})
    )
    try:
        if IMAGE_FIELD not in form.files:
            raise bad_form(f"the multipart body has no file field {IMAGE_FIELD!r}")
        accepted = await _accepted_image(runtime, form)
        image = await service.add_image(
            products=products,
            photos=_photos(runtime),
            principal=seller,
            product_id=product_id,
            accepted=accepted,
        )
    finally:
        form.discard()
    return _json(image_json(image, runtime.store), status_code=202)
