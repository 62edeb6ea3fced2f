"""Read an image's header without decoding its pixels, and refuse what must not be decoded."""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from zipbob_resizer.imaging.errors import CorruptImage, ImageTooLarge, UnsupportedImage
from zipbob_resizer.imaging.variants import ImageLimits

SUPPORTED_FORMATS = frozenset({"JPEG", "PNG", "WEBP"})
EXIF_ORIENTATION = 0x0112

# Pillow's own bomb guard (warn above 89 MP, refuse above twice that) would judge the full
# size even when shrink-on-load decodes a quarter of it. The limit is ours, checked below
# from the header; Pillow's is switched off on purpose.
Image.MAX_IMAGE_PIXELS = None


@dataclass(frozen=True)
class ImageHeader:
    format: str
    width: int
    height: int
    mode: str
    orientation: int

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def swaps_axes(self) -> bool:
        """EXIF orientations 5-8 store the picture rotated by 90 degrees."""
        return self.orientation in (5, 6, 7, 8)

    @property
    def display_size(self) -> tuple[int, int]:
        return (self.height, self.width) if self.swaps_axes else (self.width, self.height)


def open_checked(data: bytes, limits: ImageLimits) -> tuple[Image.Image, ImageHeader]:
    """Open lazily (header only) and refuse unsupported, oversized or bomb images."""
    if len(data) > limits.max_bytes:
        raise ImageTooLarge(f"{len(data)} bytes is over the limit of {limits.max_bytes}")
    try:
        image = Image.open(io.BytesIO(data), formats=sorted(SUPPORTED_FORMATS))
    except UnidentifiedImageError as exc:
        raise UnsupportedImage("not a JPEG, PNG or WebP image") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise CorruptImage(f"unreadable image header: {exc}") from exc
    width, height = image.size
    if width < 1 or height < 1:
        raise CorruptImage(f"image header says {width}x{height}")
    if width * height > limits.max_pixels:
        raise ImageTooLarge(
            f"{width}x{height} is {width * height} pixels, over the limit of {limits.max_pixels}"
        )
    header = ImageHeader(
        format=image.format or "",
        width=width,
        height=height,
        mode=image.mode,
        orientation=_orientation(image),
    )
    return image, header


def inspect_image(data: bytes, limits: ImageLimits | None = None) -> ImageHeader:
    return open_checked(data, limits or ImageLimits())[1]


def _orientation(image: Image.Image) -> int:
    # PNG's getexif() decodes the whole image to look for a trailing eXIf chunk: read
    # only what the header already holds.
    if image.format == "PNG" and "exif" not in image.info:
        return 1
    try:
        value = image.getexif().get(EXIF_ORIENTATION, 1)
    except Exception:  # a broken EXIF block should not cost the whole image
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1
