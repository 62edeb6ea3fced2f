"""Storefront: browse, search, category and sort; product page with ratings and reviews."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..api import ApiError
from ..catalog import (
    REVIEW_SORTS,
    SORT_VALUES,
    SORTS,
    cover,
    histogram_rows,
    page_number,
    pager,
    pictures,
    rating_of,
    stars,
)
from ..pages import checked_form, current_user, redirect, render, settings_of, text, web_session

router = APIRouter()
OWN_REVIEW_PAGES = 5


async def list_products(request: Request, params: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """A page of products; a sort this catalog does not know yet is dropped with a note."""
    client = request.app.state.gateway
    try:
        return await client.call("GET", "/api/products", params=params), ""
    except ApiError as error:
        if error.status != 422 or not params.get("sort"):
            raise
        fallback = {**params, "sort": None}
        note = "That sort order is not available yet; showing the default order."
        return await client.call("GET", "/api/products", params=fallback), note


@router.get("/favicon.ico", include_in_schema=False)
async def favicon() -> Response:
    return RedirectResponse("/static/favicon.svg", status_code=301)


@router.get("/")
async def home(request: Request) -> Response:
    size = settings_of(request).web.page_size
    query = request.query_params
    sort = query.get("sort", "")
    filters = {
        "q": query.get("q", "").strip()[:200],
        "category": query.get("category", "").strip()[:100],
        "sort": sort if sort in SORT_VALUES else "",
    }
    page = page_number(query.get("page"))
    try:
        body, note = await list_products(request, {**filters, "page": page, "size": size})
    except ApiError as error:
        return render(request, "error.html", {"message": error.message}, status=502)
    items = [
        {**p, "cover": cover(p), "rating": rating_of(p), "stars": stars(rating_of(p)[0])}
        for p in body.get("items", [])
    ]
    context = {
        "items": items,
        "filters": filters,
        "sorts": SORTS,
        "note": note,
        "pager": pager(body, page=page, size=size),
    }
    return render(request, "home.html", context)


async def _own_review(request: Request, product_id: str, author_id: str) -> dict[str, Any] | None:
    client = request.app.state.gateway
    for page in range(1, OWN_REVIEW_PAGES + 1):
        body = await client.call(
            "GET", f"/api/products/{product_id}/reviews", params={"page": page, "size": 100}
        )
        for review in body.get("items", []):
            if review.get("author_id") == author_id:
                return dict(review)
        if len(body.get("items", [])) < 100:
            return None
    return None


async def product_context(request: Request, product_id: str) -> dict[str, Any] | None:
    client = request.app.state.gateway
    try:
        product = await client.call("GET", f"/api/products/{product_id}")
    except ApiError as error:
        if error.status == 404:
            return None
        raise
    query = request.query_params
    sort = query.get("sort", "newest")
    sort = sort if sort in dict(REVIEW_SORTS) else "newest"
    page = page_number(query.get("page"))
    summary = await client.call("GET", f"/api/products/{product_id}/reviews/summary")
    reviews = await client.call(
        "GET",
        f"/api/products/{product_id}/reviews",
        params={"page": page, "size": 10, "sort": sort},
    )
    user = web_session(request).user
    own = None
    if user is not None and user.is_customer:
        own = await _own_review(request, product_id, user.id)
    return {
        "product": product,
        "pictures": [p for p in pictures(product) if p.status == "ready"],
        "summary": summary,
        "summary_stars": stars(summary.get("average")),
        "histogram": histogram_rows(summary),
        "reviews": reviews.get("items", []),
        "review_pager": pager(reviews, page=page, size=10),
        "review_sort": sort,
        "review_sorts": REVIEW_SORTS,
        "own_review": own,
        "stars": stars,
        "values": {},
        "errors": {},
    }


@router.get("/products/{product_id}")
async def product_page(request: Request, product_id: str) -> Response:
    try:
        context = await product_context(request, product_id)
    except ApiError as error:
        return render(request, "error.html", {"message": error.message}, status=502)
    if context is None:
        return render(request, "not_found.html", status=404)
    return render(request, "product.html", context)


def _review_body(form: Any) -> dict[str, Any]:
    rating = text(form, "rating")
    return {
        "rating": int(rating) if rating.isdigit() else 0,
        "title": text(form, "title"),
        "body": text(form, "body"),
    }


async def _review_error(
    request: Request, product_id: str, error: ApiError, values: dict[str, Any]
) -> Response:
    context = await product_context(request, product_id)
    if context is None:
        return render(request, "not_found.html", status=404)
    context.update(values=values, errors=error.field_errors, review_error=error.message)
    return render(request, "product.html", context, status=error.status)


async def _send_review(
    request: Request, product_id: str, method: str, path: str, *, on_conflict: str | None = None
) -> Response:
    """The review form to the API (a new review or a change): back to the product's reviews,
    or the product page again with the API's errors (``on_conflict`` replaces a 409's)."""
    form = await checked_form(request)
    current_user(request, role="customer", next_path=f"/products/{product_id}")
    body = _review_body(form)
    try:
        await web_session(request).call(method, path, json=body)
    except ApiError as error:
        if error.status == 409 and on_conflict is not None:
            error.detail = on_conflict
            error.field_errors = {}
        return await _review_error(request, product_id, error, body)
    return redirect(f"/products/{product_id}#reviews", flash="review-saved", request=request)


@router.post("/products/{product_id}/reviews")
async def write_review(request: Request, product_id: str) -> Response:
    return await _send_review(
        request,
        product_id,
        "POST",
        f"/api/products/{product_id}/reviews",
        on_conflict="You have reviewed this product already; edit your review instead.",
    )


@router.post("/products/{product_id}/reviews/{review_id}")
async def edit_review(request: Request, product_id: str, review_id: str) -> Response:
    return await _send_review(request, product_id, "PATCH", f"/api/reviews/{review_id}")


@router.post("/products/{product_id}/reviews/{review_id}/delete")
async def delete_review(request: Request, product_id: str, review_id: str) -> Response:
    await checked_form(request)
    current_user(request, next_path=f"/products/{product_id}")
    try:
        await web_session(request).call("DELETE", f"/api/reviews/{review_id}")
    except ApiError as error:
        return await _review_error(request, product_id, error, {})
    return redirect(f"/products/{product_id}#reviews", flash="review-deleted", request=request)
