"""Seller pages: my products, register one with a photo, live photo status, edit, delete."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..api import ApiError
from ..catalog import CURRENCIES, cover, page_number, pager, pictures, rating_of
from ..pages import (
    checked_form,
    current_user,
    redirect,
    render,
    settings_of,
    text,
    wants_json,
    web_session,
)
from ..session import User

router = APIRouter(prefix="/seller")
FORM_OVERHEAD_BYTES = 1024 * 1024
PRODUCT_FIELDS = ("name", "description", "price", "currency", "stock", "category")
EDIT_FIELDS = ("name", "description", "price", "stock", "category")


def _seller(request: Request, next_path: str | None = None) -> User:
    return current_user(request, role="seller", next_path=next_path)


class UploadRefused(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message


def _too_large(request: Request) -> UploadRefused | None:
    """Refuse an oversized upload from its Content-Length, before reading a byte of it."""
    limit = settings_of(request).web.max_upload_bytes
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit + FORM_OVERHEAD_BYTES:
        return UploadRefused(413, _size_message(limit))
    return None


def _size_message(limit: int) -> str:
    return f"The photo is too large: at most {limit // (1024 * 1024)} MiB."


def _photo(request: Request, form: FormData) -> UploadFile | None:
    photo = form.get("image")
    if not isinstance(photo, UploadFile) or not photo.filename:
        return None
    limit = settings_of(request).web.max_upload_bytes
    if photo.size is not None and photo.size > limit:
        raise UploadRefused(413, _size_message(limit))
    return photo


def _files(photo: UploadFile) -> dict[str, Any]:
    content_type = photo.content_type or "application/octet-stream"
    return {"image": (photo.filename or "photo", photo.file, content_type)}


async def _own_product(request: Request, product_id: str, user: User) -> dict[str, Any] | None:
    try:
        product: dict[str, Any] = await request.app.state.gateway.call(
            "GET", f"/api/products/{product_id}"
        )
    except ApiError as error:
        if error.status == 404:
            return None
        raise
    return product if product.get("seller_id") == user.id else None


def _failure(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    status: int,
    message: str,
    fields: dict[str, str] | None = None,
) -> Response:
    if wants_json(request):
        return JSONResponse({"error": message, "fields": fields or {}}, status_code=status)
    return render(
        request, template, {**context, "error": message, "errors": fields or {}}, status=status
    )


def _success(request: Request, location: str, flash: str) -> Response:
    if wants_json(request):
        web_session(request).set_flash(flash)
        return JSONResponse({"redirect": location})
    return redirect(location, flash=flash, request=request)


@router.get("/products")
async def my_products(request: Request) -> Response:
    user = _seller(request)
    size = settings_of(request).web.page_size
    q = request.query_params.get("q", "").strip()[:200]
    page = page_number(request.query_params.get("page"))
    try:
        body = await web_session(request).call(
            "GET",
            "/api/products",
            params={"seller_id": user.id, "q": q, "page": page, "size": size},
        )
    except ApiError as error:
        return render(request, "error.html", {"message": error.message}, status=502)
    items = [{**p, "cover": cover(p), "rating": rating_of(p)} for p in body.get("items", [])]
    context = {"items": items, "q": q, "pager": pager(body, page=page, size=size)}
    return render(request, "seller_products.html", context)


def _new_context(values: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "values": values or {"currency": "EUR", "stock": "1"},
        "errors": {},
        "currencies": CURRENCIES,
    }


@router.get("/products/new")
async def new_product_page(request: Request) -> Response:
    _seller(request)
    return render(request, "seller_new.html", _new_context())


@router.post("/products/new")
async def create_product(request: Request) -> Response:
    refused = _too_large(request)
    if refused:
        return _failure(
            request, "seller_new.html", _new_context(), status=413, message=refused.message
        )
    form = await checked_form(request)
    _seller(request, "/seller/products/new")
    values = {name: text(form, name) for name in PRODUCT_FIELDS}
    context = _new_context(values)
    try:
        photo = _photo(request, form)
        session = web_session(request)
        if photo is None:
            stock = int(values["stock"]) if values["stock"].isdigit() else values["stock"]
            product = await session.call("POST", "/api/products", json={**values, "stock": stock})
        else:
            product = await session.call("POST", "/api/products", data=values, files=_files(photo))
    except UploadRefused as refused:
        return _failure(request, "seller_new.html", context, status=refused.status,
                        message=refused.message)  # fmt: skip
    except ApiError as error:
        return _failure(request, "seller_new.html", context, status=error.status,
                        message=error.message, fields=error.field_errors)  # fmt: skip
    finally:
        await form.close()
    return _success(request, f"/seller/products/{product['id']}", "product-created")


def _edit_context(product: dict[str, Any], values: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "product": product,
        "pictures": pictures(product),
        "values": values or {name: str(product.get(name, "")) for name in EDIT_FIELDS},
        "errors": {},
    }


async def _edit_target(request: Request, product_id: str) -> tuple[User, dict[str, Any] | None]:
    user = _seller(request, f"/seller/products/{product_id}")
    return user, await _own_product(request, product_id, user)


@router.get("/products/{product_id}")
async def edit_page(request: Request, product_id: str) -> Response:
    _, product = await _edit_target(request, product_id)
    if product is None:
        return render(request, "not_found.html", status=404)
    return render(request, "seller_edit.html", _edit_context(product))


@router.post("/products/{product_id}")
async def edit_product(request: Request, product_id: str) -> Response:
    form = await checked_form(request)
    _, product = await _edit_target(request, product_id)
    if product is None:
        return render(request, "not_found.html", status=404)
    values = {name: text(form, name) for name in EDIT_FIELDS}
    changes: dict[str, Any] = {k: v for k, v in values.items() if v != str(product.get(k, ""))}
    if "stock" in changes and changes["stock"].isdigit():
        changes["stock"] = int(changes["stock"])
    if changes:
        try:
            await web_session(request).call("PATCH", f"/api/products/{product_id}", json=changes)
        except ApiError as error:
            context = _edit_context(product, values)
            context.update(error=error.message, errors=error.field_errors)
            return render(request, "seller_edit.html", context, status=error.status)
    return redirect(f"/seller/products/{product_id}", flash="product-saved", request=request)


@router.post("/products/{product_id}/images")
async def add_photo(request: Request, product_id: str) -> Response:
    refused = _too_large(request)
    form = None if refused else await checked_form(request)
    _, product = await _edit_target(request, product_id)
    if product is None:
        return render(request, "not_found.html", status=404)
    context = _edit_context(product)
    try:
        if refused:
            raise refused
        assert form is not None
        photo = _photo(request, form)
        if photo is None:
            raise UploadRefused(422, "Choose a photo to upload.")
        await web_session(request).call(
            "POST", f"/api/products/{product_id}/images", files=_files(photo)
        )
    except UploadRefused as error:
        return _failure(request, "seller_edit.html", context, status=error.status,
                        message=error.message)  # fmt: skip
    except ApiError as error:
        return _failure(request, "seller_edit.html", context, status=error.status,
                        message=error.message)  # fmt: skip
    finally:
        if form is not None:
            await form.close()
    return _success(request, f"/seller/products/{product_id}", "photo-added")


@router.get("/products/{product_id}/photos")
async def photo_status(request: Request, product_id: str) -> Response:
    """The photo list alone, for the page's poll while a photo is being prepared."""
    _, product = await _edit_target(request, product_id)
    if product is None:
        return render(request, "not_found.html", status=404)
    context = {"product": product, "pictures": pictures(product)}
    return render(request, "_photos.html", context)


@router.get("/products/{product_id}/delete")
async def delete_page(request: Request, product_id: str) -> Response:
    _, product = await _edit_target(request, product_id)
    if product is None:
        return render(request, "not_found.html", status=404)
    return render(request, "seller_delete.html", {"product": product})


@router.post("/products/{product_id}/delete")
async def delete_product(request: Request, product_id: str) -> Response:
    await checked_form(request)
    _seller(request, f"/seller/products/{product_id}")
    try:
        await web_session(request).call("DELETE", f"/api/products/{product_id}")
    except ApiError as error:
        if error.status != 404:
            return render(request, "error.html", {"message": error.message}, status=error.status)
    return redirect("/seller/products", flash="product-deleted", request=request)
