"""Review use cases: plain functions taking what they use (keyword-only), no HTTP types.

Refusals are domain errors (``.errors``, ``CatalogUnavailable``); the platform's one
handler answers them as problem+json, so the views never map errors themselves.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from dataclasses import dataclass
from typing import Any

from zipbob_platform.auth import Principal

from ..catalog.client import CatalogClient
from ..metrics import reviews_written_total
from ..settings import PaginationSettings
from .cache import ReviewCache
from .errors import InvalidListing, NotAllowed, NotAuthor, ProductNotFound, ReviewNotFound
from .models import SORT_FIELDS, ReviewDocument, new_review_id, utc_now
from .repository import ReviewRepository
from .schemas import RatingSummary, ReviewCreate, ReviewPage, ReviewRead, ReviewUpdate

log = logging.getLogger("zipbob.review")


@dataclass
class ReviewDeps:
    """What the service's functions draw on, built once at start-up; views and event
    handlers pass each function only the parts it uses."""

    repository: ReviewRepository
    cache: ReviewCache
    catalog: CatalogClient
    pagination: PaginationSettings
    first_page_items: int


async def _product_must_exist(
    *, repository: ReviewRepository, catalog: CatalogClient, product_id: str
) -> None:
    """Raises ProductNotFound, or CatalogUnavailable when the catalog cannot tell."""
    if await repository.is_deleted(product_id):
        raise ProductNotFound(product_id)
    if not await catalog.product_exists(product_id):
        raise ProductNotFound(product_id)


async def _after_write(
    *, repository: ReviewRepository, cache: ReviewCache, product_id: str, intent: str | None
) -> None:
    # Bump first: from here on every reader uses new keys, whatever Redis does next. The
    # bump also flags the product's summary.changed; the intent taken before the write
    # (repository.begin_write) covers a crash before this point (events/summaries.py).
    version = await repository.bump_version(product_id)
    await repository.end_write(intent)
    await cache.forget(product_id, version - 1)


async def create_review(
    *,
    repository: ReviewRepository,
    cache: ReviewCache,
    catalog: CatalogClient,
    product_id: str,
    author: Principal,
    payload: ReviewCreate,
) -> ReviewRead:
    if not author.has_role("customer"):
        raise NotAllowed("only customers write reviews")
    await _product_must_exist(repository=repository, catalog=catalog, product_id=product_id)
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
    intent = await repository.begin_write(product_id)
    await repository.insert(document)  # DuplicateReview when the author already wrote one
    # product.deleted may have landed between the check and the insert: undo ours.
    if await repository.is_deleted(product_id):
        await repository.delete(document.id)
        raise ProductNotFound(product_id)
    await _after_write(repository=repository, cache=cache, product_id=product_id, intent=intent)
    reviews_written_total.labels("create").inc()
    return ReviewRead.from_document(document.model_dump(by_alias=True))


async def read_review(*, repository: ReviewRepository, review_id: str) -> ReviewRead:
    document = await repository.get(review_id)
    if document is None:
        raise ReviewNotFound(review_id)
    return ReviewRead.from_document(document)


async def update_review(
    *,
    repository: ReviewRepository,
    cache: ReviewCache,
    review_id: str,
    caller: Principal,
    payload: ReviewUpdate,
) -> ReviewRead:
    existing = await repository.get(review_id)
    if existing is None:
        raise ReviewNotFound(review_id)
    if existing["author_id"] != caller.user_id:
        raise NotAuthor("only the author may edit a review")
    intent = await repository.begin_write(existing["product_id"])
    updated = await repository.update(
        review_id=review_id, author_id=caller.user_id, changes=payload.changes(), now=utc_now()
    )
    if updated is None:  # deleted meanwhile
        raise ReviewNotFound(review_id)
    await _after_write(
        repository=repository, cache=cache, product_id=updated["product_id"], intent=intent
    )
    reviews_written_total.labels("update").inc()
    return ReviewRead.from_document(updated)


async def delete_review(
    *, repository: ReviewRepository, cache: ReviewCache, review_id: str, caller: Principal
) -> None:
    existing = await repository.get(review_id)
    if existing is None:
        raise ReviewNotFound(review_id)
    if existing["author_id"] != caller.user_id and not caller.has_role("admin"):
        raise NotAuthor("only the author or an admin may delete a review")
    intent = await repository.begin_write(existing["product_id"])
    deleted = await repository.delete(review_id)
    if deleted is None:
        raise ReviewNotFound(review_id)
    await _after_write(
        repository=repository, cache=cache, product_id=deleted["product_id"], intent=intent
    )
    reviews_written_total.labels("delete").inc()


async def _summary_at(
    *, repository: ReviewRepository, cache: ReviewCache, product_id: str, version: int
) -> RatingSummary:
    async def compute() -> dict[str, Any]:
        counts = await repository.rating_counts(product_id)
        return RatingSummary.from_counts(counts).model_dump()

    value = await cache.get_or_fill(
        key=cache.key(product_id, version, "summary"), cache_name="summary", compute=compute
    )
    return RatingSummary.model_validate(value)


async def rating_summary(
    *, repository: ReviewRepository, cache: ReviewCache, product_id: str
) -> RatingSummary:
    # The version is read before the data, so a value cached under it is never older than it.
    version = await repository.version(product_id)
    return await _summary_at(
        repository=repository, cache=cache, product_id=product_id, version=version
    )


async def list_reviews(
    *,
    repository: ReviewRepository,
    cache: ReviewCache,
    max_offset: int,
    first_page_items: int,
    product_id: str,
    sort: str,
    page: int,
    size: int,
    cursor: str | None,
) -> ReviewPage:
    version = await repository.version(product_id)
    field = SORT_FIELDS[sort][0]
    # Only worth the 100-item fill when the cache can keep it; otherwise read just this page.
    cacheable = cache.usable and size <= first_page_items
    if cursor is None and page == 1 and cacheable:
        first = await _first_page(
            repository=repository,
            cache=cache,
            limit=first_page_items,
            product_id=product_id,
            sort=sort,
            version=version,
        )
        items, keys = first["items"][:size], first["keys"]
        has_more = len(first["items"]) > size or first["more"]
        next_key = keys[size - 1] if has_more else None
        total = first["total"]
    else:
        after = _decode_cursor(sort, cursor) if cursor is not None else None
        skip = 0 if cursor is not None else (page - 1) * size
        if skip > max_offset:
            raise InvalidListing(
                f"page {page} is deeper than this listing serves by number; "
                "follow next_cursor from an earlier page instead"
            )
        documents = await repository.page(
            product_id=product_id, sort=sort, limit=size + 1, skip=skip, after=after
        )
        items = [ReviewRead.from_document(d).model_dump(mode="json") for d in documents[:size]]
        next_key = documents[size - 1][field] if len(documents) > size else None
        summary = await _summary_at(
            repository=repository, cache=cache, product_id=product_id, version=version
        )
        total = summary.count
    return ReviewPage(
        items=[ReviewRead.model_validate(item) for item in items],
        page=page,
        size=size,
        total=total,
        sort=sort,
        next_cursor=_encode_cursor(sort, next_key) if next_key is not None else None,
    )


async def _first_page(
    *,
    repository: ReviewRepository,
    cache: ReviewCache,
    limit: int,
    product_id: str,
    sort: str,
    version: int,
) -> dict[str, Any]:
    field = SORT_FIELDS[sort][0]

    async def compute() -> dict[str, Any]:
        documents = await repository.page(product_id=product_id, sort=sort, limit=limit + 1)
        summary = await _summary_at(
            repository=repository, cache=cache, product_id=product_id, version=version
        )
        return {
            "items": [
                ReviewRead.from_document(d).model_dump(mode="json") for d in documents[:limit]
            ],
            "keys": [d[field] for d in documents[:limit]],
            "more": len(documents) > limit,
            "total": summary.count,
        }

    first: dict[str, Any] = await cache.get_or_fill(
        key=cache.key(product_id, version, f"page:{sort}"),
        cache_name=f"page_{sort}",
        compute=compute,
    )
    return first


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
        raise InvalidListing("cursor is not a next_cursor this listing issued for this sort")
    return value
