"""MongoDB client, collections, indexes and validators, created at start-up."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from pymongo import ASCENDING, DESCENDING, AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import CollectionInvalid, OperationFailure

from .reviews.models import REVIEW_JSON_SCHEMA
from .settings import MongoSettings

log = logging.getLogger("zipbob.review.storage")
Document = dict[str, Any]


@dataclass(frozen=True)
class ReviewCollections:
    reviews: AsyncCollection[Document]
    # {_id: product_id, version}: bumped after every write to a product's reviews; cache
    # keys carry it, so a cached value written before a change can never be read after it.
    versions: AsyncCollection[Document]
    # {_id: product_id, deleted_at}: products the catalog deleted (product.deleted).
    deleted_products: AsyncCollection[Document]


def connect(settings: MongoSettings) -> AsyncMongoClient[Document]:
    return AsyncMongoClient(
        settings.url.get_secret_value(),
        serverSelectionTimeoutMS=settings.server_selection_timeout_ms,
        connectTimeoutMS=settings.connect_timeout_ms,
        socketTimeoutMS=settings.socket_timeout_ms,
        maxPoolSize=settings.max_pool_size,
        tz_aware=True,
        uuidRepresentation="standard",
        appname="zipbob-review",
    )


def collections(database: AsyncDatabase[Document]) -> ReviewCollections:
    return ReviewCollections(
        reviews=database["reviews"],
        versions=database["review_versions"],
        deleted_products=database["deleted_products"],
    )


async def _apply_validator(database: AsyncDatabase[Document]) -> None:
    validator = {"$jsonSchema": REVIEW_JSON_SCHEMA}
    try:
        await database.create_collection("reviews", validator=validator)
    except CollectionInvalid:
        try:
            await database.command("collMod", "reviews", validator=validator)
        except OperationFailure as exc:
            # Pydantic validation before every write stays the real guard either way.
            log.warning("could not update the reviews validator: %s", exc)
    except OperationFailure as exc:
        log.warning("server refused the reviews $jsonSchema validator: %s", exc)


async def prepare(database: AsyncDatabase[Document]) -> ReviewCollections:
    """Validator and indexes; idempotent, run at every start."""
    await _apply_validator(database)
    found = collections(database)
    await found.reviews.create_index(
        [("product_id", ASCENDING), ("author_id", ASCENDING)],
        unique=True,
        name="one_review_per_author",
    )
    # Lets a real MongoDB answer the summary's $group from the index alone.
    await found.reviews.create_index(
        [("product_id", ASCENDING), ("rating", ASCENDING)], name="by_rating"
    )
    for name, direction in (
        ("k_newest", DESCENDING),
        ("k_rating_desc", DESCENDING),
        ("k_rating_asc", ASCENDING),
    ):
        await found.reviews.create_index(
            [("product_id", ASCENDING), (name, direction)], name=f"by_{name}"
        )
    return found
