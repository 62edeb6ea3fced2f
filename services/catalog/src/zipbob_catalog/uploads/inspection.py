"""What an uploaded file really is: type from its magic bytes, size from its header only."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from zipbob_platform.problems import PROBLEM_BASE, Problem

_PILLOW_FORMAT = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}


@dataclass(frozen=True, slots=True)
class ImageHeader:
    content_type: str
    width: int
    height: int
    bytes: int


def sniff_content_type(head: bytes) -> str | None:
    """The image type the leading bytes prove, or None: headers and file names are ignored."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def unsupported_type(detail: str) -> Problem:
    return Problem(415, detail, type_=PROBLEM_BASE + "unsupported-image-type")


def too_large(limit_bytes: int) -> Problem:
    return Problem(
        413,
        f"the image exceeds the upload limit of {limit_bytes} bytes",
        type_=PROBLEM_BASE + "image-too-large",
        limit_bytes=limit_bytes,
    )


def invalid_image(detail: str) -> Problem:
    return Problem(422, detail, type_=PROBLEM_BASE + "invalid-image")


def inspect_image(path: Path, *, size: int, max_pixels: int) -> ImageHeader:
    """Read type and dimensions without decoding pixel data; raise a 415/422 Problem."""
    if size == 0:
        raise invalid_image("the image file is empty")
    with path.open("rb") as handle:
        head = handle.read(16)
    content_type = sniff_content_type(head)
    if content_type is None:
        raise unsupported_type("only JPEG, PNG and WebP images are accepted")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            # Image.open parses the header only; pixel data is never decoded here.
            with Image.open(path, formats=[_PILLOW_FORMAT[content_type]]) as image:
                width, height = image.size
    except Image.DecompressionBombError:
        raise too_many_pixels(max_pixels) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise invalid_image(f"the {content_type} header cannot be read: {exc}") from None
    if width <= 0 or height <= 0:
        raise invalid_image("the image has no pixels")
    if width * height > max_pixels:
        raise too_many_pixels(max_pixels, width=width, height=height)
    return ImageHeader(content_type=content_type, width=width, height=height, bytes=size)


def too_many_pixels(max_pixels: int, *, width: int | None = None, height: int | None = None):  # type: ignore[no-untyped-def]
    size = f" ({width}x{height})" if width and height else ""
    return Problem(
        422,
        f"the image{size} has more than the {max_pixels} pixels allowed",
        type_=PROBLEM_BASE + "image-too-many-pixels",
        max_pixels=max_pixels,
    )
