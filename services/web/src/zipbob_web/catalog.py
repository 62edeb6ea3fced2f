"""Shaping the API's products, images and review pages for templates (no I/O here)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

VARIANTS = ("thumbnail", "medium", "large")
SORTS = (
    ("", "Best match or newest"),
    ("newest", "Newest"),
    ("price_asc", "Price: low to high"),
    ("price_desc", "Price: high to low"),
    ("rating_desc", "Top rated"),
)
SORT_VALUES = frozenset(value for value, _ in SORTS if value)
REVIEW_SORTS = (("newest", "Newest"), ("rating_desc", "Highest rated"), ("rating_asc", "Lowest"))
# image.failed reasons (the resizer's stable codes) in words; unknown codes show as they are.
FAILURE_REASONS = {
    "invalid_image": "the file is not an image we can read",
    "unsupported_format": "this image format is not supported",
    "corrupt_image": "the image data is damaged",
    "truncated_image": "the file is cut short (incomplete upload or damaged file)",
    "image_too_large": "the image has too many pixels",
    "original_missing": "the uploaded file was lost; upload it again",
}
CURRENCIES = ("EUR", "USD", "GBP", "CHF", "SEK", "DKK", "NOK", "PLN", "CZK", "JPY")


@dataclass(frozen=True)
class Picture:
    """One photo as an <img>: src, srcset over the variants, and its box (no layout shift)."""

    status: str
    src: str = ""
    srcset: str = ""
    thumbnail: str = ""
    width: int = 0
    height: int = 0
    error: str = ""
    id: str = ""


def picture(image: dict[str, Any]) -> Picture:
    status = str(image.get("status", "pending"))
    variants = image.get("variants") or {}
    if status != "ready" or not variants:
        code = str(image.get("error") or "")
        return Picture(status=status, error=FAILURE_REASONS.get(code, code), id=str(image["id"]))
    ordered = [variants[name] for name in VARIANTS if name in variants]
    main = variants.get("medium") or ordered[-1]
    thumb = variants.get("thumbnail") or ordered[0]
    return Picture(
        status=status,
        src=main["url"],
        srcset=", ".join(f"{v['url']} {v['width']}w" for v in ordered),
        thumbnail=thumb["url"],
        width=int(main["width"]),
        height=int(main["height"]),
        id=str(image["id"]),
    )


def pictures(product: dict[str, Any]) -> list[Picture]:
    return [picture(image) for image in product.get("images") or []]


def cover(product: dict[str, Any]) -> Picture | None:
    """The first ready photo, else the first one in any state."""
    shown = pictures(product)
    return next((p for p in shown if p.status == "ready"), shown[0] if shown else None)


def rating_of(product: dict[str, Any]) -> tuple[float | None, int]:
    """The product's rating read model, when the catalog has it (SPEC 3); else nothing."""
    rating = product.get("rating")
    if not isinstance(rating, dict):
        return None, 0
    average = rating.get("average")
    return (float(average) if average is not None else None), int(rating.get("count") or 0)


def stars(rating: float | None) -> str:
    if rating is None:
        return ""
    full = round(rating)
    return "★" * full + "☆" * (5 - full)


@dataclass(frozen=True)
class Pager:
    page: int
    pages: int
    total: int
    exact: bool

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def pager(body: dict[str, Any], *, page: int, size: int) -> Pager:
    total = int(body.get("total") or 0)
    pages = max(1, -(-total // size))
    if body.get("next_cursor") and pages <= page:
        pages = page + 1  # an estimated total may trail the real one: trust the cursor
    return Pager(page=page, pages=pages, total=total, exact=bool(body.get("total_exact", True)))


def histogram_rows(summary: dict[str, Any]) -> list[tuple[int, int]]:
    histogram = summary.get("histogram") or {}
    return [(star, int(histogram.get(str(star), 0))) for star in range(5, 0, -1)]


def page_number(value: str | None) -> int:
    try:
        number = int(value or 1)
    except ValueError:
        return 1
    return min(max(number, 1), 10_000)
