"""The review service layer on in-memory fakes: use cases and their domain errors, no I/O.

These are FAKES, on purpose, and only here: the repository, cache and catalog below are
small in-memory stand-ins with the same methods as the real ones, so each rule of the
service (who may write, 404 versus 503, versions bumped after every write, cursors) is
checked in microseconds without MongoDB, Redis or an HTTP catalog. The real adapters are
covered against real servers in tests/integration (test_review_api, test_review_cache,
test_review_dependencies), which also check how each error looks on the wire.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import pytest

from zipbob_platform.auth import Principal
from zipbob_review.catalog.client import CatalogUnavailable
from zipbob_review.reviews import service
from zipbob_review.reviews.errors import (
    DuplicateReview,
    InvalidListing,
    NotAllowed,
    NotAuthor,
    ProductNotFound,
    ReviewNotFound,
)
from zipbob_review.reviews.models import SORT_FIELDS, ReviewDocument, sort_keys
from zipbob_review.reviews.schemas import ReviewCreate, ReviewUpdate


class FakeReviewRepository:
    """In-memory stand-in for ReviewRepository (MongoDB): same methods, same answers."""

    def __init__(self) -> None:
        self.documents: dict[str, dict[str, Any]] = {}
        self.versions: dict[str, int] = {}
        self.deleted_products: set[str] = set()

    async def insert(self, review: ReviewDocument) -> None:
        for existing in self.documents.values():
            if (existing["product_id"], existing["author_id"]) == (
                review.product_id,
                review.author_id,
            ):
                raise DuplicateReview()  # what the unique index makes the real one raise
        self.documents[review.id] = review.to_mongo()

    async def get(self, review_id: str) -> dict[str, Any] | None:
        document = self.documents.get(review_id)
        return dict(document) if document else None

    async def update(
        self, *, review_id: str, author_id: str, changes: dict[str, Any], now: datetime
    ) -> dict[str, Any] | None:
        document = self.documents.get(review_id)
        if document is None or document["author_id"] != author_id:
            return None
        document.update(changes, updated_at=now)
        if "rating" in changes:
            document.update(sort_keys(review_id, changes["rating"]))
        return dict(document)

    async def delete(self, review_id: str) -> dict[str, Any] | None:
        return self.documents.pop(review_id, None)

    async def rating_counts(self, product_id: str) -> dict[int, int]:
        counts: dict[int, int] = {}
        for document in self.documents.values():
            if document["product_id"] == product_id:
                counts[document["rating"]] = counts.get(document["rating"], 0) + 1
        return counts

    async def page(
        self, *, product_id: str, sort: str, limit: int, skip: int = 0, after: str | None = None
    ) -> list[dict[str, Any]]:
        field, direction = SORT_FIELDS[sort]
        rows = [d for d in self.documents.values() if d["product_id"] == product_id]
        if after is not None:
            rows = [d for d in rows if (d[field] < after if direction < 0 else d[field] > after)]
        rows.sort(key=lambda d: d[field], reverse=direction < 0)
        return [dict(d) for d in rows[skip : skip + limit]]

    async def version(self, product_id: str) -> int:
        return self.versions.get(product_id, 0)

    async def begin_write(self, product_id: str) -> str | None:
        return None  # the summary.changed outbox is not under test here

    async def end_write(self, intent: str | None) -> None:
        pass

    async def bump_version(self, product_id: str) -> int:
        self.versions[product_id] = self.versions.get(product_id, 0) + 1
        return self.versions[product_id]

    async def is_deleted(self, product_id: str) -> bool:
        return product_id in self.deleted_products


class FakeReviewCache:
    """In-memory stand-in for ReviewCache (Redis): keeps values by key, forgets by version."""

    usable = True

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.fills = 0

    def key(self, product_id: str, version: int, kind: str) -> str:
        return f"test:{product_id}:v{version}:{kind}"

    async def get_or_fill(
        self, *, key: str, cache_name: str, compute: Callable[[], Awaitable[Any]]
    ) -> Any:
        if key not in self.values:
            self.fills += 1
            self.values[key] = await compute()
        return self.values[key]

    async def forget(self, product_id: str, *versions: int) -> bool:
        for version in versions:
            prefix = f"test:{product_id}:v{version}:"
            for key in [k for k in self.values if k.startswith(prefix)]:
                del self.values[key]
        return True


class FakeCatalog:
    """In-memory stand-in for CatalogClient (HTTP to the catalog): knows a set of products,
    or, when ``down``, answers the way the real client does when the catalog is unreachable."""

    def __init__(self, *products: str) -> None:
        self.products = set(products)
        self.down = False

    async def product_exists(self, product_id: str) -> bool:
        if self.down:
            raise CatalogUnavailable("fake catalog is down", retry_after=7)
        return product_id in self.products


def person(user_id: str, role: str = "customer") -> Principal:
    return Principal(user_id=user_id, role=role, token_id="t", expires_at=0.0)


@pytest.fixture
def repo() -> FakeReviewRepository:
    return FakeReviewRepository()


@pytest.fixture
def cache() -> FakeReviewCache:
    return FakeReviewCache()


@pytest.fixture
def catalog() -> FakeCatalog:
    return FakeCatalog("p1", "p2")


async def write(repo, cache, catalog, *, product_id="p1", author="ann", rating=4, title="Good"):
    return await service.create_review(
        repository=repo,
        cache=cache,
        catalog=catalog,
        product_id=product_id,
        author=person(author),
        payload=ReviewCreate(rating=rating, title=title),
    )


async def test_create_stores_the_review_and_bumps_the_version(repo, cache, catalog) -> None:
    review = await write(repo, cache, catalog)
    assert review.product_id == "p1" and review.author_id == "ann" and review.rating == 4
    assert (await service.read_review(repository=repo, review_id=review.id)).id == review.id
    assert repo.versions == {"p1": 1}


async def test_who_may_write_and_what_exists(repo, cache, catalog) -> None:
    with pytest.raises(NotAllowed):
        await service.create_review(
            repository=repo,
            cache=cache,
            catalog=catalog,
            product_id="p1",
            author=person("sam", "seller"),
            payload=ReviewCreate(rating=5, title="Mine"),
        )
    with pytest.raises(ProductNotFound):
        await write(repo, cache, catalog, product_id="nope")
    repo.deleted_products.add("p2")  # product.deleted arrived: the tombstone wins
    with pytest.raises(ProductNotFound):
        await write(repo, cache, catalog, product_id="p2")
    await write(repo, cache, catalog)
    with pytest.raises(DuplicateReview) as twice:
        await write(repo, cache, catalog)
    assert twice.value.status == 409
    assert repo.documents and len(repo.documents) == 1


async def test_an_unreachable_catalog_is_a_retryable_error_and_nothing_is_written(
    repo, cache, catalog
) -> None:
    catalog.down = True
    with pytest.raises(CatalogUnavailable) as unavailable:
        await write(repo, cache, catalog)
    assert unavailable.value.status == 503
    assert unavailable.value.headers == {"Retry-After": "7"}
    assert repo.documents == {} and repo.versions == {}


async def test_only_the_author_edits_and_the_author_or_an_admin_deletes(
    repo, cache, catalog
) -> None:
    review = await write(repo, cache, catalog)
    with pytest.raises(NotAuthor):
        await service.update_review(
            repository=repo,
            cache=cache,
            review_id=review.id,
            caller=person("bob"),
            payload=ReviewUpdate(rating=1),
        )
    edited = await service.update_review(
        repository=repo,
        cache=cache,
        review_id=review.id,
        caller=person("ann"),
        payload=ReviewUpdate(rating=2),
    )
    assert edited.rating == 2 and repo.versions["p1"] == 2
    with pytest.raises(NotAuthor):
        await service.delete_review(
            repository=repo, cache=cache, review_id=review.id, caller=person("bob")
        )
    await service.delete_review(
        repository=repo, cache=cache, review_id=review.id, caller=person("root", "admin")
    )
    for attempt in (
        service.read_review(repository=repo, review_id=review.id),
        service.delete_review(
            repository=repo, cache=cache, review_id=review.id, caller=person("ann")
        ),
        service.update_review(
            repository=repo,
            cache=cache,
            review_id=review.id,
            caller=person("ann"),
            payload=ReviewUpdate(rating=3),
        ),
    ):
        with pytest.raises(ReviewNotFound):
            await attempt


async def test_a_write_makes_the_cached_summary_unreachable(repo, cache, catalog) -> None:
    await write(repo, cache, catalog, rating=5)
    first = await service.rating_summary(repository=repo, cache=cache, product_id="p1")
    again = await service.rating_summary(repository=repo, cache=cache, product_id="p1")
    assert first.count == again.count == 1 and cache.fills == 1  # the second was a hit
    await write(repo, cache, catalog, author="bob", rating=1)
    after = await service.rating_summary(repository=repo, cache=cache, product_id="p1")
    assert after.count == 2 and after.average == 3.0
    assert not any(":v1:" in key for key in cache.values)  # the old version's keys went


async def listing(repo, cache, **kwargs: Any):
    arguments: dict[str, Any] = {
        "product_id": "p1",
        "sort": "newest",
        "page": 1,
        "size": 2,
        "cursor": None,
        "max_offset": 4,
        "first_page_items": 3,
        **kwargs,
    }
    return await service.list_reviews(repository=repo, cache=cache, **arguments)


async def test_listing_pages_by_cursor_and_refuses_foreign_cursors(repo, cache, catalog) -> None:
    written = [await write(repo, cache, catalog, author=f"u{i}", rating=i) for i in range(1, 6)]
    newest_first = [r.id for r in reversed(written)]
    first = await listing(repo, cache)  # page 1 comes from the cached first page
    assert [r.id for r in first.items] == newest_first[:2] and first.total == 5
    second = await listing(repo, cache, cursor=first.next_cursor)
    third = await listing(repo, cache, cursor=second.next_cursor)
    assert [r.id for r in second.items + third.items] == newest_first[2:]
    assert third.next_cursor is None
    by_rating = await listing(repo, cache, sort="rating_desc", size=5, first_page_items=1)
    assert [r.rating for r in by_rating.items] == [5, 4, 3, 2, 1]
    with pytest.raises(InvalidListing):  # a newest cursor on the rating listing
        await listing(repo, cache, sort="rating_desc", cursor=first.next_cursor)
    with pytest.raises(InvalidListing):
        await listing(repo, cache, cursor="not-a-cursor")
    with pytest.raises(InvalidListing) as deep:  # skip 6 > max_offset 4
        await listing(repo, cache, page=4)
    assert deep.value.status == 422
