"""Review use cases: plain functions with keyword-only arguments, no HTTP types."""

from __future__ import annotations

import base64
import binascii
import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from zipbob_platform.auth import Principal, forbidden
from zipbob_platform.problems import PROBLEM_BASE, Problem

from ..catalog.client import CatalogClient, CatalogUnavailable
from ..metrics import reviews_written_total
from ..settings import PaginationSettings
from .cache import ReviewCache
from .models import SORT_FIELDS, ReviewDocument, new_review_id, utc_now
from .repository import DuplicateReview, ReviewRepository
from .schemas import RatingSummary, ReviewCreate, ReviewPage, ReviewRead, ReviewUpdate

if TYPE_CHECKING:
    from ..events.summaries import WriteIntents

log = logging.getLogger("zipbob.review")


@dataclass
class ReviewDeps:
    repository: ReviewRepository
    cache: ReviewCache
    catalog: CatalogClient
    pagination: PaginationSettings
    first_page_items: int
    # Write intents of the summary.changed outbox (events/summaries.py); None: no events.
    intents: WriteIntents | None = None


def _not_found(what: str) -> Problem:
    return Problem(404, f"{what} not found", type_=PROBLEM_BASE + "not-found")


async def _product_must_exist(deps: ReviewDeps, product_id: str) -> None:
    if await deps.repository.is_deleted(product_id):
        raise _not_found(f"product {product_id}")
    try:
        exists = await deps.catalog.product_exists(product_id)
    except CatalogUnavailable as exc:
        raise Problem(
            503,
            "the catalog cannot confirm that the product exists right now; try again",
            title="Catalog unavailable",
            type_=PROBLEM_BASE + "dependency-unavailable",
            headers={"Retry-After": str(exc.retry_after)},
        ) from None
    if not exists:
        raise _not_found(f"product {product_id}")


async def _begin_write(deps: ReviewDeps, product_id: str) -> str | None:
    """Record the write about to happen, so a crash before _after_write still leads
    to a summary.changed (events/summaries.py)."""
    return await deps.intents.begin(product_id) if deps.intents is not None else None


async def _after_write(deps: ReviewDeps, product_id: str, intent: str | None = None) -> None:
    # Bump first: from here on every reader uses new keys, whatever Redis does next.
    version = await deps.repository.bump_version(product_id)
    if intent is not None and deps.intents is not None:
        await deps.intents.end(intent)
    await deps.cache.forget(product_id, version - 1)


async def create_review(
    *, deps: ReviewDeps, product_id: str, author: Principal, payload: ReviewCreate
) -> ReviewRead:
    if not author.has_role("customer"):
        raise forbidden("only customers write reviews")
    await _product_must_exist(deps, product_id)
    now = utc_now()
    document = ReviewDocument(
        _id=new_review_id(),
        product_id=product_id,
        author_id=author.user_id,
        rating=payload.rating,
        title=payload.title,
        body=payload.body,
        created_at=now,
        updated_at=now,
    )
    intent = await _begin_write(deps, product_id)
    try:
        await deps.repository.insert(document)
    except DuplicateReview:
        raise Problem(
            409,
            "you have already reviewed this product; edit that review instead",
            type_=PROBLEM_BASE + "conflict",
        ) from None
    # product.deleted may have landed between the check and the insert: undo ours.
    if await deps.repository.is_deleted(product_id):
        await deps.repository.delete(document.id)
        raise _not_found(f"product {product_id}")
    await _after_write(deps, product_id, intent)
    reviews_written_total.labels("create").inc()
    return ReviewRead.from_document(document.model_dump(by_alias=True))


async def read_review(*, deps: ReviewDeps, review_id: str) -> ReviewRead:
    document = await deps.repository.get(review_id)
    if document is None:
        raise _not_found(f"review {review_id}")
    return ReviewRead.from_document(document)


async def update_review(
    *, deps: ReviewDeps, review_id: str, caller: Principal, payload: ReviewUpdate
) -> ReviewRead:
    existing = await deps.repository.get(review_id)
    if existing is None:
        raise _not_found(f"review {review_id}")
    if existing["author_id"] != caller.user_id:
        raise forbidden("only the author may edit a review")
    intent = await _begin_write(deps, existing["product_id"])
    updated = await deps.repository.update(
        review_id=review_id, author_id=caller.user_id, changes=payload.changes(), now=utc_now()
    )
    if updated is None:  # deleted meanwhile
        raise _not_found(f"review {review_id}")
    await _after_write(deps, updated["product_id"], intent)
    reviews_written_total.labels("update").inc()
    return ReviewRead.from_document(updated)


async def delete_review(*, deps: ReviewDeps, review_id: str, caller: Principal) -> None:
    existing = await deps.repository.get(review_id)
    if existing is None:
        raise _not_found(f"review {review_id}")
    if existing["author_id"] != caller.user_id and not caller.has_role("admin"):
        raise forbidden("only the author or an admin may delete a review")
    intent = await _begin_write(deps, existing["product_id"])
    deleted = await deps.repository.delete(review_id)
    if deleted is None:
        raise _not_found(f"review {review_id}")
    await _after_write(deps, deleted["product_id"], intent)
    reviews_written_total.labels("delete").inc()


async def _summary_at(deps: ReviewDeps, product_id: str, version: int) -> RatingSummary:
    async def compute() -> dict[str, Any]:
        counts = await deps.repository.rating_counts(product_id)
        return RatingSummary.from_counts(counts).model_dump()

    value = await deps.cache.get_or_fill(
        key=deps.cache.key(product_id, version, "summary"), cache_name="summary", compute=compute
    )
    return RatingSummary.model_validate(value)


async def rating_summary(*, deps: ReviewDeps, product_id: str) -> RatingSummary:
    # The version is read before the data, so a value cached under it is never older than it.
    version = await deps.repository.version(product_id)
    return await _summary_at(deps, product_id, version)


async def list_reviews(
    *, deps: ReviewDeps, product_id: str, sort: str, page: int, size: int, cursor: str | None
) -> ReviewPage:
    version = await deps.repository.version(product_id)
    field = SORT_FIELDS[sort][0]
    # Only worth the 100-item fill when the cache can keep it; otherwise read just this page.
    cacheable = deps.cache.usable and size <= deps.first_page_items
    if cursor is None and page == 1 and cacheable:
        first = await _first_page(deps, product_id=product_id, sort=sort, version=version)
        items, keys = first["items"][:size], first["keys"]
        has_more = len(first["items"]) > size or first["more"]
        next_key = keys[size - 1] if has_more else None
        total = first["total"]
    else:
        after = _decode_cursor(sort, cursor) if cursor is not None else None
        skip = 0 if cursor is not None else (page - 1) * size
        if skip > deps.pagination.max_offset:
            raise Problem(
                422,
                f"page {page} is deeper than this listing serves by number; "
                "follow next_cursor from an earlier page instead",
                type_=PROBLEM_BASE + "validation",
            )
        documents = await deps.repository.page(
            product_id=product_id, sort=sort, limit=size + 1, skip=skip, after=after
        )
        items = [ReviewRead.from_document(d).model_dump(mode="json") for d in documents[:size]]
        next_key = documents[size - 1][field] if len(documents) > size else None
        total = (await _summary_at(deps, product_id, version)).count
    return ReviewPage(
        items=[ReviewRead.model_validate(item) for item in items],
        page=page,
        size=size,
        total=total,
        sort=sort,
        next_cursor=_encode_cursor(sort, next_key) if next_key is not None else None,
    )


async def _first_page(
    deps: ReviewDeps, *, product_id: str, sort: str, version: int
) -> dict[str, Any]:
    field, limit = SORT_FIELDS[sort][0], deps.first_page_items

    async def compute() -> dict[str, Any]:
        documents = await deps.repository.page(product_id=product_id, sort=sort, limit=limit + 1)
        summary = await _summary_at(deps, product_id, version)
        return {
            "items": [
                ReviewRead.from_document(d).model_dump(mode="json") for d in documents[:limit]
            ],
            "keys": [d[field] for d in documents[:limit]],
            "more": len(documents) > limit,
            "total": summary.count,
        }

    return await deps.cache.get_or_fill(
        key=deps.cache.key(product_id, version, f"page:{sort}"),
        cache_name=f"page_{sort}",
        compute=compute,
    )


_CURSOR_VALUE = re.compile(r"^[1-5]?[0-9a-f]{24}$")


def _encode_cursor(sort: str, value: str) -> str:
    return base64.urlsafe_b64encode(f"{sort}|{value}".encode()).decode().rstrip("=")


def _decode_cursor(sort: str, cursor: str) -> str:
    """The sort key a cursor resumes after; it must come from a listing of the same sort."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    cursor_sort, _, value = text.partition("|")
    if cursor_sort != sort or not _CURSOR_VALUE.match(value):
        raise Problem(
            422,
            "cursor is not a next_cursor this listing issued for this sort",
            type_=PROBLEM_BASE + "validation",
        )
    return value
