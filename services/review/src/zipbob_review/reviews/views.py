"""HTTP routes of the review API; thin: parse, authorise, hand off to the service.

The service's domain errors need no mapping here: the platform answers each as problem+json.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from zipbob_platform.auth import Principal, require_principal

from . import openapi as docs
from .schemas import RatingSummary, ReviewCreate, ReviewPage, ReviewRead, ReviewUpdate, Sort
from .service import (
    ReviewDeps,
    create_review,
    delete_review,
    list_reviews,
    rating_summary,
    read_review,
    update_review,
)

router = APIRouter(tags=["reviews"])
ProductId = Annotated[str, Path(min_length=1, max_length=100)]
ReviewId = Annotated[str, Path(min_length=1, max_length=100)]


def review_deps(request: Request) -> ReviewDeps:
    return request.app.state.container.deps  # type: ignore[no-any-return]


Deps = Annotated[ReviewDeps, Depends(review_deps)]
Caller = Annotated[Principal, Depends(require_principal)]


@router.post(
    "/api/products/{product_id}/reviews",
    status_code=201,
    response_model=ReviewRead,
    **docs.CREATE_REVIEW,
)
async def post_review(
    product_id: ProductId, payload: ReviewCreate, deps: Deps, who: Caller, response: Response
) -> ReviewRead:
    review = await create_review(
        repository=deps.repository,
        cache=deps.cache,
        catalog=deps.catalog,
        product_id=product_id,
        author=who,
        payload=payload,
    )
    response.headers["Location"] = f"/api/reviews/{review.id}"
    return review


@router.get("/api/products/{product_id}/reviews", response_model=ReviewPage, **docs.LIST_REVIEWS)
async def get_reviews(
    product_id: ProductId,
    deps: Deps,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    size: Annotated[int | None, Query(ge=1, le=100)] = None,
    sort: Sort = "newest",
    cursor: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
) -> ReviewPage:
    size = min(size or deps.pagination.default_size, deps.pagination.max_size)
    return await list_reviews(
        repository=deps.repository,
        cache=deps.cache,
        max_offset=deps.pagination.max_offset,
        first_page_items=deps.first_page_items,
        product_id=product_id,
        sort=sort,
        page=page,
        size=size,
        cursor=cursor,
    )


@router.get(
    "/api/products/{product_id}/reviews/summary",
    response_model=RatingSummary,
    **docs.SUMMARY,
)
async def get_summary(product_id: ProductId, deps: Deps) -> RatingSummary:
    return await rating_summary(repository=deps.repository, cache=deps.cache, product_id=product_id)


@router.get("/api/reviews/{review_id}", response_model=ReviewRead, **docs.GET_REVIEW)
async def get_review(review_id: ReviewId, deps: Deps) -> ReviewRead:
    """Not in the SPEC table; it is where a 201's Location points."""
    return await read_review(repository=deps.repository, review_id=review_id)


@router.patch("/api/reviews/{review_id}", response_model=ReviewRead, **docs.UPDATE_REVIEW)
async def patch_review(
    review_id: ReviewId, payload: ReviewUpdate, deps: Deps, who: Caller
) -> ReviewRead:
    return await update_review(
        repository=deps.repository,
        cache=deps.cache,
        review_id=review_id,
        caller=who,
        payload=payload,
    )


@router.delete("/api/reviews/{review_id}", status_code=204, **docs.DELETE_REVIEW)
async def remove_review(review_id: ReviewId, deps: Deps, who: Caller) -> Response:
    await delete_review(
        repository=deps.repository, cache=deps.cache, review_id=review_id, caller=who
    )
    return Response(status_code=204)
