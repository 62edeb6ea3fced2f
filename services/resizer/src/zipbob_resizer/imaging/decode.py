"""Decode only as many pixels as the largest variant needs (JPEG shrink-on-load)."""

from __future__ import annotations

import math

from PIL import Image, ImageFile

from zipbob_resizer.imaging.errors import CorruptImage, TruncatedImage
from zipbob_resizer.imaging.header import ImageHeader

# libjpeg scales by M/8 while decoding; Pillow's draft() offers only 1/2, 1/4, 1/8.
# A 6000 px photo for a 1600 px variant decodes at 1/2 (3000 px) where 3/8 (2250 px)
# would do: 3/8 saves a third of the decoded pixels and of the first resize.
THREE_EIGHTHS_DENOMINATOR = 3


def decode_for_box(image: Image.Image, header: ImageHeader, box: tuple[int, int]) -> Image.Image:
    """Load `image` at the smallest scale that still covers `box` (given in display orientation)."""
    if header.format == "JPEG":
        stored_box = (box[1], box[0]) if header.swaps_axes else box
        _draft_jpeg(image, stored_box)
    try:
        image.load()
    except OSError as exc:
        if "truncated" in str(exc).lower():
            raise TruncatedImage(f"image data ends early: {exc}") from exc
        raise CorruptImage(f"cannot decode image: {exc}") from exc
    except (SyntaxError, ValueError, EOFError) as exc:
        raise CorruptImage(f"cannot decode image: {exc}") from exc
    return image


def _draft_jpeg(image: Image.Image, stored_box: tuple[int, int]) -> None:
    """Must run before anything loads the image, or draft() silently does nothing."""
    full_width, full_height = image.size
    # YCbCr skips libjpeg's colour conversion; the encoder takes YCbCr as it is.
    image.draft("YCbCr" if image.mode == "RGB" else None, stored_box)
    if image.size == (full_width, full_height) and full_width >= 2 * stored_box[0]:
        return  # draft was refused (already loaded, or not a single-tile JPEG)
    _prefer_three_eighths(image, (full_width, full_height), stored_box)
    _use_fast_idct(image)


def _prefer_three_eighths(
    image: Image.Image, full_size: tuple[int, int], stored_box: tuple[int, int]
) -> None:
    if not isinstance(image, ImageFile.ImageFile) or len(image.tile) != 1:
        return
    scale, fast = image.decoderconfig[:2] if len(image.decoderconfig) >= 2 else (1, 0)
    if scale != 2:
        return
    width = math.ceil(full_size[0] * 3 / 8)
    height = math.ceil(full_size[1] * 3 / 8)
    target = _fit(full_size, stored_box)
    if width < target[0] or height < target[1]:
        return
    tile = image.tile[0]
    image.tile = [ImageFile._Tile(tile.codec_name, (0, 0, width, height), tile.offset, tile.args)]
    image._size = (width, height)
    image.decoderconfig = (THREE_EIGHTHS_DENOMINATOR, fast)


def _use_fast_idct(image: Image.Image) -> None:
    # The second decoder argument selects libjpeg's fastest IDCT: its error is far below
    # what the following downscale removes anyway.
    if isinstance(image, ImageFile.ImageFile) and len(image.decoderconfig) >= 2:
        image.decoderconfig = (image.decoderconfig[0], 1, *image.decoderconfig[2:])


def _fit(size: tuple[int, int], box: tuple[int, int]) -> tuple[int, int]:
    scale = min(box[0] / size[0], box[1] / size[1], 1.0)
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))
