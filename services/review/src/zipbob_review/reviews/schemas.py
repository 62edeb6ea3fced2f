"""Request and response bodies of the review API (SPEC 3)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Rating = Field(ge=1, le=5, strict=True)
Sort = Literal["newest", "rating_desc", "rating_asc"]


def _strip(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


class ReviewBase(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReviewCreate(ReviewBase):
    rating: int = Rating
    title: str = Field(min_length=1, max_length=200)
    body: str = Field("", max_length=10_000)

    _strip_text = field_validator("title", "body", mode="after")(_strip)

    @field_validator("title", mode="after")
    @classmethod
    def _title_not_blank(cls, value: str) -> str:
        if not value:
            raise ValueError("title must not be blank")
        return value


class ReviewUpdate(ReviewBase):
    rating: int | None = Field(None, ge=1, le=5, strict=True)
    title: str | None = Field(None, min_length=1, max_length=200)
    body: str | None = Field(None, max_length=10_000)

    _strip_text = field_validator("title", "body", mode="after")(_strip)

    @model_validator(mode="after")
    def _something_to_change(self) -> ReviewUpdate:
        if self.title == "":
            raise ValueError("title must not be blank")
        if not self.changes():
            raise ValueError("give at least one of rating, title, body")
        return self

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True, exclude_none=True)


class ReviewRead(ReviewBase):
    id: str
    product_id: str
    author_id: str
    rating: int
    title: str
    body: str
    created_at: datetime
    updated_at: datetime

    @field_validator("created_at", "updated_at", mode="after")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        # MongoDB hands datetimes back naive (they are stored in UTC): without the zone they
        # are not RFC 3339 date-times, which the API document promises.
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> ReviewRead:
        return cls(
            id=document["_id"],
            product_id=document["product_id"],
            author_id=document["author_id"],
            rating=document["rating"],
            title=document["title"],
            body=document["body"],
            created_at=document["created_at"],
            updated_at=document.get("updated_at") or document["created_at"],
        )


class ReviewPage(ReviewBase):
    items: list[ReviewRead]
    page: int
    size: int
    total: int
    # Reviews are counted exactly (one product's reviews are few next to the catalog).
    total_exact: bool = True
    sort: Sort = "newest"
    # Opaque keyset cursor for the page after this one; deep pages should follow it.
    next_cursor: str | None = None


class RatingSummary(ReviewBase):
    count: int
    average: float | None
    histogram: dict[str, int]

    @classmethod
    def from_counts(cls, counts: dict[int, int]) -> RatingSummary:
        histogram = {str(star): int(counts.get(star, 0)) for star in range(1, 6)}
        count = sum(histogram.values())
        total = sum(star * n for star, n in counts.items())
        average = round(total / count, 2) if count else None
        return cls(count=count, average=average, histogram=histogram)
