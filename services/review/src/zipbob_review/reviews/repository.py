"""MongoDB reads and writes of reviews; no HTTP, no cache."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from zipbob_platform.tracing import current_traceparent

from ..storage import ReviewCollections

if TYPE_CHECKING:
    from ..events.summaries import WriteIntents
from .errors import DuplicateReview
from .models import SORT_FIELDS, ReviewDocument, sort_keys


class StorageNotReady(Exception):
    """Indexes are not in place yet (MongoDB was unreachable at start-up)."""


class ReviewRepository:
    def __init__(self, collections: ReviewCollections) -> None:
        self.reviews = collections.reviews
        self.versions = collections.versions
        self.deleted_products = collections.deleted_products
        # False until start-up has created the indexes (the unique one guards against
        # duplicate reviews), so no write lands before it.
        self.schema_ready = False
        # The summary.changed outbox's write intents (events/summaries.py), set when its
        # relay starts; None: no events, and writes skip the intents.
        self.intents: WriteIntents | None = None

    async def begin_write(self, product_id: str) -> str | None:
        """Before a write to ``product_id``'s reviews: an intent the relay finishes should
        this process die before bump_version."""
        return await self.intents.begin(product_id) if self.intents is not None else None

    async def end_write(self, intent: str | None) -> None:
        if intent is not None and self.intents is not None:
            await self.intents.end(intent)

    async def insert(self, review: ReviewDocument) -> None:
        if not self.schema_ready:
            raise StorageNotReady
        try:
            await self.reviews.insert_one(review.to_mongo())
        except DuplicateKeyError:
            raise DuplicateReview() from None

    async def get(self, review_id: str) -> dict[str, Any] | None:
        return await self.reviews.find_one({"_id": review_id})

    async def update(
        self, *, review_id: str, author_id: str, changes: dict[str, Any], now: datetime
    ) -> dict[str, Any] | None:
        """Apply ``changes`` if the review still belongs to ``author_id``; the new document."""
        update: dict[str, Any] = {**changes, "updated_at": now}
        if "rating" in changes:
            update.update(sort_keys(review_id, changes["rating"]))
        return await self.reviews.find_one_and_update(
            {"_id": review_id, "author_id": author_id},
            {"$set": update},
            return_document=ReturnDocument.AFTER,
        )

    async def delete(self, review_id: str) -> dict[str, Any] | None:
        return await self.reviews.find_one_and_delete({"_id": review_id})

    async def delete_for_product(self, product_id: str) -> int:
        result = await self.reviews.delete_many({"product_id": product_id})
        return result.deleted_count

    async def rating_counts(self, product_id: str) -> dict[int, int]:
        cursor = await self.reviews.aggregate(
            [
                {"$match": {"product_id": product_id}},
                {"$group": {"_id": "$rating", "n": {"$sum": 1}}},
            ]
        )
        return {int(row["_id"]): int(row["n"]) for row in await cursor.to_list()}

    async def page(
        self,
        *,
        product_id: str,
        sort: str,
        limit: int,
        skip: int = 0,
        after: str | None = None,
    ) -> list[dict[str, Any]]:
        field, direction = SORT_FIELDS[sort]
        query: dict[str, Any] = {"product_id": product_id}
        if after is not None:
            query[field] = {"$lt" if direction < 0 else "$gt": after}
        cursor = self.reviews.find(query).sort(field, direction).skip(skip).limit(limit)
        return await cursor.to_list()

    async def version(self, product_id: str) -> int:
        document = await self.versions.find_one({"_id": product_id})
        return int(document["version"]) if document else 0

    async def bump_version(self, product_id: str) -> int:
        """After every write: new cache keys, and a summary.changed to publish
        (events/summaries.py relays documents flagged ``unpublished``)."""
        try:
            document = await self.versions.find_one_and_update(
                {"_id": product_id},
                {
                    "$inc": {"version": 1},
                    "$set": {"unpublished": True, "traceparent": current_traceparent()},
                },
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:
            # Two first writes raced on the upsert; the document exists now.
            document = await self.versions.find_one_and_update(
                {"_id": product_id},
                {
                    "$inc": {"version": 1},
                    "$set": {"unpublished": True, "traceparent": current_traceparent()},
                },
                return_document=ReturnDocument.AFTER,
            )
        if document is None:  # the upsert above created it; only a concurrent delete removes it
            raise RuntimeError(f"the version document of {product_id} vanished")
        return int(document["version"])

    async def mark_deleted(self, product_id: str, *, now: datetime) -> bool:
        """Record the product's deletion; False when it was already recorded."""
        try:
            result = await self.deleted_products.update_one(
                {"_id": product_id}, {"$setOnInsert": {"deleted_at": now}}, upsert=True
            )
        except DuplicateKeyError:  # a concurrent delivery of the same event won the upsert
            return False
        return result.upserted_id is not None

    async def is_deleted(self, product_id: str) -> bool:
        return await self.deleted_products.find_one({"_id": product_id}) is not None
