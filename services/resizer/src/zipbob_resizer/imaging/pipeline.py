"""Original bytes in, JPEG variants out. No I/O: callers fetch and store the bytes.

Order of work, cheapest first: refuse from the header; decode at the smallest JPEG scale
that covers the largest variant; resize once to the largest variant in stored orientation;
only then rotate and colour-convert (on 1.7 MP rather than 24); cascade the smaller
variants from the larger ones. Alpha is flattened onto white before resizing: on a constant
background that equals a premultiplied resize, without Pillow's two RGBA<->RGBa passes.
The first resize runs in horizontal strips (flattening each on the way), so peak memory
is the decoded image plus the largest variant, and the decoded image is freed right after.
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager

from PIL import Image

from zipbob_resizer.imaging.colour import opaque_resamplable, to_srgb
from zipbob_resizer.imaging.decode import decode_for_box
from zipbob_resizer.imaging.header import ImageHeader, open_checked
from zipbob_resizer.imaging.variants import (
    RenderedVariant,
    RenderOptions,
    RenderResult,
    fit_within,
    largest_first,
)

# Chosen by measurement (bench/bench_resizer.py; SSIM in tests/unit): after shrink-on-load
# each step shrinks by less than about 4x, where BOX (area averaging) stays above SSIM 0.97
# against a full-resolution LANCZOS reference - about 0.98 on photo-like images - at a
# third of LANCZOS' cost and two thirds of HAMMING's. Stock Pillow's resampler, not the
# decoder, is what separates it from libvips.
RESAMPLING_FILTER = Image.Resampling.BOX

# Output rows per strip of the first resize: big enough that per-strip overhead vanishes,
# small enough that a strip's buffers stay well under a megabyte.
STRIP_ROWS = 64

TRANSPOSE_FOR_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def render_variants(data: bytes, options: RenderOptions | None = None) -> RenderResult:
    """Make every configured variant of `data`; raises ImageRejected for permanent failures."""
    options = options or RenderOptions()
    stages: dict[str, float] = {"decode": 0.0, "resize": 0.0, "encode": 0.0}
    header: ImageHeader | None = None
    rendered: list[RenderedVariant] = []
    for header, name, image in _resized(data, options, stages):  # noqa: B007 (used below)
        with _timed(stages, "encode"):
            rendered.append(_encode(name, image, options.quality))
    assert header is not None  # at least one variant is always configured
    display_w, display_h = header.display_size
    return RenderResult(
        source_format=header.format,
        source_width=display_w,
        source_height=display_h,
        variants=sorted(rendered, key=lambda v: v.width * v.height),
        stage_seconds=stages,
    )


def resized_images(data: bytes, options: RenderOptions | None = None) -> dict[str, Image.Image]:
    """The variants as images before JPEG encoding: what quality checks compare."""
    stages: dict[str, float] = {"decode": 0.0, "resize": 0.0}
    return {name: image for _, name, image in _resized(data, options or RenderOptions(), stages)}


def _resized(
    data: bytes, options: RenderOptions, stages: dict[str, float]
) -> Iterator[tuple[ImageHeader, str, Image.Image]]:
    """Yield the variants largest first, each resized from the one before (the cascade)."""
    specs = largest_first(options.variants)
    with _timed(stages, "decode"):
        image, header = open_checked(data, options.limits)
        display_w, display_h = header.display_size
        sizes = {
            s.name: fit_within(display_w, display_h, (s.max_width, s.max_height)) for s in specs
        }
        icc_profile = image.info.get("icc_profile")
        decode_for_box(image, header, sizes[specs[0].name])
    first = True
    for spec in specs:
        with _timed(stages, "resize"):
            if first:
                current = _first_step(image, _stored(header, sizes[spec.name]))
                del image  # the decoded pixels go as soon as the largest variant exists
                current = _orient_and_colour(current, header, icc_profile)
                first = False
            else:
                current = _resize_step(current, sizes[spec.name])
        yield header, spec.name, current


def _stored(header: ImageHeader, display_size: tuple[int, int]) -> tuple[int, int]:
    """The first step runs before rotation, in stored orientation."""
    return (display_size[1], display_size[0]) if header.swaps_axes else display_size


def _first_step(decoded: Image.Image, target: tuple[int, int]) -> Image.Image:
    """Resize to `target` strip by strip, making each strip opaque on the way.

    Peak memory is the decoded image, the result and one strip. A whole-image resize
    would add its horizontal pass (target width x source height, as big as the result
    or bigger), and flattening alpha a full-size copy of the decoded image. The strips
    give the same pixels: each one is resampled with the box of its rows in the source,
    cropped with a margin, so no kernel is cut short.
    """
    if decoded.size == target:
        return opaque_resamplable(decoded)
    source_width, source_height = decoded.size
    width, height = target
    scale = source_height / height
    result: Image.Image | None = None
    for top in range(0, height, STRIP_ROWS):
        bottom = min(top + STRIP_ROWS, height)
        crop_top = max(0, math.floor(top * scale) - 1)
        crop_bottom = min(source_height, math.ceil(bottom * scale) + 1)
        strip = opaque_resamplable(decoded.crop((0, crop_top, source_width, crop_bottom)))
        box = (0.0, top * scale - crop_top, float(source_width), bottom * scale - crop_top)
        part = strip.resize((width, bottom - top), RESAMPLING_FILTER, box=box)
        if result is None:
            result = Image.new(part.mode, target)
        result.paste(part, (0, top))
    assert result is not None  # height >= 1: at least one strip
    return result


def _resize_step(image: Image.Image, target: tuple[int, int]) -> Image.Image:
    if image.size == target:
        return image
    return image.resize(target, RESAMPLING_FILTER)


def _orient_and_colour(
    image: Image.Image, header: ImageHeader, icc_profile: bytes | None
) -> Image.Image:
    transpose = TRANSPOSE_FOR_ORIENTATION.get(header.orientation)
    if transpose is not None:
        image = image.transpose(transpose)
    return to_srgb(image, icc_profile)


def _encode(name: str, image: Image.Image, quality: int) -> RenderedVariant:
    out = io.BytesIO()
    # No exif/icc passed on: orientation is applied and pixels are sRGB already.
    image.save(out, "JPEG", quality=quality)
    return RenderedVariant(name=name, width=image.width, height=image.height, data=out.getvalue())


@contextmanager
def _timed(stages: dict[str, float], stage: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        stages[stage] += time.perf_counter() - started
