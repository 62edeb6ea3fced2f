"""What to make from an original: variant boxes and the sizes that fit in them."""

from __future__ import annotations

from dataclasses import dataclass, field

CONTENT_TYPE_JPEG = "image/jpeg"


@dataclass(frozen=True)
class VariantSpec:
    """A named bounding box; the variant fits inside it with the original's aspect ratio."""

    name: str
    max_width: int
    max_height: int


DEFAULT_VARIANTS: tuple[VariantSpec, ...] = (
    VariantSpec("thumbnail", 200, 200),
    VariantSpec("medium", 800, 800),
    VariantSpec("large", 1600, 1600),
)


@dataclass(frozen=True)
class ImageLimits:
    """Refuse before decoding: pixel count is read from the header, bytes from the input."""

    max_pixels: int = 120_000_000
    max_bytes: int = 50 * 1024 * 1024


@dataclass(frozen=True)
class RenderOptions:
    variants: tuple[VariantSpec, ...] = DEFAULT_VARIANTS
    quality: int = 85
    limits: ImageLimits = field(default_factory=ImageLimits)


@dataclass(frozen=True)
class RenderedVariant:
    name: str
    width: int
    height: int
    data: bytes
    content_type: str = CONTENT_TYPE_JPEG


@dataclass
class RenderResult:
    source_format: str
    source_width: int
    source_height: int
    variants: list[RenderedVariant]
    # Seconds spent per stage (decode, resize, encode): pure CPU time of this call.
    stage_seconds: dict[str, float] = field(default_factory=dict)


def fit_within(width: int, height: int, box: tuple[int, int]) -> tuple[int, int]:
    """The largest size with the input's aspect ratio that fits the box; never upscaled."""
    scale = min(box[0] / width, box[1] / height, 1.0)
    if scale >= 1.0:
        return width, height
    return max(1, round(width * scale)), max(1, round(height * scale))


def largest_first(variants: tuple[VariantSpec, ...]) -> list[VariantSpec]:
    return sorted(variants, key=lambda v: v.max_width * v.max_height, reverse=True)
