"""HTTP routes of the products API; thin: parse, authorize, hand off, present."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.responses import JSONResponse, Response

from zipbob_catalog.products import openapi as docs
from zipbob_catalog.products import service
from zipbob_catalog.products.presenter import image_json, product_json
from zipbob_catalog.products.schemas import ProductCreate, ProductQuery, ProductSort, ProductUpdate
from zipbob_catalog.runtime import CatalogRuntime
from zipbob_catalog.uploads.inspection import inspect_image
from zipbob_catalog.uploads.multipart import MultipartForm, bad_form, read_multipart
from zipbob_platform.auth import Principal, require_role
from zipbob_platform.problems import Problem

router = APIRouter(prefix="/api/products", tags=["products"])
IMAGE_FIELD = "image"

SellerDep = Annotated[Principal, Depends(require_role("seller"))]
SellerOrAdminDep = Annotated[Principal, Depends(require_role("seller", "admin"))]


def runtime_of(request: Request) -> CatalogRuntime:
    return request.app.state.container.runtime  # type: ignore[no-any-return]


RuntimeDep = Annotated[CatalogRuntime, Depends(runtime_of)]


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
async def create_product(request: Request, runtime: RuntimeDep, seller: SellerDep) -> Response:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await read_multipart(
            request, limits=runtime.settings.uploads, file_fields=frozenset({IMAGE_FIELD})
        )
        try:
            fields = _validated(ProductCreate, form.fields)
            accepted = await _accepted_image(runtime, form) if IMAGE_FIELD in form.files else None
            product = await service.create_product(
                runtime=runtime, seller_id=seller.user_id, fields=fields, accepted=accepted
            )
        finally:
            form.discard()
    elif content_type.startswith("application/json") or not content_type:
        fields = _validated(ProductCreate, await _json_body(request))
        product = await service.create_product(
            runtime=runtime, seller_id=seller.user_id, fields=fields, accepted=None
        )
    else:
        raise Problem(415, "send application/json, or multipart/form-data with an image")
    return JSONResponse(
        product_json(product, runtime.store),
        status_code=201,
        headers={"Location": f"/api/products/{product.id}"},
    )


@router.get("", **docs.LIST_PRODUCTS)
async def list_products(
    runtime: RuntimeDep,
    q: Annotated[str | None, Query(max_length=200)] = None,
    category: Annotated[str | None, Query(max_length=100)] = None,
    seller_id: Annotated[str | None, Query(max_length=64)] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    size: Annotated[int, Query(ge=1, le=100)] = 20,
    sort: Annotated[ProductSort, Query()] = "newest",
) -> dict[str, Any]:
    query = ProductQuery(
        q=q, category=category, seller_id=seller_id, page=page, size=size, sort=sort
    )
    products, total = await service.list_products(runtime=runtime, query=query)
    return {
        "items": [product_json(product, runtime.store) for product in products],
        "page": page,
        "size": size,
        "total": total,
    }


@router.get("/{product_id}", **docs.GET_PRODUCT)
async def get_product(product_id: str, runtime: RuntimeDep) -> dict[str, Any]:
    product = await service.get_product(runtime=runtime, product_id=product_id)
    return product_json(product, runtime.store)


@router.patch("/{product_id}", **docs.UPDATE_PRODUCT)
async def update_product(
    product_id: str, request: Request, runtime: RuntimeDep, seller: SellerDep
) -> dict[str, Any]:
    changes = _validated(ProductUpdate, await _json_body(request))
    product = await service.update_product(
        runtime=runtime, principal=seller, product_id=product_id, changes=changes
    )
    return product_json(product, runtime.store)


@router.delete("/{product_id}", status_code=204, **docs.DELETE_PRODUCT)
async def delete_product(product_id: str, runtime: RuntimeDep, user: SellerOrAdminDep) -> Response:
    await service.delete_product(runtime=runtime, principal=user, product_id=product_id)
    return Response(status_code=204)


@router.post("/{product_id}/images", status_code=202, **docs.ADD_IMAGE)
async def add_image(
    product_id: str, request: Request, runtime: RuntimeDep, seller: SellerDep
) -> Response:
    await service.check_can_add_image(runtime=runtime, principal=seller, product_id=product_id)
    form = await read_multipart(
        request, limits=runtime.settings.uploads, file_fields=frozenset({IMAGE_FIELD})
    )
    try:
        if IMAGE_FIELD not in form.files:
            raise bad_form(f"the multipart body has no file field {IMAGE_FIELD!r}")
        accepted = await _accepted_image(runtime, form)
        image = await service.add_image(
            runtime=runtime, principal=seller, product_id=product_id, accepted=accepted
        )
    finally:
        form.discard()
    return JSONResponse(image_json(image, runtime.store), status_code=202)
