"""The resizer's result events (SPEC 4) as validated models."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from zipbob_platform import events

RESIZED = events.IMAGE_RESIZED
FAILED = events.IMAGE_FAILED
RESULT_TYPES = frozenset({RESIZED, FAILED})


class _Data(BaseModel):
    model_config = ConfigDict(extra="ignore")


class VariantObject(_Data):
    bucket: str = Field(min_length=1, max_length=63)
    key: str = Field(min_length=1, max_length=1024)
    width: int = Field(ge=1)
    height: int = Field(ge=1)
    bytes: int = Field(ge=0)
    content_type: str = Field(min_length=1, max_length=100)


class ImageResized(_Data):
    product_id: str = Field(min_length=1, max_length=36, pattern=r"^[A-Za-z0-9-]+$")
    image_id: str = Field(min_length=1, max_length=36, pattern=r"^[A-Za-z0-9-]+$")
    variants: dict[str, VariantObject] = Field(min_length=1, max_length=16)


class ImageFailed(_Data):
    product_id: str = Field(min_length=1, max_length=36)
    image_id: str = Field(min_length=1, max_length=36)
    reason: str = Field(min_length=1)
