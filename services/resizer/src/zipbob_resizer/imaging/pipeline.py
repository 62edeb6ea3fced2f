"""Original bytes in, JPEG variants out. No I/O: callers fetch and store the bytes.

Order of work, cheapest first: refuse from the header; decode at the smallest JPEG scale
that covers the largest variant; resize once to the largest variant in stored orientation;
only then rotate and colour-convert (on 1.7 MP rather than 24); cascade the smaller
variants from the larger ones. Alpha is flattened onto white before resizing: on a constant
background that equals a premultiplied resize, without Pillow's two RGBA<->RGBa passes.
"""

from __future__ import annotations

import io
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
        current = opaque_resamplable(decode_for_box(image, header, sizes[specs[0].name]))
        del image  # the decoded pixels live on only in `current`, freed after the first step
    first = True
    for spec in specs:
        with _timed(stages, "resize"):
            current = _resize_step(current, header, sizes[spec.name], first=first)
            if first:
                current = _orient_and_colour(current, header, icc_profile)
                first = False
        yield header, spec.name, current


def _resize_step(
    image: Image.Image, header: ImageHeader, display_size: tuple[int, int], *, first: bool
) -> Image.Image:
    # The first step runs before rotation, in stored orientation.
    target = (display_size[1], display_size[0]) if first and header.swaps_axes else display_size
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
