"""Resize quality: every variant against a full-resolution LANCZOS reference (SSIM >= 0.97)."""

from __future__ import annotations

import functools
import io

import pytest
from PIL import Image, ImageOps
from resizer_factories import jpeg_bytes, photo_like, png_bytes
from resizer_ssim import ssim

from zipbob_resizer.imaging.pipeline import render_variants, resized_images

MIN_SSIM = 0.97


@functools.cache
def full_resolution(data: bytes) -> Image.Image:
    full = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    if full.mode == "RGBA":
        white = Image.new("RGB", full.size, "white")
        white.paste(full, (0, 0), full)
        full = white
    return full.convert("RGB")


def reference(data: bytes, size: tuple[int, int]) -> Image.Image:
    return full_resolution(data).resize(size, Image.Resampling.LANCZOS)


@pytest.fixture(scope="module")
def shrink_on_load_jpeg() -> bytes:
    # 4800 px wide: libjpeg decodes at 3/8 (1800 px) for the 1600 px variant.
    return jpeg_bytes(photo_like(4800, 3200, seed=5))


@pytest.fixture(scope="module")
def rotated_jpeg() -> bytes:
    # Stored landscape, displayed portrait: the draft box must be swapped.
    return jpeg_bytes(photo_like(3400, 2400, seed=6), orientation=6)


@pytest.mark.parametrize("source", ["shrink_on_load_jpeg", "rotated_jpeg"])
def test_every_variant_matches_a_lanczos_reference(source: str, request: pytest.FixtureRequest):
    data = request.getfixturevalue(source)
    for name, image in resized_images(data).items():
        score = ssim(image.convert("RGB"), reference(data, image.size))
        assert score >= MIN_SSIM, f"{name}: SSIM {score:.4f}"


def test_png_without_shrink_on_load_matches_reference():
    data = png_bytes(photo_like(1800, 1200, seed=8))
    for name, image in resized_images(data).items():
        score = ssim(image.convert("RGB"), reference(data, image.size))
        assert score >= MIN_SSIM, f"{name}: SSIM {score:.4f}"


def test_rotated_photo_comes_out_upright(rotated_jpeg: bytes):
    sizes = {v.name: (v.width, v.height) for v in render_variants(rotated_jpeg).variants}
    assert sizes == {"large": (1129, 1600), "medium": (565, 800), "thumbnail": (141, 200)}


def test_encoded_variants_are_plain_jpegs(shrink_on_load_jpeg: bytes):
    result = render_variants(shrink_on_load_jpeg)
    assert set(result.stage_seconds) == {"decode", "resize", "encode"}
    for variant in result.variants:
        decoded = Image.open(io.BytesIO(variant.data))
        assert decoded.format == "JPEG"
        assert decoded.mode == "RGB"
        assert decoded.size == (variant.width, variant.height)
        assert "exif" not in decoded.info
