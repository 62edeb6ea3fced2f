"""``com.zipbob.review.summary.changed`` (SPEC 4) as a validated model."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

SUMMARY_CHANGED = "com.zipbob.review.summary.changed"


class RatingSummary(BaseModel):
    """A product's review summary; ``version`` grows with every change of its reviews."""

    model_config = ConfigDict(extra="ignore")

    product_id: str = Field(min_length=1, max_length=36)
    count: int = Field(ge=0)
    average: float | None = Field(None, ge=1, le=5)
    histogram: dict[str, int] = {}
    version: int = Field(ge=0)

    @model_validator(mode="after")
    def _average_when_rated(self) -> RatingSummary:
        if self.count and self.average is None:
            raise ValueError("a rated product needs an average")
        return self

    @property
    def hundredths(self) -> int:
        return round(self.average * 100) if self.count and self.average is not None else 0
