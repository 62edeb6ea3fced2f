"""How a review is stored in MongoDB, and the keys its listings sort on.

Each listing sorts on one string field whose order is the listing's order, so a page is a
single-field range scan on ``(product_id, <field>)`` and a keyset cursor is just the last
value seen. (nx-27017 cannot index ``_id`` inside a compound key, and its ``$or`` is not
pushed down, so a compound ``(rating, _id)`` cursor would be slow or impossible there.)
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from pydantic import BaseModel, ConfigDict, Field

SORTS = ("newest", "rating_desc", "rating_asc")
# Field and direction (-1 = descending) each sort reads.
SORT_FIELDS: dict[str, tuple[str, int]] = {
    "newest": ("k_newest", -1),
    "rating_desc": ("k_rating_desc", -1),
    "rating_asc": ("k_rating_asc", 1),
}
_INVERT = str.maketrans("0123456789abcdef", "fedcba9876543210")


def new_review_id() -> str:
    """ObjectId hex: unique and ordered by creation time, so it doubles as the newest key."""
    return str(ObjectId())


def sort_keys(review_id: str, rating: int) -> dict[str, str]:
    # Within one rating both rating sorts show the newest first: the ascending key
    # carries the id with its hex digits inverted.
    return {
        "k_newest": review_id,
        "k_rating_desc": f"{rating}{review_id}",
        "k_rating_asc": f"{rating}{review_id.translate(_INVERT)}",
    }


class ReviewDocument(BaseModel):
    """The stored shape; validated before every insert (nx-27017 ignores $jsonSchema)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(alias="_id")
    product_id: str = Field(min_length=1, max_length=100)
    author_id: str = Field(min_length=1, max_length=100)
    rating: int = Field(ge=1, le=5)
    title: str = Field(min_length=1, max_length=200)
    body: str = Field(max_length=10_000)
    created_at: datetime
    updated_at: datetime

    def to_mongo(self) -> dict[str, Any]:
        document = self.model_dump(by_alias=True)
        document.update(sort_keys(self.id, self.rating))
        return document


def utc_now() -> datetime:
    # MongoDB keeps milliseconds; truncating here makes what we answer equal what we store.
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


REVIEW_JSON_SCHEMA: dict[str, Any] = {
    "bsonType": "object",
    "required": ["_id", "product_id", "author_id", "rating", "title", "body", "created_at"],
    "properties": {
        "_id": {"bsonType": "string"},
        "product_id": {"bsonType": "string", "minLength": 1, "maxLength": 100},
        "author_id": {"bsonType": "string", "minLength": 1, "maxLength": 100},
        "rating": {"bsonType": ["int", "long"], "minimum": 1, "maximum": 5},
        "title": {"bsonType": "string", "minLength": 1, "maxLength": 200},
        "body": {"bsonType": "string", "maxLength": 10_000},
        "created_at": {"bsonType": "date"},
        "updated_at": {"bsonType": "date"},
        "k_newest": {"bsonType": "string"},
        "k_rating_desc": {"bsonType": "string"},
        "k_rating_asc": {"bsonType": "string"},
    },
}
