"""Every kind of input the resizer meets: modes, sizes, and the ones it must refuse."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageCms
from resizer_factories import encode, jpeg_bytes, photo_like, png_bytes, png_header_only

from zipbob_resizer.imaging.errors import (
    CorruptImage,
    ImageTooLarge,
    TruncatedImage,
    UnsupportedImage,
)
from zipbob_resizer.imaging.header import inspect_image
from zipbob_resizer.imaging.pipeline import render_variants
from zipbob_resizer.imaging.variants import ImageLimits, RenderOptions, fit_within


def decoded(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data)).convert("RGB")


def variant_sizes(data: bytes) -> dict[str, tuple[int, int]]:
    return {v.name: (v.width, v.height) for v in render_variants(data).variants}


def test_bounding_boxes_and_never_upscaling():
    assert fit_within(6000, 4000, (1600, 1600)) == (1600, 1067)
    assert fit_within(300, 200, (800, 800)) == (300, 200)
    assert fit_within(1, 1, (200, 200)) == (1, 1)
    assert variant_sizes(jpeg_bytes(photo_like(300, 200))) == {
        "large": (300, 200),
        "medium": (300, 200),
        "thumbnail": (200, 133),
    }


def test_one_pixel_image():
    data = png_bytes(Image.new("RGB", (1, 1), (200, 10, 10)))
    result = render_variants(data)
    assert [(v.width, v.height) for v in result.variants] == [(1, 1)] * 3
    assert decoded(result.variants[0].data).getpixel((0, 0))[0] > 150


def test_transparent_png_is_flattened_on_white_without_hidden_colour():
    image = Image.new("RGBA", (400, 400), (255, 0, 255, 0))  # magenta, fully transparent
    image.paste((20, 120, 40, 255), (100, 100, 300, 300))
    thumbnail = decoded(render_variants(png_bytes(image)).variants[0].data)
    corner, centre = thumbnail.getpixel((5, 5)), thumbnail.getpixel((100, 100))
    assert min(corner) >= 245, corner
    assert abs(centre[0] - 20) < 12 and abs(centre[1] - 120) < 12, centre


def test_palette_png_with_transparency():
    image = Image.new("P", (300, 300), 0)
    image.putpalette([255, 0, 255] + [0, 0, 200] * 255)
    image.paste(1, (0, 0, 150, 300))
    image.info["transparency"] = 0
    large = decoded(render_variants(encode(image, "PNG", transparency=0)).variants[-1].data)
    assert min(large.getpixel((290, 150))) >= 245
    assert large.getpixel((10, 150))[2] > 150


def test_cmyk_jpeg_comes_out_rgb():
    rgb = Image.new("RGB", (600, 400), (200, 40, 40))
    data = encode(rgb.convert("CMYK"), "JPEG", quality=95)
    large = decoded(render_variants(data).variants[-1].data)
    red, green, blue = large.getpixel((300, 200))
    assert red > 150 and green < 90 and blue < 90


def test_srgb_profile_is_left_alone():
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = jpeg_bytes(Image.new("RGB", (400, 300), (10, 200, 90)), icc_profile=srgb)
    pixel = decoded(render_variants(data).variants[-1].data).getpixel((200, 150))
    assert all(abs(a - b) < 6 for a, b in zip(pixel, (10, 200, 90), strict=True))


def test_sixteen_bit_grey_png_is_not_clipped_to_white():
    grey = Image.new("I;16", (300, 300), 128 * 256)
    pixel = decoded(render_variants(encode(grey, "PNG")).variants[-1].data).getpixel((150, 150))
    assert 110 < pixel[0] < 150


def test_webp_is_accepted():
    data = encode(photo_like(900, 600), "WEBP", quality=80)
    assert variant_sizes(data)["large"] == (900, 600)


def test_not_an_image_is_unsupported():
    with pytest.raises(UnsupportedImage):
        render_variants(b"%PDF-1.7 definitely not a picture")


def test_gif_is_unsupported():
    with pytest.raises(UnsupportedImage):
        render_variants(encode(Image.new("RGB", (10, 10)), "GIF"))


def test_truncated_jpeg():
    data = jpeg_bytes(photo_like(800, 600))
    with pytest.raises(TruncatedImage):
        render_variants(data[: len(data) // 2])


def test_corrupt_jpeg_body():
    data = bytearray(jpeg_bytes(photo_like(800, 600)))
    data[400:] = b"\xff\xd9" * ((len(data) - 400) // 2) + b"\x00" * ((len(data) - 400) % 2)
    with pytest.raises((CorruptImage, TruncatedImage)):
        render_variants(bytes(data))


def test_pixel_bomb_refused_from_the_header_alone():
    bomb = png_header_only(100_000, 100_000)
    with pytest.raises(ImageTooLarge):
        render_variants(bomb)
    with pytest.raises(ImageTooLarge):
        inspect_image(png_header_only(20_000, 20_000), ImageLimits(max_pixels=50_000_000))


def test_108_megapixels_is_within_the_default_limit_by_choice():
    header = inspect_image(png_header_only(12_000, 9_000))
    assert header.pixels == 108_000_000


def test_too_many_bytes():
    options = RenderOptions(limits=ImageLimits(max_bytes=1000))
    with pytest.raises(ImageTooLarge):
        render_variants(jpeg_bytes(photo_like(400, 300)), options)
